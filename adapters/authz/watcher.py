"""Policy watchers: when an organization's rules change, every replica's Authorizer reloads.

- LocalPolicyWatcher (SQLite, one process): the authorizers of every app sharing the same
  database in this process reload at once.
- PgPolicyWatcher (PostgreSQL): the change sent NOTIFY on the policy channel inside its own
  transaction (adapters/sql/access.py), so it is delivered exactly when it commits; every
  replica LISTENs on a dedicated connection and reloads. The replica that made the change
  reloads before answering, so its caller's next request already sees it. A lost LISTEN
  connection is re-opened with backoff, and the rules are reloaded then (a notification may
  have been missed meanwhile). The same connection LISTENs to the other channels it is
  given (the session signals that end live connections), so each replica holds one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.access import POLICY_CHANNEL

log = logging.getLogger(__name__)


class Reloadable(Protocol):
    async def reload(self) -> None: ...


class Notified(Protocol):
    """A receiver of one channel's notifications; relistened() after a lost connection."""

    def notified(self, payload: str) -> None: ...
    def relistened(self) -> None: ...


class LocalPolicyWatcher:
    _peers: ClassVar[dict[str, weakref.WeakSet[Any]]] = {}

    def __init__(self, database_url: str, authorizer: Reloadable) -> None:
        self._key, self._authorizer = database_url, authorizer
        self._peers.setdefault(database_url, weakref.WeakSet()).add(authorizer)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def changed(self, org_id: str) -> None:
        for authorizer in list(self._peers.get(self._key, ())):
            await authorizer.reload()


class PgPolicyWatcher:
    def __init__(self, engine: AsyncEngine, authorizer: Reloadable, *,
                 channels: Mapping[str, Notified] | None = None) -> None:
        self._engine, self._authorizer = engine, authorizer
        self._channels = dict(channels or {})
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._reloads: set[asyncio.Task[None]] = set()
        self.notifications = 0

    async def changed(self, org_id: str) -> None:
        await self._authorizer.reload()

    def _on_notify(self, *_args: Any) -> None:
        if self._stopping.is_set():
            return
        self.notifications += 1
        task = asyncio.get_running_loop().create_task(self._authorizer.reload())
        self._reloads.add(task)  # kept (and awaited on stop) so no reload outlives the app
        task.add_done_callback(self._reloads.discard)
        task.add_done_callback(_log_failure)

    def _forward(self, receiver: Notified) -> Any:
        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if not self._stopping.is_set():
                try:
                    receiver.notified(payload)
                except Exception:  # noqa: BLE001 - one bad payload must not stop listening
                    log.exception("notification handler failed")

        return on_notify

    async def start(self) -> None:
        self._stopping.clear()
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._listen(ready))
        await asyncio.wait({asyncio.create_task(ready.wait()), self._task},
                           return_when=asyncio.FIRST_COMPLETED, timeout=10)

    async def _listen(self, ready: asyncio.Event) -> None:
        delay = 0.2
        while not self._stopping.is_set():
            conn: AsyncConnection | None = None
            try:
                conn = await self._engine.connect()
                raw = (await conn.get_raw_connection()).driver_connection
                lost = asyncio.Event()
                raw.add_termination_listener(lambda *_, gone=lost: gone.set())
                await raw.add_listener(POLICY_CHANNEL, self._on_notify)
                for channel, receiver in self._channels.items():
                    await raw.add_listener(channel, self._forward(receiver))
                if ready.is_set():  # re-connected: a change may have gone unheard
                    await self._authorizer.reload()
                    for receiver in self._channels.values():
                        receiver.relistened()
                ready.set()
                delay = 0.2
                stop = asyncio.create_task(self._stopping.wait())
                gone = asyncio.create_task(lost.wait())
                await asyncio.wait({stop, gone}, return_when=asyncio.FIRST_COMPLETED)
                for task in (stop, gone):
                    task.cancel()
                if not self._stopping.is_set():
                    log.warning("policy watcher lost its connection; re-listening")
            except Exception:  # noqa: BLE001 - keep listening whatever went wrong
                log.warning("policy watcher cannot listen; retrying in %.1fs", delay,
                            exc_info=True)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 10)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.invalidate()

    async def stop(self) -> None:
        """Stops listening and waits for reloads under way (they hold a connection)."""
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
            self._task = None
        if self._reloads:
            _, late = await asyncio.wait(set(self._reloads), timeout=5)
            for task in late:
                task.cancel()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("policy reload failed", exc_info=task.exception())
