"""Fixed-window rate limiter in Redis, shared by every replica (REDIS_URL)."""

from __future__ import annotations

import time

from redis.asyncio import Redis


class RedisRateLimiter:
    def __init__(self, url: str, *, prefix: str = "fleetgate:rl:") -> None:
        self._redis = Redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        window = int(time.time() // window_seconds)
        rkey = f"{self._prefix}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(rkey)
            pipe.expire(rkey, window_seconds + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            return max(1, (window + 1) * window_seconds - int(time.time()))
        return None

    async def close(self) -> None:
        await self._redis.aclose()
