"""The gateway's OTA lane: one ordered queue and its consumer into domain.ota.delivery
(otafetch, otastatus, the offers device events ask for), and the periodic sweep's timer.

Everything OTA goes through the one queue and the one consumer: a node's otastatus reports
are applied in arrival order, and an offer (connect, otafetch, a report that frees the node
for its next job) never races another offer for the same node in this gateway, so a node is
never offered two jobs at once.
"""

from __future__ import annotations

import asyncio
import logging

from domain.devices.model import NodeEvent
from domain.devices.reactions import Reaction
from domain.ota.delivery import MESSAGE_KINDS, OtaDelivery
from fleetgate.queues import drain_inbox
from ports.messaging import InboundMessage

log = logging.getLogger("fleetgate.devices")

OTA_INBOX_SIZE = 10_000
OTA_SWEEP_SECONDS = 30.0
"""How often the gateway expires OTA jobs past their timeout/validity and offers jobs whose
download window just opened (OtaLane.sweep_seconds, per instance, for tests)."""
OTA_TOPICS = MESSAGE_KINDS


class OtaLane:
    """OTA messages and offers, one at a time in arrival order, and the sweep every
    sweep_seconds; counts what was handled and what was ignored."""

    def __init__(self, delivery: OtaDelivery) -> None:
        self._delivery = delivery
        self.inbox: asyncio.Queue[tuple[str, str, str | None, bytes]] = asyncio.Queue(
            maxsize=OTA_INBOX_SIZE)
        self.consumer: asyncio.Task[None] | None = None
        self.sweeper: asyncio.Task[None] | None = None
        self.sweep_seconds = OTA_SWEEP_SECONDS
        self.handled = self.ignored = 0

    async def accept(self, message: InboundMessage) -> None:
        """Bus handler for node/+/otafetch and node/+/otastatus: queued for the consumer
        (waiting, and so holding the bus back, while the queue is full)."""
        parts = message.topic.split("/")
        if len(parts) != 3 or parts[2] not in OTA_TOPICS:
            return
        await self.inbox.put((parts[2], parts[1], None, message.payload))

    def reaction(self, kind: str) -> Reaction:
        """A reaction queuing the event's node into this lane as `kind` (connected, config),
        behind the OTA messages already queued."""
        async def enqueue(event: NodeEvent) -> None:
            await self.inbox.put((kind, event.node_id, event.org_id, b""))
        return enqueue

    def start(self) -> None:
        self.consumer = asyncio.create_task(self._consume(), name="device-ota")
        self.sweeper = asyncio.create_task(self._sweep_periodically(), name="ota-sweep")

    async def sweep(self) -> None:
        """One pass of the OTA sweep (OtaDelivery.sweep: expiry, jobs just due, paced
        rollouts), paced by this lane's sweep_seconds."""
        await self._delivery.sweep(sweep_seconds=self.sweep_seconds)

    async def stop_sweeping(self) -> None:
        if self.sweeper is not None:
            self.sweeper.cancel()
            await asyncio.gather(self.sweeper, return_exceptions=True)

    async def drain(self, *, within: float) -> None:
        """Lets the consumer finish what is queued (ingest queued connect/config work into
        it while draining), for `within` seconds; what is left is offered again on
        reconnect."""
        left = await drain_inbox(self.consumer, self.inbox, within=within)
        if left:
            log.warning("left %d OTA messages unhandled at stop", left)

    async def _consume(self) -> None:
        while True:
            item = await self.inbox.get()
            try:
                outcome = await self._delivery.handle(*item)
                if outcome.handled:
                    self.handled += 1
                elif outcome.ignored is not None:
                    self.ignored += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad message or a database hiccup must not stop OTA
                self.ignored += 1
                log.exception("OTA %s of node %s failed", item[0], item[1][:64])
            finally:
                self.inbox.task_done()

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("OTA sweep failed; trying again in %.0fs", self.sweep_seconds)
