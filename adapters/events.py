"""In-process event fan-out: each subscriber gets a bounded queue; a slow subscriber loses
its oldest events (counted and logged), never slowing ingest. And the session signals that
end live connections when their credential changes (in-process on SQLite, NOTIFY across
replicas on PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Collection, Iterable, Iterator
from typing import ClassVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.devices.model import NodeEvent

log = logging.getLogger("fleetgate.events")


class InProcessEvents:
    def __init__(self, *, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[NodeEvent]] = set()
        self._queue_size = queue_size
        self.published = 0
        self.dropped = 0

    def subscribe(self) -> asyncio.Queue[NodeEvent]:
        queue: asyncio.Queue[NodeEvent] = asyncio.Queue(maxsize=self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None:
        self._subscribers.discard(queue)

    async def publish(self, event: NodeEvent) -> None:
        self.published += 1
        log.debug("event %s for node %s", event.kind, event.node_id)
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
                log.warning("slow event subscriber: dropped its oldest event")
            queue.put_nowait(event)


SESSION_CHANNEL = "fleetgate_sessions"
_NOTIFY_MAX = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes and more


class SessionListeners:
    """This app's live connections by the subject they act for ("user:<id>", "apikey:<id>"):
    a signal for a subject sets the event of each of its connections, which then checks its
    credential again. Waking never blocks and never fails."""

    def __init__(self) -> None:
        self._by_subject: dict[str, set[asyncio.Event]] = {}
        self.woken = 0

    def watch(self, subject: str) -> asyncio.Event:
        event = asyncio.Event()
        self._by_subject.setdefault(subject, set()).add(event)
        return event

    def unwatch(self, subject: str, event: asyncio.Event) -> None:
        events = self._by_subject.get(subject)
        if events is not None:
            events.discard(event)
            if not events:
                del self._by_subject[subject]

    def wake(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            for event in self._by_subject.get(subject, ()):
                self.woken += 1
                event.set()

    def wake_all(self) -> None:
        """After signals may have been missed (a lost LISTEN connection): everyone checks."""
        self.wake(list(self._by_subject))


class LocalSessionSignals:
    """SQLite, one process: a signal reaches the listeners of every app on this database."""

    _peers: ClassVar[dict[str, weakref.WeakSet[SessionListeners]]] = {}

    def __init__(self, database_url: str, listeners: SessionListeners) -> None:
        self._key = database_url
        self._peers.setdefault(database_url, weakref.WeakSet()).add(listeners)

    async def changed(self, subjects: Collection[str]) -> None:
        for listeners in list(self._peers.get(self._key, ())):
            listeners.wake(subjects)


class PgSessionSignals:
    """PostgreSQL, any number of replicas: a signal wakes this replica's listeners at once and
    is sent as NOTIFY on the session channel, which every replica's policy watcher also
    LISTENs to (one connection per replica for both) and hands to notified(). It is sent
    after the change committed, so a woken connection reads the new state."""

    def __init__(self, engine: AsyncEngine, listeners: SessionListeners) -> None:
        self._engine, self._listeners = engine, listeners
        self.notifications = 0

    async def changed(self, subjects: Collection[str]) -> None:
        self._listeners.wake(subjects)
        try:
            async with self._engine.begin() as conn:
                for payload in _payloads(sorted(subjects)):
                    await conn.execute(text("SELECT pg_notify(:channel, :payload)"),
                                       {"channel": SESSION_CHANNEL, "payload": payload})
        except Exception:  # noqa: BLE001 - the change is made; other replicas catch up
            log.warning("session signal not sent to other replicas (they re-check at the "
                        "next membership refresh or token expiry)", exc_info=True)

    def notified(self, payload: str) -> None:
        self.notifications += 1
        self._listeners.wake(payload.split())

    def relistened(self) -> None:
        self._listeners.wake_all()


def _payloads(subjects: Iterable[str]) -> Iterator[str]:
    batch: list[str] = []
    size = 0
    for subject in subjects:
        if batch and size + len(subject) + 1 > _NOTIFY_MAX:
            yield " ".join(batch)
            batch, size = [], 0
        batch.append(subject)
        size += len(subject) + 1
    if batch:
        yield " ".join(batch)
