"""The bus's intake: messages read from aiomqtt into the workers' bounded queues (dropped and
counted when full, or held back with overflow="wait", aiomqtt's own buffer then bounded and
its overflow counted), its own heartbeats noted on the way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiomqtt

from adapters.mqtt.topics import count_kind
from ports.messaging import InboundMessage


class Intake:
    """Mixed into AiomqttBus: from aiomqtt's message stream to the worker queues."""

    heartbeat_interval: float | None
    heartbeat_topic: str
    heartbeats: int
    received: int
    received_by_kind: dict[str, int]
    _last_heartbeat: float | None
    _held_back: int
    _wait_when_full: bool
    _client_queue_size: int
    _queues: list[asyncio.Queue[InboundMessage]]
    _clock: Callable[[], float]
    _worker_for: Callable[[str], int]
    _record_drop: Callable[[str, str], None]

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._enqueue(message)
        raise aiomqtt.MqttError("message stream ended")

    def _client_buffer(self) -> dict[str, Any]:
        """In wait mode, aiomqtt's own incoming buffer: bounded, its overflow counted."""
        if not self._wait_when_full:
            return {}
        bus = self

        class CountingQueue(asyncio.Queue[aiomqtt.Message]):
            def put_nowait(self, item: aiomqtt.Message) -> None:
                try:
                    super().put_nowait(item)
                except asyncio.QueueFull:  # aiomqtt discards it: count and log it here
                    bus.received += 1
                    bus._record_drop(item.topic.value, "client buffer full")
                    raise

        return {"queue_type": CountingQueue,
                "max_queued_incoming_messages": self._client_queue_size}

    async def _enqueue(self, message: aiomqtt.Message) -> None:
        if self.heartbeat_interval is not None and message.topic.value == self.heartbeat_topic:
            self.heartbeats += 1
            self._last_heartbeat = self._clock()
            return
        self.received += 1
        count_kind(self.received_by_kind, message.topic.value)
        payload = message.payload
        inbound = InboundMessage(
            topic=message.topic.value, qos=message.qos, retain=message.retain,
            payload=bytes(payload) if isinstance(payload, bytes | bytearray)
            else str(payload or "").encode())
        queue = self._queues[self._worker_for(inbound.topic)]
        if self._wait_when_full:
            if queue.full():
                self._held_back += 1
                try:
                    await queue.put(inbound)
                except asyncio.CancelledError:  # the connection is being dropped
                    self._record_drop(inbound.topic, "connection dropped while queue full")
                    raise
                finally:
                    self._held_back -= 1
            else:
                queue.put_nowait(inbound)
            return
        try:
            queue.put_nowait(inbound)
        except asyncio.QueueFull:
            self._record_drop(inbound.topic, "queue full")
