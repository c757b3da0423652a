"""In-process event fan-out: each subscriber gets a bounded queue; a slow subscriber loses
its oldest events (counted and logged), never slowing ingest."""

from __future__ import annotations

import asyncio
import logging

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
