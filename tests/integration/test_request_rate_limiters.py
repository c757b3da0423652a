"""Per-request limiters (ip, user, organization): in process memory and in Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.ratelimit.windows import MemoryRequestLimiter, RedisRequestLimiter
from ports.services import RateDecision

REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS") or os.environ.get("REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="no Redis configured: set REDIS_URL_FOR_TESTS=redis://host:6379/0")


class Ticks:
    def __init__(self, t: float = 6000.0) -> None:  # 6000 is a 60 s window boundary
        self.t = t

    def __call__(self) -> float:
        return self.t


async def _consume_n(limiter: MemoryRequestLimiter | RedisRequestLimiter, key: str, n: int,
                     limit: int = 10, window: int = 60) -> list[RateDecision]:
    return [await limiter.consume(key, limit=limit, window_seconds=window) for _ in range(n)]


async def test_memory_remaining_counts_down_then_refuses() -> None:
    limiter = MemoryRequestLimiter(monotonic=Ticks())
    decisions = await _consume_n(limiter, "k", 10)
    assert all(d.allowed and d.limit == 10 for d in decisions)
    assert [d.remaining for d in decisions] == list(range(9, -1, -1))
    assert decisions[0].reset_seconds == 60  # the window ends in 60 s
    # the last one left nothing: reset is when the next request fits (next window + 6 s)
    assert decisions[-1].reset_seconds == 66
    refused = await limiter.consume("k", limit=10, window_seconds=60)
    assert refused == RateDecision(allowed=False, limit=10, remaining=0, reset_seconds=66)


async def test_memory_window_slides_and_refused_hits_do_not_count() -> None:
    ticks = Ticks()
    limiter = MemoryRequestLimiter(monotonic=ticks)
    await _consume_n(limiter, "k", 10)
    ticks.t += 30
    for _ in range(5):  # refused: not counted
        assert not (await limiter.consume("k", limit=10, window_seconds=60)).allowed
    ticks.t = 6060.0  # next window: the previous 10 weigh fully
    refused = await limiter.consume("k", limit=10, window_seconds=60)
    assert not refused.allowed and refused.reset_seconds == 6
    ticks.t = 6066.0  # 10 * 54/60 = 9 still weigh: one request fits
    ok = await limiter.consume("k", limit=10, window_seconds=60)
    assert ok.allowed and ok.remaining == 0
    assert not (await limiter.consume("k", limit=10, window_seconds=60)).allowed
    ticks.t = 6090.0  # 10 * 30/60 + 1 = 6 used
    ok = await limiter.consume("k", limit=10, window_seconds=60)
    assert ok.allowed and ok.remaining == 3 and ok.reset_seconds == 30
    ticks.t = 6180.0 + 1  # two windows later nothing weighs any more
    fresh = await limiter.consume("k", limit=10, window_seconds=60)
    assert fresh.allowed and fresh.remaining == 9


async def test_memory_keys_are_isolated() -> None:
    limiter = MemoryRequestLimiter(monotonic=Ticks())
    await _consume_n(limiter, "ip:a", 3, limit=3)
    assert not (await limiter.consume("ip:a", limit=3, window_seconds=60)).allowed
    other = await limiter.consume("ip:b", limit=3, window_seconds=60)
    assert other.allowed and other.remaining == 2


async def test_memory_keys_are_bounded() -> None:
    limiter = MemoryRequestLimiter(max_keys=100)
    for i in range(1000):
        await limiter.consume(f"k{i}", limit=1, window_seconds=60)
    assert len(limiter) == 100
    # the most recent key survived, with its count
    assert not (await limiter.consume("k999", limit=1, window_seconds=60)).allowed


async def test_memory_concurrent_consumes_never_exceed_the_limit() -> None:
    limiter = MemoryRequestLimiter()
    decisions = await asyncio.gather(
        *(limiter.consume("hot", limit=20, window_seconds=60) for _ in range(50)))
    assert sum(d.allowed for d in decisions) == 20


async def test_memory_zero_limit_refuses_everything() -> None:
    limiter = MemoryRequestLimiter(monotonic=Ticks())
    decision = await limiter.consume("k", limit=0, window_seconds=60)
    assert not decision.allowed and decision.reset_seconds == 60


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[RedisRequestLimiter, RedisRequestLimiter]]:
    assert REDIS_URL
    # a generous timeout: these tests are about sharing, not outages (a connect that stalls
    # past the default 0.5 s under CI load fails open, as designed, and the count is lost)
    a, b = RedisRequestLimiter(REDIS_URL, timeout=5.0), RedisRequestLimiter(REDIS_URL, timeout=5.0)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


@needs_redis
async def test_redis_window_slides_with_a_passed_clock() -> None:
    assert REDIS_URL
    ticks = Ticks()
    limiter = RedisRequestLimiter(REDIS_URL, clock=ticks)
    key = f"test:{uuid.uuid4()}"
    try:
        decisions = await _consume_n(limiter, key, 10)
        assert [d.remaining for d in decisions] == list(range(9, -1, -1))
        assert decisions[0].reset_seconds == 60 and decisions[-1].reset_seconds == 66
        ticks.t += 30
        refused = await limiter.consume(key, limit=10, window_seconds=60)
        assert refused == RateDecision(allowed=False, limit=10, remaining=0, reset_seconds=36)
        ticks.t = 6066.0
        assert (await limiter.consume(key, limit=10, window_seconds=60)).allowed
        assert not (await limiter.consume(key, limit=10, window_seconds=60)).allowed
        ticks.t = 6090.0
        ok = await limiter.consume(key, limit=10, window_seconds=60)
        assert ok.allowed and ok.remaining == 3 and ok.reset_seconds == 30
        ticks.t = 6181.0
        assert (await limiter.consume(key, limit=10, window_seconds=60)).remaining == 9
    finally:
        await limiter.close()


@needs_redis
async def test_redis_counts_with_server_time_and_keys_expire(
        redis_pair: tuple[RedisRequestLimiter, RedisRequestLimiter]) -> None:
    a, _ = redis_pair
    key = f"test:{uuid.uuid4()}"
    decisions = await _consume_n(a, key, 4, limit=3)
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 1 <= decisions[-1].reset_seconds <= 120
    ttl = await a._redis.ttl(f"fleetgate:rq:{key}")
    assert 60 < ttl <= 120  # two windows
    other = await a.consume(f"{key}:other", limit=3, window_seconds=60)
    assert other.allowed and other.remaining == 2


@needs_redis
async def test_redis_is_shared_between_replicas(
        redis_pair: tuple[RedisRequestLimiter, RedisRequestLimiter]) -> None:
    a, b = redis_pair
    key = f"test:{uuid.uuid4()}"
    assert (await a.consume(key, limit=2, window_seconds=60)).remaining == 1
    assert (await b.consume(key, limit=2, window_seconds=60)).remaining == 0
    assert not (await a.consume(key, limit=2, window_seconds=60)).allowed
    assert not (await b.consume(key, limit=2, window_seconds=60)).allowed


@needs_redis
async def test_redis_concurrent_consumes_never_exceed_the_limit(
        redis_pair: tuple[RedisRequestLimiter, RedisRequestLimiter]) -> None:
    a, b = redis_pair
    key = f"test:{uuid.uuid4()}"
    decisions = await asyncio.gather(
        *(limiter.consume(key, limit=20, window_seconds=60) for limiter in (a, b)
          for _ in range(25)))
    assert sum(d.allowed for d in decisions) == 20


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_redis_down_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RedisRequestLimiter(f"redis://127.0.0.1:{_closed_port()}/0", cooldown=0)
    started = time.monotonic()
    try:
        decisions = await _consume_n(limiter, "k", 5, limit=2)
    finally:
        await limiter.close()
    assert all(d.allowed for d in decisions)
    assert decisions[0] == RateDecision(allowed=True, limit=2, remaining=1, reset_seconds=60)
    assert time.monotonic() - started < 5
    warnings = [r for r in caplog.records if "Redis rate limiter unavailable" in r.getMessage()]
    assert len(warnings) == 1  # not one per request
