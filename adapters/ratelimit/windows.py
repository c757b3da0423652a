"""Per-request rate limiters (ip, user, organization): a sliding-window counter.

Each key keeps the count of the current fixed window and of the previous one; the previous
count is weighted by how much of it still overlaps the sliding window:

    used = current + previous * (window - elapsed) / window

A request is allowed when ``used + 1 <= limit`` and then counted; a refused request is not
counted. Memory per key is O(1). ``MemoryRequestLimiter`` serves one replica;
``RedisRequestLimiter`` (REDIS_URL) shares the counters between replicas.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ports.services import RateDecision

log = logging.getLogger("fleetgate.ratelimit")

_EPSILON = 1e-9  # float slack so that e.g. 10 * 54 / 60 + 1 <= 10 holds


def _retry_seconds(limit: int, window: int, current: int, previous: int,
                   elapsed: float) -> float:
    """Seconds until one more request fits, given the counts after this request."""
    if current + 1 <= limit and previous > 0:  # the previous window has to fade some more
        fits_at = window * (1 - (limit - 1 - current) / previous)
        return fits_at - elapsed
    if current == 0:  # limit <= 0: nothing ever fits; say one window
        return float(window)
    # next window: this window's count becomes the weighted previous one
    fits_at = window * (1 - (limit - 1) / current)
    return window - elapsed + fits_at


def _decision(allowed: bool, limit: int, window: int, current: int, previous: int,
              elapsed: float) -> RateDecision:
    """The RateDecision for the counts after this request.

    reset_seconds is, when no request is left (refused, or remaining == 0), the time until
    the next one fits (the Retry-After); otherwise the time until the current window ends.
    """
    used = current + previous * (window - elapsed) / window
    remaining = max(0, math.floor(limit - used + _EPSILON)) if allowed else 0
    if remaining == 0:
        reset = _retry_seconds(limit, window, current, previous, elapsed)
    else:
        reset = window - elapsed
    return RateDecision(allowed=allowed, limit=limit, remaining=remaining,
                        reset_seconds=max(1, math.ceil(reset - _EPSILON)))


@dataclass(slots=True)
class _Counts:
    window_seconds: int
    window: int  # index of the current fixed window (time // window_seconds)
    current: int
    previous: int


class MemoryRequestLimiter:
    """Sliding-window counters in process memory, at most max_keys keys (oldest evicted)."""

    def __init__(self, *, max_keys: int = 100_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._counts: OrderedDict[str, _Counts] = OrderedDict()
        self._max_keys, self._now = max_keys, monotonic

    def __len__(self) -> int:
        return len(self._counts)

    async def consume(self, key: str, *, limit: int, window_seconds: int) -> RateDecision:
        now = self._now()
        window = math.floor(now / window_seconds)
        counts = self._counts.get(key)
        if counts is None or counts.window_seconds != window_seconds:
            counts = self._counts[key] = _Counts(window_seconds, window, 0, 0)
            self._counts.move_to_end(key)
            while len(self._counts) > self._max_keys:  # bounded memory: forget the oldest
                self._counts.popitem(last=False)
        else:
            self._counts.move_to_end(key)
            if counts.window != window:
                counts.previous = counts.current if counts.window == window - 1 else 0
                counts.current, counts.window = 0, window
        elapsed = now - window * window_seconds
        used = counts.current + counts.previous * (window_seconds - elapsed) / window_seconds
        allowed = used + 1 <= limit + _EPSILON
        if allowed:
            counts.current += 1
        return _decision(allowed, limit, window_seconds, counts.current, counts.previous,
                         elapsed)


# KEYS[1] the counter hash; ARGV: limit, window seconds, now (seconds, "" for Redis TIME).
# Returns {allowed (0/1), current, previous, elapsed (a string: Lua floats become integers)}.
_CONSUME = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local win = math.floor(now / window)
local h = redis.call('HMGET', KEYS[1], 'w', 'c', 'p', 's')
local w0 = tonumber(h[1])
local current = tonumber(h[2]) or 0
local previous = tonumber(h[3]) or 0
if w0 == nil or tonumber(h[4]) ~= window then
  current, previous = 0, 0
elseif w0 ~= win then
  if w0 == win - 1 then previous = current else previous = 0 end
  current = 0
end
local elapsed = now - win * window
local used = current + previous * (window - elapsed) / window
local allowed = 0
if used + 1 <= limit + 1e-9 then
  allowed = 1
  current = current + 1
end
redis.call('HSET', KEYS[1], 'w', win, 'c', current, 'p', previous, 's', window)
redis.call('EXPIRE', KEYS[1], 2 * window)
return {allowed, current, previous, string.format('%.6f', elapsed)}
"""


class RedisRequestLimiter:
    """Sliding-window counters in Redis, shared by every replica (REDIS_URL).

    One Lua script (sent once, then run by EVALSHA) reads, rolls over and counts a key
    atomically; it reads the time from Redis (TIME) unless a clock is passed, so replicas
    with skewed clocks agree. Each key is a small hash expiring after two windows.

    Fails open: when Redis cannot be reached or errs, ``consume`` allows the request
    (remaining = limit - 1) instead of failing it, and logs a warning at most once per
    ``warn_every`` seconds. Availability of the API is preferred over exact limits during a
    Redis outage; after a failure Redis is not asked again for ``cooldown`` seconds so that
    an unreachable server does not add its timeout to every request.
    """

    def __init__(self, url: str, *, prefix: str = "fleetgate:rq:",
                 clock: Callable[[], float] | None = None, timeout: float = 0.5,
                 cooldown: float = 1.0, warn_every: float = 60.0) -> None:
        self._redis = Redis.from_url(url, socket_timeout=timeout,
                                     socket_connect_timeout=timeout,
                                     retry=Retry(NoBackoff(), 0))
        self._script = self._redis.register_script(_CONSUME)
        self._prefix, self._clock = prefix, clock
        self._cooldown, self._warn_every = cooldown, warn_every
        self._down_until = 0.0
        self._last_warning: float | None = None

    async def consume(self, key: str, *, limit: int, window_seconds: int) -> RateDecision:
        if time.monotonic() < self._down_until:
            return self._fail_open(limit, window_seconds)
        now = "" if self._clock is None else repr(float(self._clock()))
        try:
            allowed, current, previous, elapsed = await self._script(
                keys=[self._prefix + key], args=[limit, window_seconds, now])
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self._cooldown
            self._warn(exc)
            return self._fail_open(limit, window_seconds)
        return _decision(bool(allowed), limit, window_seconds, int(current), int(previous),
                         float(elapsed))

    def _fail_open(self, limit: int, window_seconds: int) -> RateDecision:
        return RateDecision(allowed=True, limit=limit, remaining=max(0, limit - 1),
                            reset_seconds=max(1, window_seconds))

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._last_warning is None or now - self._last_warning >= self._warn_every:
            self._last_warning = now
            log.warning("Redis rate limiter unavailable, allowing requests: %s", exc)

    async def close(self) -> None:
        await self._redis.aclose()
