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

A batch holds every organization's reports, so one message must not fail it for all: ingest
refuses beforehand what the database cannot store, and a batch that still fails to write is
tried once more, then node by node, then (for a node that still fails) message by message in
arrival order, so a message the database refuses while it answers is dropped alone (counted
in poison_dropped). Only when the database stops answering is the rest dropped as before.

What follows a device event (resending pending desired params on connect, OTA offers on
connect and config changes, and what later features register) is domain.devices.reactions'
table, which this runtime builds at start and runs after each batch's events are published.
Everything OTA (otafetch, otastatus, and those offers) goes through one ordered lane into
domain.ota.delivery, whose sweep runs every ota_sweep_seconds.

After a restart, nodes still marked connected but not heard from within the grace period
(settings.device_offline_grace_seconds) are marked offline: their last wills died with the
embedded broker, or with an external broker that kept no sessions (domain.devices.presence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlparse

from adapters.events import InProcessEvents
from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.commands import MqttNodeCommands
from adapters.mqtt.embedded import EmbeddedBroker
from adapters.mqtt.ota import MqttOtaPublisher
from domain.devices.access import DeviceAccess
from domain.devices.ingest import (
    SUFFIXES,
    DeviceIngest,
    IngestResult,
    parse_topic,
    says_connected,
)
from domain.devices.mapping import NodeMapping
from domain.devices.model import NODE_ID, NodeEvent
from domain.devices.presence import NodePresence
from domain.devices.reactions import (
    NODE_CONFIG_CHANGED,
    NODE_CONNECTED,
    NODE_SAID_CONNECTED,
    PendingParams,
    Reaction,
    Reactions,
)
from domain.ota.delivery import CONFIG, CONNECTED, MESSAGE_KINDS, OtaDelivery
from fleetgate.container import GATEWAY_USERNAME, Container
from fleetgate.settings import Settings
from ports.messaging import InboundMessage

log = logging.getLogger("fleetgate.devices")

INBOX_SIZE = 10_000
BATCH_MAX = 500
BATCH_SMALL, BATCH_LINGER_SECONDS = 50, 0.005
"""A batch smaller than BATCH_SMALL waits BATCH_LINGER_SECONDS once for more messages: a
few ms of latency that saves transactions when traffic is steady but not saturating."""
BATCH_RETRIES = (0.2, 1.0, 3.0)
"""When a batch failed to write (nothing was committed): the pause before trying it whole
once more, then those between asking a database that stopped answering whether it is back,
before the rest is dropped."""
POISON_LOGGED_PER_BATCH = 5
"""Messages dropped alone that are logged one by one per batch (then one summary line)."""
PRESENCE_POLL_SECONDS = 0.1
PRESENCE_RETRY_SECONDS = 30.0
PRESENCE_STOP_SECONDS = 5.0
DRAIN_SECONDS = 5.0


OTA_INBOX_SIZE = 10_000
OTA_SWEEP_SECONDS = 30.0
"""How often the gateway expires OTA jobs past their timeout/validity and offers jobs whose
download window just opened (DeviceRuntime.ota_sweep_seconds, per instance, for tests)."""
OTA_TOPICS = MESSAGE_KINDS


EMBEDDED_BACKOFF_CAP = 2.0
"""The embedded broker is in this process: reconnect to it quickly after it restarts."""


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


class GatewayFirstAccess:
    """The embedded broker's access checks, admitting devices only while the gateway is
    connected and subscribed. amqtt keeps no sessions across a restart, so a device that came
    back before the gateway would publish (and re-report its state) to nobody; refused, it
    retries, and reports once the gateway listens."""

    def __init__(self, access: DeviceAccess, gateway_listening: Callable[[], bool]) -> None:
        self._access, self._listening = access, gateway_listening

    async def authenticate(self, username: object, password: object,
                           client_id: object = None) -> bool:
        if not (self._access.is_gateway(username if isinstance(username, str) else None)
                or self._listening()):
            log.info("broker refused device %r: the gateway is not listening yet", username)
            return False
        return await self._access.authenticate(username, password, client_id)

    def may_use_topic(self, username: str | None, topic: str | None, action: str) -> bool:
        return self._access.may_use_topic(username, topic, action)

    def may_retain(self, username: str | None, topic: str) -> bool:
        return self._access.may_retain(username, topic)


class DeviceRuntime:
    def __init__(self, settings: Settings, container: Container) -> None:
        self._settings = settings
        self._access: DeviceAccess = container.device_access()
        self._ingest: DeviceIngest = container.ingest()
        self._events: InProcessEvents = container.events()
        self._gateway_password: str = container.gateway_password()
        self._gateway_client_prefix: str = container.gateway_client_prefix()
        self._commands: MqttNodeCommands = container.node_commands()
        self._mapping: NodeMapping = container.node_mapping()
        self._ota: OtaDelivery = container.ota_delivery()
        self._ota_publisher: MqttOtaPublisher = container.ota_publisher()
        self._ota_inbox: asyncio.Queue[tuple[str, str, str | None, bytes]] = asyncio.Queue(
            maxsize=OTA_INBOX_SIZE)
        self._ota_consumer: asyncio.Task[None] | None = None
        self._ota_sweeper: asyncio.Task[None] | None = None
        self.ota_sweep_seconds = OTA_SWEEP_SECONDS
        self.ota_handled = self.ota_ignored = 0
        self.broker: EmbeddedBroker | None = None
        self.bus: AiomqttBus | None = None
        self._task: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[InboundMessage] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._consumer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.batch_retries: tuple[float, ...] = BATCH_RETRIES
        self.batch_linger_seconds = BATCH_LINGER_SECONDS
        self.batches = self.ingested = self.dropped = 0
        self.batch_observer: Callable[[float], None] | None = None  # seconds per written batch
        self.refused = 0  # refused before batching: payloads the database could not store
        self.split_batches = 0  # batches that failed whole and were written node by node
        self.poison_dropped = 0  # messages the database refused, dropped alone
        self._presence: NodePresence = container.node_presence()
        self._started_at: datetime | None = None
        self._heard: dict[str, datetime] | None = None  # node -> last heard, until checked
        self._presence_task: asyncio.Task[None] | None = None
        self.marked_offline = 0  # nodes marked offline after a restart, not heard since
        self.reactions = self._reactions(container.pending_params())

    def _reactions(self, pending: PendingParams) -> Reactions:
        """What follows device events here: pending desired params resent on connect (in
        the background: ingest does not wait for it); an OTA offer when a node says it is
        connected and when its config changed (into the OTA lane, in order)."""
        reactions = Reactions()
        reactions.on(NODE_CONNECTED, self._in_background(pending.resend))
        reactions.on(NODE_SAID_CONNECTED, self._into_ota_lane(CONNECTED))
        reactions.on(NODE_CONFIG_CHANGED, self._into_ota_lane(CONFIG))
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

    def _into_ota_lane(self, kind: str) -> Reaction:
        async def enqueue(event: NodeEvent) -> None:
            await self._ota_inbox.put((kind, event.node_id, event.org_id, b""))
        return enqueue

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
        self._note_heard(message)
        await self._inbox.put(message)

    def _note_heard(self, message: InboundMessage) -> None:
        """Remembers when a node was last heard, until the check after the restart ran. A
        retained message only counts when it says connected: the broker still holds the
        node's session (its will has not replaced the message)."""
        if self._heard is None or (message.retain and not says_connected(message.topic,
                                                                          message.payload)):
            return
        parts = message.topic.split("/", 2)
        if len(parts) == 3 and parts[0] == "node" and NODE_ID.match(parts[1]):
            self._heard[parts[1]] = self._presence.clock.now()

    async def _consume(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            self._take_queued(batch)
            if len(batch) < BATCH_SMALL:  # a moment for more: fewer, fuller transactions
                await asyncio.sleep(self.batch_linger_seconds)
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
        failure = await self._write(batch)
        if failure is None:
            return
        pause = self.batch_retries[0] if self.batch_retries else 0.0
        log.warning("ingest batch of %d failed (%s); trying again in %.1fs",
                    len(batch), _brief(failure), pause)
        await asyncio.sleep(pause)
        if await self._write(batch) is None:
            return
        self.split_batches += 1
        groups: dict[str, list[InboundMessage]] = {}
        for message in batch:  # a node's messages keep their order
            parsed = parse_topic(message.topic)
            groups.setdefault(parsed[0] if parsed else message.topic, []).append(message)
        log.warning("ingest batch of %d failed twice: writing it node by node (%d nodes)",
                    len(batch), len(groups))
        poisoned: list[str] = []
        pending = list(groups.values())
        for index, group in enumerate(pending):
            left = await self._write_node(group, poisoned)
            if left:
                left += sum(len(g) for g in pending[index + 1:])
                self.dropped += left
                log.error("dropped %d device messages: the database stopped answering "
                          "(%d dropped so far)", left, self.dropped)
                break
        if len(poisoned) > POISON_LOGGED_PER_BATCH:
            log.error("dropped %d more device messages of that batch alone (the database "
                      "refused them)", len(poisoned) - POISON_LOGGED_PER_BATCH)

    async def _write_node(self, group: list[InboundMessage], poisoned: list[str]) -> int:
        """One node's messages of a failed batch: together, else one by one in order, a
        message that fails twice while the database answers dropped alone. Returns how many
        were left unwritten because the database stopped answering (0: all handled)."""
        if len(group) > 1:
            if await self._write(group) is None:
                return 0
            if not await self._database_answers(group[0]):
                return len(group)
            for index, message in enumerate(group):
                if await self._write_node([message], poisoned):
                    return len(group) - index
            return 0
        message, failures = group[0], []
        for _ in range(2):  # once more: what failed may have been a passing hiccup
            failure = await self._write(group)
            if failure is None:
                return 0
            if not await self._database_answers(message):
                return 1
            failures.append(failure)
        failure = failures[-1]
        self.poison_dropped += 1
        poisoned.append(message.topic)
        if len(poisoned) <= POISON_LOGGED_PER_BATCH:
            log.error("dropped a device message on %s alone: the database refused it (%s); "
                      "%d dropped so far", message.topic[:200], _brief(failure),
                      self.poison_dropped, exc_info=failure)
        return 0

    async def _database_answers(self, message: InboundMessage) -> bool:
        """Whether the database answers a read of the message's node, now or after the
        pauses of batch_retries: a message fails alone only while the database answers."""
        node_id = message.topic.split("/")[1] if message.topic.count("/") >= 2 else ""
        for pause in (0.0, *self.batch_retries[1:]):
            if pause:
                log.warning("the database does not answer; asking again in %.1fs", pause)
                await asyncio.sleep(pause)
            try:
                await self._ingest.probe(node_id[:64])
                return True
            except Exception as exc:
                log.warning("the database does not answer a read: %s", _brief(exc))
        return False

    async def _write(self, batch: list[InboundMessage]) -> BaseException | None:
        """Ingests the messages and publishes what they caused; the failure, when nothing
        was committed."""
        started = asyncio.get_running_loop().time()
        try:
            results = await self._ingest.handle_batch([(m.topic, m.payload) for m in batch])
        except Exception as exc:
            return exc
        if self.batch_observer is not None:  # the ingest batch latency metric
            self.batch_observer(asyncio.get_running_loop().time() - started)
        self.batches += 1
        self.ingested += len(batch)
        self.refused += sum(1 for r in results if r.refused)
        await self._publish(results)
        return None

    async def _publish(self, results: list[IngestResult]) -> None:
        """Each message's events published, each followed by its reactions; then, when the
        message said the node is connected (also when that changed nothing), those."""
        for result in results:
            for event in result.events:
                await self._events.publish(event)
                await self.reactions.react(event)
            if result.said_connected is not None:
                await self.reactions.react(result.said_connected)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_mapping(self, message: InboundMessage) -> None:
        """The node's half of the user-node mapping handshake."""
        self._note_heard(message)
        node_id = message.topic.split("/")[1] if message.topic.count("/") == 3 else ""
        outcome = await self._mapping.node_half(node_id, message.payload)
        log.info("mapping message of node %s: %s", node_id[:64], outcome)

    # --- OTA: otafetch / otastatus, offers on connect and config, the periodic sweep -------
    #
    # Everything OTA goes through one ordered queue and one consumer: a node's otastatus
    # reports are applied in arrival order, and an offer (connect, otafetch, a report that
    # frees the node for its next job) never races another offer for the same node in this
    # gateway, so a node is never offered two jobs at once.

    async def _on_ota(self, message: InboundMessage) -> None:
        """Bus handler for node/+/otafetch and node/+/otastatus: queued for the OTA consumer
        (waiting, and so holding the bus back, while that queue is full)."""
        self._note_heard(message)
        parts = message.topic.split("/")
        if len(parts) != 3 or parts[2] not in OTA_TOPICS:
            return
        await self._ota_inbox.put((parts[2], parts[1], None, message.payload))

    async def _consume_ota(self) -> None:
        while True:
            item = await self._ota_inbox.get()
            try:
                outcome = await self._ota.handle(*item)
                if outcome.handled:
                    self.ota_handled += 1
                elif outcome.ignored is not None:
                    self.ota_ignored += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad message or a database hiccup must not stop OTA
                self.ota_ignored += 1
                log.exception("OTA %s of node %s failed", item[0], item[1][:64])
            finally:
                self._ota_inbox.task_done()

    async def ota_sweep(self) -> None:
        """One pass of the OTA sweep (OtaDelivery.sweep: expiry, jobs just due, paced
        rollouts), paced by this runtime's ota_sweep_seconds."""
        await self._ota.sweep(sweep_seconds=self.ota_sweep_seconds)

    async def _sweep_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.ota_sweep_seconds)
            try:
                await self.ota_sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("OTA sweep failed; trying again in %.0fs", self.ota_sweep_seconds)

    async def start(self) -> None:
        self._started_at, self._heard = self._presence.clock.now(), {}
        if self._settings.mqtt_url is None:
            self.broker = EmbeddedBroker(port=self._settings.mqtt_port, access=GatewayFirstAccess(
                self._access, lambda: self.bus is not None and self.bus.connected))
            await self.broker.start()
        host, port, username, password = self._endpoint()
        # the client id carries the installation's secret prefix: nobody can claim it
        self.bus = AiomqttBus(host, port, client_id=f"{self._gateway_client_prefix}-{port}",
                              username=username, password=password, overflow="wait",
                              heartbeat_interval=self._settings.mqtt_heartbeat_seconds,
                              backoff_cap=EMBEDDED_BACKOFF_CAP if self.broker else 30.0)
        for suffix in SUFFIXES:
            self.bus.subscribe(f"node/+/{suffix}", self._on_message)
        self.bus.subscribe("node/+/user/mapping", self._on_mapping)
        for suffix in OTA_TOPICS:
            self.bus.subscribe(f"node/+/{suffix}", self._on_ota)
        self._commands.bus = self.bus
        self._ota_publisher.bus = self.bus
        self._ota_consumer = asyncio.create_task(self._consume_ota(), name="device-ota")
        self._ota_sweeper = asyncio.create_task(self._sweep_periodically(), name="ota-sweep")
        self._consumer = asyncio.create_task(self._consume(), name="device-ingest")
        self._task = asyncio.create_task(self.bus.run())
        self._presence_task = asyncio.create_task(self._check_presence(), name="presence")
        log.info("device runtime started (broker %s:%s)", host, port)

    async def _check_presence(self) -> None:
        """Once the gateway listens and the grace has passed, the nodes not heard from since
        the start are marked offline (tried again while the database fails)."""
        assert self._started_at is not None
        while self.bus is None or not self.bus.connected:  # noqa: ASYNC110 - the bus has no
            await asyncio.sleep(PRESENCE_POLL_SECONDS)     # "connected" event; once a start
        grace = timedelta(seconds=self._settings.device_offline_grace_seconds)
        await asyncio.sleep(grace.total_seconds())
        while True:
            try:
                events = await self._presence.mark_unheard_offline(
                    restarted_at=self._started_at, grace=grace, last_heard=self._heard or {})
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
                 "restart marked offline", len(events), grace.total_seconds())

    def workers(self) -> dict[str, bool]:
        """Whether each long-running background task is alive (for /readyz and metrics)."""
        tasks = {"ingest": self._consumer, "ota": self._ota_consumer,
                 "ota_sweep": self._ota_sweeper, "bus": self._task}
        return {name: task is not None and not task.done() for name, task in tasks.items()}

    def describe(self) -> str:
        """Counters, for logs and the ingest benchmark."""
        bus = self.bus
        received = f"bus received {bus.received}, dropped {bus.dropped}; " if bus else ""
        return (f"{received}ingested {self.ingested} in {self.batches} batches, "
                f"dropped {self.dropped}, refused {self.refused}, poison dropped "
                f"{self.poison_dropped}")

    async def stop(self) -> None:
        self._commands.bus = None
        self._ota_publisher.bus = None  # offers made while stopping are sent on reconnect
        if self._presence_task is not None:  # a check cut short is rolled back, and redone
            self._presence_task.cancel()     # at the next start
            await asyncio.wait({self._presence_task}, timeout=PRESENCE_STOP_SECONDS)
        if self._ota_sweeper is not None:
            self._ota_sweeper.cancel()
            await asyncio.gather(self._ota_sweeper, return_exceptions=True)
        if self.bus is not None:
            await self.bus.stop(drain_timeout=DRAIN_SECONDS)  # its workers fill the inbox
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._drain()
        await self._drain_ota()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.broker is not None:
            await self.broker.stop()

    async def _drain_ota(self) -> None:
        """Lets the OTA consumer finish what is queued (ingest queued connect/config work
        into it while draining), for a while; what is left is offered again on reconnect."""
        if self._ota_consumer is None:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await self._ota_inbox.join()
        except TimeoutError:
            pass
        self._ota_consumer.cancel()
        await asyncio.gather(self._ota_consumer, return_exceptions=True)
        left = self._ota_inbox.qsize()
        if left:
            log.warning("left %d OTA messages unhandled at stop", left)

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
