"""The device side of a running gateway: the embedded broker (unless MQTT_URL is set) and
the gateway's own MQTT client, its lifecycle, and the pieces it composes.

Device state topics go into the ingest pipeline (fleetgate.ingest_pipeline: bounded inbox,
batches, retry and split), OTA topics into the OTA lane (fleetgate.ota_lane: one ordered
queue into domain.ota.delivery, the periodic sweep), the mapping handshake straight to
domain.devices.mapping. What follows a device event (resending pending desired params on
connect, OTA offers on connect and config changes, and what later features register) is
domain.devices.reactions' table, which this runtime builds and the pipeline runs after each
batch's events are published. After a restart, the nodes not heard from within the grace
period are marked offline (fleetgate.restart_presence).
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
from adapters.mqtt.ota import MqttOtaPublisher
from domain.devices.access import DeviceAccess
from domain.devices.ingest import SUFFIXES
from domain.devices.mapping import NodeMapping
from domain.devices.model import NodeEvent
from domain.devices.reactions import (
    NODE_CONFIG_CHANGED,
    NODE_CONNECTED,
    NODE_SAID_CONNECTED,
    PendingParams,
    Reaction,
    Reactions,
)
from domain.ota.delivery import CONFIG, CONNECTED
from fleetgate.broker_gate import GatewayFirstAccess
from fleetgate.container import GATEWAY_USERNAME, Container
from fleetgate.ingest_pipeline import IngestPipeline
from fleetgate.ota_lane import OTA_TOPICS, OtaLane
from fleetgate.restart_presence import RestartPresence
from fleetgate.settings import Settings
from ports.messaging import InboundMessage, MessageHandler

log = logging.getLogger("fleetgate.devices")

PRESENCE_STOP_SECONDS = 5.0
DRAIN_SECONDS = 5.0
"""How long stop lets the bus's workers, then the ingest and OTA consumers, finish what is
queued (each)."""
EMBEDDED_BACKOFF_CAP = 2.0
"""The embedded broker is in this process: reconnect to it quickly after it restarts."""


class DeviceRuntime:
    """The gateway's device side in this process: started and stopped with the app."""

    def __init__(self, settings: Settings, container: Container) -> None:
        self._settings = settings
        self._access: DeviceAccess = container.device_access()
        self._events: InProcessEvents = container.events()
        self._gateway_password: str = container.gateway_password()
        self._gateway_client_prefix: str = container.gateway_client_prefix()
        self._commands: MqttNodeCommands = container.node_commands()
        self._mapping: NodeMapping = container.node_mapping()
        self._ota_publisher: MqttOtaPublisher = container.ota_publisher()
        self.broker: EmbeddedBroker | None = None
        self.bus: AiomqttBus | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.presence = RestartPresence(
            container.node_presence(), self._events,
            grace_seconds=settings.device_offline_grace_seconds)
        self.ota = OtaLane(container.ota_delivery())
        self.reactions = self._reactions(container.pending_params())
        self.ingest = IngestPipeline(container.ingest(), self._events, self.reactions)
        # the queues fleetgate.observability.metrics reports the depth of
        self._inbox, self._ota_inbox = self.ingest.inbox, self.ota.inbox

    def _reactions(self, pending: PendingParams) -> Reactions:
        """What follows device events here: pending desired params resent on connect (in
        the background: ingest does not wait for it); an OTA offer when a node says it is
        connected and when its config changed (into the OTA lane, in order)."""
        reactions = Reactions()
        reactions.on(NODE_CONNECTED, self._in_background(pending.resend))
        reactions.on(NODE_SAID_CONNECTED, self.ota.reaction(CONNECTED))
        reactions.on(NODE_CONFIG_CHANGED, self.ota.reaction(CONFIG))
        return reactions

    def _in_background(self, reaction: Reaction) -> Reaction:
        async def spawn(event: NodeEvent) -> None:
            self._spawn(self._run_logged(reaction, event))
        return spawn

    @staticmethod
    async def _run_logged(reaction: Reaction, event: NodeEvent) -> None:
        try:
            await reaction(event)
        except Exception:  # a background reaction's failure is logged, never ingest's
            log.exception("%s after %s of node %s failed",
                          getattr(reaction, "__qualname__", reaction), event.kind,
                          event.node_id[:64])

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _endpoint(self) -> tuple[str, int, str, str]:
        if self._settings.mqtt_url is None:
            return "127.0.0.1", self._settings.mqtt_port, GATEWAY_USERNAME, self._gateway_password
        url = urlparse(self._settings.mqtt_url)
        return (url.hostname or "127.0.0.1", url.port or 1883,
                unquote(url.username) if url.username else GATEWAY_USERNAME,
                unquote(url.password) if url.password else self._gateway_password)

    def _hearing(self, handler: MessageHandler) -> MessageHandler:
        """The bus handler noting that the message's node was heard, then handling it."""
        async def handle(message: InboundMessage) -> None:
            self.presence.note_heard(message)
            await handler(message)
        return handle

    async def _on_mapping(self, message: InboundMessage) -> None:
        """The node's half of the user-node mapping handshake."""
        node_id = message.topic.split("/")[1] if message.topic.count("/") == 3 else ""
        outcome = await self._mapping.node_half(node_id, message.payload)
        log.info("mapping message of node %s: %s", node_id[:64], outcome)

    async def start(self) -> None:
        self.presence.restarted()
        if self._settings.mqtt_url is None:
            self.broker = EmbeddedBroker(port=self._settings.mqtt_port, access=GatewayFirstAccess(
                self._access, self._listening))
            await self.broker.start()
        host, port, username, password = self._endpoint()
        # the client id carries the installation's secret prefix: nobody can claim it
        self.bus = AiomqttBus(host, port, client_id=f"{self._gateway_client_prefix}-{port}",
                              username=username, password=password, overflow="wait",
                              heartbeat_interval=self._settings.mqtt_heartbeat_seconds,
                              backoff_cap=EMBEDDED_BACKOFF_CAP if self.broker else 30.0)
        for suffix in SUFFIXES:
            self.bus.subscribe(f"node/+/{suffix}", self._hearing(self.ingest.accept))
        self.bus.subscribe("node/+/user/mapping", self._hearing(self._on_mapping))
        for suffix in OTA_TOPICS:
            self.bus.subscribe(f"node/+/{suffix}", self._hearing(self.ota.accept))
        self._commands.bus = self.bus
        self._ota_publisher.bus = self.bus
        self.ota.start()
        self.ingest.start()
        self._task = asyncio.create_task(self.bus.run())
        self.presence.start(self._listening)
        log.info("device runtime started (broker %s:%s)", host, port)

    def _listening(self) -> bool:
        """Whether the gateway's bus is connected and subscribed."""
        return self.bus is not None and self.bus.connected

    async def stop(self) -> None:
        self._commands.bus = None
        self._ota_publisher.bus = None  # offers made while stopping are sent on reconnect
        await self.presence.stop(within=PRESENCE_STOP_SECONDS)
        await self.ota.stop_sweeping()
        if self.bus is not None:
            await self.bus.stop(drain_timeout=DRAIN_SECONDS)  # its workers fill the inbox
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.ingest.drain(within=DRAIN_SECONDS)
        await self.ota.drain(within=DRAIN_SECONDS)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.broker is not None:
            await self.broker.stop()

    def workers(self) -> dict[str, bool]:
        """Whether each long-running background task is alive (for /readyz and metrics)."""
        tasks = {"ingest": self.ingest.consumer, "ota": self.ota.consumer,
                 "ota_sweep": self.ota.sweeper, "bus": self._task}
        return {name: task is not None and not task.done() for name, task in tasks.items()}

    def describe(self) -> str:
        """Counters, for logs and the ingest benchmark."""
        bus = self.bus
        received = f"bus received {bus.received}, dropped {bus.dropped}; " if bus else ""
        return received + self.ingest.describe()

    # --- what fleetgate.observability reads and sets by name, kept by the pieces ------------

    @property
    def batches(self) -> int:
        return self.ingest.batches

    @property
    def ingested(self) -> int:
        return self.ingest.ingested

    @property
    def dropped(self) -> int:
        return self.ingest.dropped

    @property
    def refused(self) -> int:
        return self.ingest.refused

    @property
    def poison_dropped(self) -> int:
        return self.ingest.poison_dropped

    @property
    def split_batches(self) -> int:
        return self.ingest.split_batches

    @property
    def ota_handled(self) -> int:
        return self.ota.handled

    @property
    def ota_ignored(self) -> int:
        return self.ota.ignored

    @property
    def batch_observer(self) -> Callable[[float], None] | None:
        return self.ingest.batch_observer

    @batch_observer.setter
    def batch_observer(self, observer: Callable[[float], None] | None) -> None:
        self.ingest.batch_observer = observer
