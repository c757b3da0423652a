"""The bus's inbound side: bounded queues, one per worker, a node's messages always on the same
worker (so in arrival order), handlers matched by filter, failures counted and logged, and
what is still queued at stop counted as dropped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib

from adapters.mqtt.topics import topic_matches
from ports.messaging import InboundMessage, MessageHandler

log = logging.getLogger("fleetgate.mqtt.bus")


class InboundWorkers:
    """Mixed into AiomqttBus: the worker pool over its queues and routes."""

    _queues: list[asyncio.Queue[InboundMessage]]
    _routes: list[tuple[str, MessageHandler]]
    _workers: list[asyncio.Task[None]]
    dropped: int
    unmatched: int
    handled: int
    handler_errors: int

    def _worker_for(self, topic: str) -> int:
        if len(self._queues) == 1:
            return 0
        levels = topic.split("/", 2)
        key = levels[1] if levels[0] == "node" and len(levels) > 1 else topic
        return zlib.crc32(key.encode()) % len(self._queues)

    def _record_drop(self, topic: str, reason: str) -> None:
        self.dropped += 1
        log.warning("dropped MQTT message on %s (%s); %d dropped so far",
                    topic, reason, self.dropped)

    async def _consume(self, queue: asyncio.Queue[InboundMessage]) -> None:
        while True:
            message = await queue.get()
            try:
                await self._dispatch(message)
            except asyncio.CancelledError:
                self._record_drop(message.topic, "handler cancelled by stop")
                raise
            finally:
                queue.task_done()

    async def _dispatch(self, message: InboundMessage) -> None:
        handlers = [h for f, h in self._routes if topic_matches(f, message.topic)]
        if not handlers:
            self.unmatched += 1
            log.warning("no handler for MQTT message on %s", message.topic)
            return
        for handler in handlers:
            try:
                await handler(message)
            except Exception:
                self.handler_errors += 1
                log.exception("MQTT handler %s failed on %s",
                              getattr(handler, "__qualname__", handler), message.topic)
        self.handled += 1

    async def _finish_workers(self, drain_timeout: float) -> None:
        if drain_timeout > 0 and self._workers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout):
                    for queue in self._queues:
                        await queue.join()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        for queue in self._queues:
            while not queue.empty():
                self._record_drop(queue.get_nowait().topic, "still queued at stop")
                queue.task_done()
