"""Guards against probing accounts: attempts rate-limited per IP and per user name, and a
floor on how fast an answer comes, so its timing does not tell which path produced it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from domain.access.model import Caller
from ports.services import RateLimiter


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Attempts allowed per minute; configurable so operators can tune them."""

    per_ip: int = 30
    per_user: int = 10


async def throttle(limiter: RateLimiter, action: str, caller: Caller, user_name: str | None,
                   limits: Limits) -> None:
    from domain.errors import RateLimited

    keys = [(f"{action}:ip:{caller.ip}", limits.per_ip)]
    if user_name:
        keys.append((f"{action}:user:{user_name.lower()}", limits.per_user))
    for key, limit in keys:
        retry = await limiter.hit(key, limit=limit, window_seconds=60)
        if retry is not None:
            raise RateLimited(
                "Max limit exceeded, please try after some time",
                reason="rate_limited",
                retry_after=retry,
            )


ANSWER_FLOOR_SECONDS = 0.05
"""How long at least a password-reset answer takes, whichever path it took (a real reset
writes a code and a mail, about 2-12 ms on SQLite; an unknown address writes nothing)."""


@contextlib.asynccontextmanager
async def answer_after(seconds: float = ANSWER_FLOOR_SECONDS) -> AsyncIterator[None]:
    """The block takes at least `seconds`, also when it raises, so an answer's timing does
    not tell which path produced it (an existing or an unknown address)."""
    started = time.monotonic()
    try:
        yield
    finally:
        left = seconds - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)
