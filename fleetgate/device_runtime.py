"""The device side of a running gateway: the embedded broker (unless MQTT_URL is set) and
the gateway's own MQTT client feeding device messages into ingest, then events out.

Ingest pipeline: bus → bounded inbox → one consumer that drains whatever has accumulated
(up to BATCH_MAX messages) and hands it to DeviceIngest.handle_batch, which writes all the
changed nodes in one transaction; events are published after that commit. Nothing is dropped
for being too much: a full inbox makes the bus worker wait, a waiting worker fills the bus
queue, and a full bus queue stops the bus reading from aiomqtt (the bus runs with
overflow="wait"); only aiomqtt's own buffer behind that is bounded with counted, logged drops.
So one consumer keeps every node's messages in arrival order, and under load batches grow by
themselves (what arrives while one batch is written is the next batch); a small batch waits
a few ms once for company.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote, urlparse

from adapters.events import InProcessEvents
from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.commands import MqttNodeCommands
from adapters.mqtt.embedded import EmbeddedBroker
from domain.devices.access import DeviceAccess
from domain.devices.ingest import SUFFIXES, DeviceIngest, IngestResult
from fleetgate.container import GATEWAY_USERNAME, Container
from fleetgate.settings import Settings
from ports.messaging import InboundMessage
from ports.repositories import SYSTEM_SCOPE

log = logging.getLogger("fleetgate.devices")

INBOX_SIZE = 10_000
BATCH_MAX = 500
BATCH_SMALL, BATCH_LINGER_SECONDS = 50, 0.005
"""A batch smaller than BATCH_SMALL waits BATCH_LINGER_SECONDS once for more messages: a
few ms of latency that saves transactions when traffic is steady but not saturating."""
BATCH_RETRIES = (0.2, 1.0, 3.0)
"""Pauses before trying a batch again when the database failed it (nothing was committed)."""
DRAIN_SECONDS = 5.0


EMBEDDED_BACKOFF_CAP = 2.0
"""The embedded broker is in this process: reconnect to it quickly after it restarts."""


class GatewayFirstAccess:
    """The embedded broker's access checks, admitting devices only while the gateway is
    connected and subscribed. amqtt keeps no sessions across a restart, so a device that came
    back before the gateway would publish (and re-report its state) to nobody; refused, it
    retries, and reports once the gateway listens."""

    def __init__(self, access: DeviceAccess, gateway_listening: Callable[[], bool]) -> None:
        self._access, self._listening = access, gateway_listening

    async def authenticate(self, username: object, password: object) -> bool:
        if not (self._access.is_gateway(username if isinstance(username, str) else None)
                or self._listening()):
            log.info("broker refused device %r: the gateway is not listening yet", username)
            return False
        return await self._access.authenticate(username, password)

    def may_use_topic(self, username: str | None, topic: str | None, action: str) -> bool:
        return self._access.may_use_topic(username, topic, action)


class DeviceRuntime:
    def __init__(self, settings: Settings, container: Container) -> None:
        self._settings = settings
        self._access: DeviceAccess = container.device_access()
        self._ingest: DeviceIngest = container.ingest()
        self._events: InProcessEvents = container.events()
        self._gateway_password: str = container.gateway_password()
        self._commands: MqttNodeCommands = container.node_commands()
        self._uow = container.uow()
        self._mapping = container.node_mapping()
        self.broker: EmbeddedBroker | None = None
        self.bus: AiomqttBus | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[InboundMessage] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._consumer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.batches = self.ingested = self.dropped = 0

    def _endpoint(self) -> tuple[str, int, str, str]:
        if self._settings.mqtt_url is None:
            return "127.0.0.1", self._settings.mqtt_port, GATEWAY_USERNAME, self._gateway_password
        url = urlparse(self._settings.mqtt_url)
        return (url.hostname or "127.0.0.1", url.port or 1883,
                unquote(url.username) if url.username else GATEWAY_USERNAME,
                unquote(url.password) if url.password else self._gateway_password)

    async def _on_message(self, message: InboundMessage) -> None:
        """Bus handler for device state topics: queue for the batch consumer, waiting (and
        so holding the bus back) while the inbox is full."""
        await self._inbox.put(message)

    async def _consume(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            self._take_queued(batch)
            if len(batch) < BATCH_SMALL:  # a moment for more: fewer, fuller transactions
                await asyncio.sleep(BATCH_LINGER_SECONDS)
                self._take_queued(batch)
            try:
                await self._ingest_batch(batch)
            except asyncio.CancelledError:
                self.dropped += len(batch)
                log.warning("dropped %d device messages being ingested at stop", len(batch))
                raise
            finally:
                for _ in batch:
                    self._inbox.task_done()

    def _take_queued(self, batch: list[InboundMessage]) -> None:
        while len(batch) < BATCH_MAX and not self._inbox.empty():
            batch.append(self._inbox.get_nowait())

    async def _ingest_batch(self, batch: list[InboundMessage]) -> None:
        messages = [(m.topic, m.payload) for m in batch]
        results: list[IngestResult] | None = None
        for pause in (*BATCH_RETRIES, None):
            try:
                results = await self._ingest.handle_batch(messages)
                break
            except Exception:
                if pause is None:
                    self.dropped += len(batch)
                    log.exception("dropped %d device messages: the database kept failing "
                                  "(%d dropped so far)", len(batch), self.dropped)
                    return
                log.exception("ingest batch of %d failed; trying again in %.1fs",
                              len(batch), pause)
                await asyncio.sleep(pause)
        assert results is not None
        self.batches += 1
        self.ingested += len(batch)
        for result in results:
            for event in result.events:
                await self._events.publish(event)
                if event.kind == "node_connected":
                    self._spawn(self._resend_pending(event.node_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _resend_pending(self, node_id: str) -> None:
        """Desired params set while the node was away are delivered when it is back."""
        try:
            async with self._uow(SYSTEM_SCOPE) as uow:
                node = await uow.nodes.get(node_id)
            pending = node.pending_desired() if node is not None else {}
            if pending:
                await self._commands.send_params(node_id, pending)
        except Exception:  # the node re-reports and the user may set again; log, carry on
            log.exception("could not resend pending desired params to %s", node_id)

    async def _on_mapping(self, message: InboundMessage) -> None:
        """The node's half of the user-node mapping handshake."""
        node_id = message.topic.split("/")[1] if message.topic.count("/") == 3 else ""
        outcome = await self._mapping.node_half(node_id, message.payload)
        log.info("mapping message of node %s: %s", node_id[:64], outcome)

    async def start(self) -> None:
        if self._settings.mqtt_url is None:
            self.broker = EmbeddedBroker(port=self._settings.mqtt_port, access=GatewayFirstAccess(
                self._access, lambda: self.bus is not None and self.bus.connected))
            await self.broker.start()
        host, port, username, password = self._endpoint()
        self.bus = AiomqttBus(host, port, client_id=f"{GATEWAY_USERNAME}-{port}",
                              username=username, password=password, overflow="wait",
                              backoff_cap=EMBEDDED_BACKOFF_CAP if self.broker else 30.0)
        for suffix in SUFFIXES:
            self.bus.subscribe(f"node/+/{suffix}", self._on_message)
        self.bus.subscribe("node/+/user/mapping", self._on_mapping)
        self._commands.bus = self.bus
        self._consumer = asyncio.create_task(self._consume(), name="device-ingest")
        self._task = asyncio.create_task(self.bus.run())
        log.info("device runtime started (broker %s:%s)", host, port)

    def describe(self) -> str:
        """Counters, for logs and the ingest benchmark."""
        bus = self.bus
        received = f"bus received {bus.received}, dropped {bus.dropped}; " if bus else ""
        return (f"{received}ingested {self.ingested} in {self.batches} batches, "
                f"dropped {self.dropped}")

    async def stop(self) -> None:
        self._commands.bus = None
        if self.bus is not None:
            await self.bus.stop(drain_timeout=DRAIN_SECONDS)  # its workers fill the inbox
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._drain()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.broker is not None:
            await self.broker.stop()

    async def _drain(self) -> None:
        """Lets the consumer finish what is queued, for a while; counts what is left."""
        if self._consumer is None:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._inbox.join()
        except TimeoutError:
            pass
        self._consumer.cancel()
        await asyncio.gather(self._consumer, return_exceptions=True)
        left = self._inbox.qsize()
        if left:
            self.dropped += left
            log.warning("dropped %d device messages still queued at stop", left)
