"""Both rate limiters: in-process (default) and Redis (REDIS_URL, shared by replicas)."""

from __future__ import annotations

import os
import uuid

import pytest

from adapters.ratelimit.memory import InMemoryRateLimiter
from adapters.ratelimit.redis_limiter import RedisRateLimiter

REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS") or os.environ.get("REDIS_URL")


class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_in_memory_window_slides() -> None:
    ticks = Ticks()
    limiter = InMemoryRateLimiter(monotonic=ticks)
    assert [await limiter.hit("k", limit=3, window_seconds=60) for _ in range(3)] == [None] * 3
    retry = await limiter.hit("k", limit=3, window_seconds=60)
    assert retry == 60
    ticks.t += 30
    assert await limiter.hit("k", limit=3, window_seconds=60) == 30
    assert await limiter.hit("other", limit=3, window_seconds=60) is None
    ticks.t += 31
    assert await limiter.hit("k", limit=3, window_seconds=60) is None


async def test_in_memory_limiter_memory_is_bounded() -> None:
    limiter = InMemoryRateLimiter(max_keys=100)
    for i in range(1000):
        await limiter.hit(f"k{i}", limit=1, window_seconds=60)
    assert len(limiter._hits) <= 101


@pytest.mark.skipif(not REDIS_URL, reason="no Redis configured (REDIS_URL_FOR_TESTS)")
async def test_redis_limiter_is_shared_between_instances() -> None:
    assert REDIS_URL
    a, b = RedisRateLimiter(REDIS_URL), RedisRateLimiter(REDIS_URL)
    key = f"test:{uuid.uuid4()}"
    try:
        assert await a.hit(key, limit=2, window_seconds=60) is None
        assert await b.hit(key, limit=2, window_seconds=60) is None
        retry = await a.hit(key, limit=2, window_seconds=60)
        assert retry is not None and 1 <= retry <= 60
    finally:
        await a.close()
        await b.close()
