"""The device side of a running gateway: the embedded broker (unless MQTT_URL is set) and
the gateway's own MQTT client feeding device messages into ingest, then events out."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote, urlparse

from adapters.events import InProcessEvents
from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.commands import MqttNodeCommands
from adapters.mqtt.embedded import EmbeddedBroker
from domain.devices.access import DeviceAccess
from domain.devices.ingest import SUFFIXES, DeviceIngest
from fleetgate.container import GATEWAY_USERNAME, Container
from fleetgate.settings import Settings
from ports.messaging import InboundMessage
from ports.repositories import SYSTEM_SCOPE

log = logging.getLogger("fleetgate.devices")


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

    def _endpoint(self) -> tuple[str, int, str, str]:
        if self._settings.mqtt_url is None:
            return "127.0.0.1", self._settings.mqtt_port, GATEWAY_USERNAME, self._gateway_password
        url = urlparse(self._settings.mqtt_url)
        return (url.hostname or "127.0.0.1", url.port or 1883,
                unquote(url.username) if url.username else GATEWAY_USERNAME,
                unquote(url.password) if url.password else self._gateway_password)

    async def _on_message(self, message: InboundMessage) -> None:
        result = await self._ingest.handle(message.topic, message.payload)
        for event in result.events:
            await self._events.publish(event)
            if event.kind == "node_connected":
                await self._resend_pending(event.node_id)

    async def _resend_pending(self, node_id: str) -> None:
        """Desired params set while the node was away are delivered when it is back."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            node = await uow.nodes.get(node_id)
        pending = node.pending_desired() if node is not None else {}
        if pending:
            await self._commands.send_params(node_id, pending)

    async def _on_mapping(self, message: InboundMessage) -> None:
        """The node's half of the user-node mapping handshake."""
        node_id = message.topic.split("/")[1] if message.topic.count("/") == 3 else ""
        outcome = await self._mapping.node_half(node_id, message.payload)
        log.info("mapping message of node %s: %s", node_id[:64], outcome)

    async def start(self) -> None:
        if self._settings.mqtt_url is None:
            self.broker = EmbeddedBroker(port=self._settings.mqtt_port, access=self._access)
            await self.broker.start()
        host, port, username, password = self._endpoint()
        self.bus = AiomqttBus(host, port, client_id=f"{GATEWAY_USERNAME}-{port}",
                              username=username, password=password)
        for suffix in SUFFIXES:
            self.bus.subscribe(f"node/+/{suffix}", self._on_message)
        self.bus.subscribe("node/+/user/mapping", self._on_mapping)
        self._commands.bus = self.bus
        self._task = asyncio.create_task(self.bus.run())
        log.info("device runtime started (broker %s:%s)", host, port)

    def describe(self) -> str:
        bus = self.bus
        if bus is None:
            return ""
        return f"bus received {bus.received}, dropped {bus.dropped}"

    async def stop(self) -> None:
        self._commands.bus = None
        if self.bus is not None:
            await self.bus.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.broker is not None:
            await self.broker.stop()
