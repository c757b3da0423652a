"""After a gateway restart: which nodes were heard since, and marking the others offline once
the grace period has passed (domain.devices.presence decides which are stale).

Nodes still marked connected but not heard from within the grace period
(settings.device_offline_grace_seconds) are marked offline: their last wills died with the
embedded broker, or with an external broker that kept no sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from adapters.events import InProcessEvents
from domain.devices.ingest import says_connected
from domain.devices.model import NODE_ID
from domain.devices.presence import NodePresence
from ports.messaging import InboundMessage

log = logging.getLogger("fleetgate.devices")

PRESENCE_POLL_SECONDS = 0.1
PRESENCE_RETRY_SECONDS = 30.0


class RestartPresence:
    """The one check after a start: nodes heard are noted until it ran, then the others are
    marked offline and their node_disconnected events published."""

    def __init__(self, presence: NodePresence, events: InProcessEvents, *,
                 grace_seconds: float) -> None:
        self._presence, self._events = presence, events
        self._grace = timedelta(seconds=grace_seconds)
        self._started_at: datetime | None = None
        self._heard: dict[str, datetime] | None = None  # node -> last heard, until checked
        self.task: asyncio.Task[None] | None = None
        self.marked_offline = 0  # nodes marked offline after a restart, not heard since

    def restarted(self) -> None:
        """Marks the start: from now on the nodes heard are noted."""
        self._started_at, self._heard = self._presence.clock.now(), {}

    def note_heard(self, message: InboundMessage) -> None:
        """Remembers when a node was last heard, until the check after the restart ran. A
        retained message only counts when it says connected: the broker still holds the
        node's session (its will has not replaced the message)."""
        if self._heard is None or (message.retain and not says_connected(message.topic,
                                                                          message.payload)):
            return
        parts = message.topic.split("/", 2)
        if len(parts) == 3 and parts[0] == "node" and NODE_ID.match(parts[1]):
            self._heard[parts[1]] = self._presence.clock.now()

    def start(self, gateway_listening: Callable[[], bool]) -> None:
        self.task = asyncio.create_task(self._check(gateway_listening), name="presence")

    async def stop(self, *, within: float) -> None:
        if self.task is not None:  # a check cut short is rolled back, and redone at the
            self.task.cancel()     # next start
            await asyncio.wait({self.task}, timeout=within)

    async def _check(self, gateway_listening: Callable[[], bool]) -> None:
        """Once the gateway listens and the grace has passed, the nodes not heard from since
        the start are marked offline (tried again while the database fails)."""
        assert self._started_at is not None
        while not gateway_listening():  # noqa: ASYNC110 - the bus has no "connected" event;
            await asyncio.sleep(PRESENCE_POLL_SECONDS)  # once a start
        await asyncio.sleep(self._grace.total_seconds())
        while True:
            try:
                events = await self._presence.mark_unheard_offline(
                    restarted_at=self._started_at, grace=self._grace,
                    last_heard=self._heard or {})
                break
            except Exception:
                log.exception("could not mark the nodes not heard since the restart offline; "
                              "trying again in %.0fs", PRESENCE_RETRY_SECONDS)
                await asyncio.sleep(PRESENCE_RETRY_SECONDS)
        self._heard = None
        self.marked_offline += len(events)
        for event in events:
            await self._events.publish(event)
        log.info("%d node(s) still marked online but not heard from within %.0fs of the "
                 "restart marked offline", len(events), self._grace.total_seconds())
