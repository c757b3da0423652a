"""Sliding-window rate limiter in process memory (one replica; REDIS_URL for several)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class InMemoryRateLimiter:
    def __init__(self, *, max_keys: int = 100_000,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys, self._now = max_keys, monotonic

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        now = self._now()
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            if len(self._hits) > self._max_keys:  # bounded memory: forget the oldest keys
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - window_seconds:
            hits.popleft()
        if len(hits) >= limit:
            return max(1, math.ceil(hits[0] + window_seconds - now))
        hits.append(now)
        return None
