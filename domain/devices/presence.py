"""Connectivity after a gateway restart.

A node is offline when the broker delivers its last will. A will the gateway never received
is never applied: the embedded broker dies with the gateway (and with it the wills of the
devices that vanish meanwhile), and an external broker restarted without persistence
forgets the sessions whose keepalive lapses. Such nodes would read "online" for ever, so
after a restart every node still marked connected that is not heard from within a grace
period (the devices' keepalive x 1.5: a live device reconnects, or its broker still holds
its session and its retained connection message, well within it) is marked offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from domain.devices.model import Connectivity, Node, NodeEvent
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Clock

PAGE_SIZE = 500


def is_stale(node: Node, *, restarted_at: datetime, grace: timedelta, now: datetime,
             last_heard: datetime | None) -> bool:
    """Whether `node` is to be marked offline at `now`, after a restart at `restarted_at`.

    - only once the grace has passed since the restart (until then any node may still
      reconnect or re-report);
    - only a node marked connected (an offline or never-connected one has nothing to lose);
    - not a node heard from at or after the restart (any message of its own);
    - not a node whose connectivity was recorded at or after the restart (another gateway,
      or a message this one handled before it counted, saw it connect since).
    """
    if now < restarted_at + grace or not node.connectivity.connected:
        return False
    if last_heard is not None and last_heard >= restarted_at:
        return False
    return node.connectivity.timestamp_ms < _epoch_ms(restarted_at)


def _epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class NodePresence:
    """Marks offline the nodes that went silent while nobody listened."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock,
                 page_size: int = PAGE_SIZE) -> None:
        self._uow, self.clock, self._page_size = uow, clock, page_size

    async def mark_unheard_offline(self, *, restarted_at: datetime, grace: timedelta,
                                   last_heard: Mapping[str, datetime]) -> list[NodeEvent]:
        """Every organization's connected nodes not heard since `restarted_at` (is_stale),
        marked offline as their last will would have; returns the events to publish (the
        changes are committed).

        - a stale node gets node_disconnected, the event its will would have caused;
        - its connectivity timestamp is now, and always later than the one it held, so a
          stale retained "connected" message cannot bring it back while a real reconnect
          (or a newer report of connectivity) does;
        - a node whose connectivity changed after it was read (it reconnected meanwhile)
          is left as it is;
        - nothing happens before the grace has passed; run again, it finds nothing more.
        """
        now = self.clock.now()
        if now < restarted_at + grace:
            return []
        now_ms = _epoch_ms(now)
        events: list[NodeEvent] = []
        after: str | None = None
        while True:
            async with self._uow(SYSTEM_SCOPE) as uow:
                page = await uow.nodes.connected_page(after_id=after, limit=self._page_size)
            stale: list[tuple[Node, Connectivity]] = []
            for node in page:
                if is_stale(node, restarted_at=restarted_at, grace=grace, now=now,
                            last_heard=last_heard.get(node.id)):
                    read, node.events = node.connectivity, []
                    node.apply_connection(
                        False, max(now_ms, read.timestamp_ms + 1), now)
                    stale.append((node, read))
            if stale:  # written apart from the read: SQLite upgrades no stale snapshot
                async with self._uow(SYSTEM_SCOPE) as uow:
                    lost = set(await uow.nodes.save_connectivity_if_unchanged(stale))
                    await uow.commit()
                events += [e for node, _ in stale if node.id not in lost for e in node.events]
            if len(page) < self._page_size:
                return events
            after = page[-1].id
