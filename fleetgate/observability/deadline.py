"""Waiting for I/O that may hang (a database that stopped answering) without hanging too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("fleetgate.observability")

_abandoned: set[asyncio.Task[Any]] = set()


async def within(coro: Coroutine[Any, Any, T], seconds: float) -> T:
    """The coroutine's result, or TimeoutError after `seconds`.

    Unlike asyncio.timeout(), the caller is answered on time even when the work cannot be
    stopped promptly: a cancelled database connection still awaits its rollback/close,
    which hangs as long as the database does. The work is cancelled and left to finish in
    the background."""
    task = asyncio.ensure_future(coro)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise TimeoutError(f"no answer within {seconds:g}s")


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.debug("abandoned check failed late", exc_info=task.exception())
