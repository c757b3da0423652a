"""A queue's consumer task at stop: let it finish what is queued within a deadline, then
cancel it; what is still queued is the caller's to count."""

from __future__ import annotations

import asyncio
from typing import Any


async def drain_inbox(consumer: asyncio.Task[None] | None, inbox: asyncio.Queue[Any], *,
                within: float) -> int:
    """Waits up to `within` seconds for the inbox to be worked off, cancels the consumer,
    and answers how many items were left unhandled."""
    if consumer is None:
        return 0
    try:
        async with asyncio.timeout(within):
            await inbox.join()
    except TimeoutError:
        pass
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    return inbox.qsize()
