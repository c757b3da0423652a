"""The embedded broker at our trust boundary (issue: tenant leak and gateway takeover).

- retained messages never cross a device's own prefix, and only connectivity is retained;
- no CONNECT, authenticated or not, can knock the gateway off: authentication comes before
  any session is touched, client ids are bound to their credentials, and the gateway's bus
  notices (heartbeat) and heals a subscription a broker dropped anyway;
- a will on another node's topic is refused;
- 200 devices connecting at once while traffic flows lose no message;
- stop() is bounded and idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiomqtt
import pytest

from adapters.mqtt.amqtt_broker import FleetgateBroker
from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.embedded import EmbeddedBroker
from domain.devices.access import DeviceAccess
from ports.messaging import InboundMessage
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env
from tests.integration.test_mqtt_broker import free_port
from tests.integration.test_simulator import until

GATEWAY = ("fleetgate-gateway", "gateway-secret-0123456789")
PREFIX = "fleetgate-gateway-0123456789abcdef"
# every topic kind a device or the cloud uses (device → cloud, then cloud → device)
KINDS = ("connection", "config", "params/local", "params/local/init", "otafetch", "otastatus",
         "user/mapping", "tsdata", "alert", "from-node", "params/remote", "otaurl", "to-node")


class InMemoryAccess:
    """DeviceAccess's decisions over fixed credentials: node N's password is "pw-N"."""

    def __init__(self) -> None:
        self.rules = DeviceAccess(uow=None,  # type: ignore[arg-type]
                                  gateway_username=GATEWAY[0], gateway_password=GATEWAY[1],
                                  gateway_client_prefix=PREFIX)

    async def authenticate(self, username: object, password: object,
                           client_id: object = None) -> bool:
        if self.rules.is_gateway(username if isinstance(username, str) else None):
            return await self.rules.authenticate(username, password, client_id)
        return (isinstance(username, str) and password == f"pw-{username}"
                and self.rules.client_id_allowed(username, client_id))

    def may_use_topic(self, username: str | None, topic: str | None, action: str) -> bool:
        return self.rules.may_use_topic(username, topic, action)

    def may_retain(self, username: str | None, topic: str) -> bool:
        return self.rules.may_retain(username, topic)


@pytest.fixture
async def broker():  # type: ignore[no-untyped-def]
    b = EmbeddedBroker(port=free_port(), access=InMemoryAccess())
    await b.start()
    yield b
    await b.stop()


def device(broker: EmbeddedBroker, node_id: str, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, identifier=node_id, username=node_id,
                          password=f"pw-{node_id}", **kw)  # type: ignore[arg-type]


def gateway_client(broker: EmbeddedBroker, suffix: str = "a") -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, identifier=f"{PREFIX}-{suffix}",
                          username=GATEWAY[0], password=GATEWAY[1], clean_session=False)


async def collect(client: aiomqtt.Client, seconds: float) -> list[tuple[str, bool]]:
    """What the client receives within `seconds`: (topic, retained)."""
    got: list[tuple[str, bool]] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                got.append((message.topic.value, message.retain))
    return got


async def test_retained_messages_never_cross_a_devices_prefix(broker: EmbeddedBroker) -> None:
    async with gateway_client(broker) as gw:
        for kind in ("connection", "config", "params/local", "params/local/init", "otastatus"):
            await gw.subscribe(f"node/+/{kind}", qos=1)  # what the real gateway holds
        await gw.subscribe("node/#", qos=1)
        async with device(broker, "ORGANODE") as a:
            for kind in KINDS:  # a device of organization A retains on every topic kind...
                await a.publish(f"node/ORGANODE/{kind}", b'{"connected": true}', qos=1,
                                retain=True)
        for kind in ("params/remote", "otaurl", "to-node"):  # ... and so does the cloud
            await gw.publish(f"node/ORGANODE/{kind}", b"{}", qos=1, retain=True)
        await gw.publish("node/ORGBNODE/params/remote", b'{"for": "B"}', qos=1)
        # a device of organization B connects without subscribing, then subscribes to all of
        # its own topics: it gets nothing of A's, retained or not
        async with device(broker, "ORGBNODE") as b:
            silent = await collect(b, 0.5)
            await b.subscribe("node/ORGBNODE/#", qos=1)
            subscribed = await collect(b, 0.5)
        assert silent == [] and subscribed == []
        # A, back, gets no retained message: only connectivity is ever retained, and A reads
        # only what the cloud sends it
        async with device(broker, "ORGANODE") as a:
            await a.subscribe("node/ORGANODE/#", qos=1)
            assert await collect(a, 0.5) == []
    # the connectivity message stays retained, for the gateway
    async with gateway_client(broker, "b") as fresh:
        await fresh.subscribe("node/+/connection", qos=1)
        assert await collect(fresh, 0.5) == [("node/ORGANODE/connection", True)]
        await fresh.subscribe("node/+/params/local", qos=1)
        assert await collect(fresh, 0.3) == []


async def test_a_device_receives_only_the_cloud_to_device_topics_of_its_own_prefix(
        broker: EmbeddedBroker) -> None:
    async with device(broker, "NODEA") as a, gateway_client(broker) as gw:
        await a.subscribe("node/NODEA/#", qos=1)
        for kind in KINDS:
            await gw.publish(f"node/NODEA/{kind}", b"{}", qos=1)
            await gw.publish(f"node/NODEB/{kind}", b"{}", qos=1)
        got = sorted(topic for topic, _ in await collect(a, 0.5))
    assert got == ["node/NODEA/otaurl", "node/NODEA/params/remote", "node/NODEA/to-node"]


async def test_an_unauthenticated_connect_with_the_gateways_client_id_changes_nothing(
        broker: EmbeddedBroker) -> None:
    async with gateway_client(broker) as gw:
        await gw.subscribe("node/+/params/local", qos=1)
        for clean in (True, False):  # with and without clean session, wrong or no password
            for password in ("guess", None):
                with pytest.raises(aiomqtt.MqttError):
                    async with aiomqtt.Client(
                            "127.0.0.1", broker.port, identifier=f"{PREFIX}-a",
                            username=GATEWAY[0] if password else None, password=password,
                            clean_session=clean):
                        pass
        async with device(broker, "NODEA") as a:
            await a.publish("node/NODEA/params/local", b'{"x": 1}', qos=1)
        assert await collect(gw, 0.5) == [("node/NODEA/params/local", False)]


async def test_client_ids_are_bound_to_their_credentials(broker: EmbeddedBroker) -> None:
    for identifier, username, password in [
            ("NODEB", "NODEA", "pw-NODEA"),           # a device under another's client id
            (f"{PREFIX}-a", "NODEA", "pw-NODEA"),     # a device under the gateway's
            ("fleetgate-gateway-1884", *GATEWAY),     # the gateway without its secret prefix
    ]:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier=identifier,
                                      username=username, password=password):
                pass
    async with device(broker, "NODEA"), gateway_client(broker):
        pass


async def test_a_will_on_another_nodes_topic_is_refused(broker: EmbeddedBroker) -> None:
    will = aiomqtt.Will("node/VICTIM/params/local", b'{"Light": {"power": false}}', qos=1)
    with pytest.raises(aiomqtt.MqttError):
        async with device(broker, "NODEA", will=will):
            pass
    own = aiomqtt.Will("node/NODEA/connection", b'{"connected": false}', qos=1, retain=True)
    async with device(broker, "NODEA", will=own):
        pass


async def test_two_hundred_devices_connecting_at_once_lose_no_message(
        broker: EmbeddedBroker) -> None:
    """amqtt's broadcast loop iterated the subscription map across awaits: a device
    subscribing meanwhile raised 'dictionary changed size during iteration' and the message
    was lost for every remaining subscriber."""
    received: list[str] = []
    sent = 0
    arrived = asyncio.Event()
    async with gateway_client(broker, "first") as first, gateway_client(broker) as gw:
        # two subscribers of each message; the one counted holds the later filter, which a
        # broadcast interrupted by the RuntimeError never reached
        await first.subscribe("node/+/params/local", qos=1)
        await gw.subscribe("node/#", qos=1)

        async def count() -> None:
            async for message in gw.messages:
                if message.topic.value.endswith("/params/local"):
                    received.append(message.topic.value)

        counter = asyncio.create_task(count())

        async def steady(i: int) -> None:  # reports until every new device has arrived
            nonlocal sent
            async with device(broker, f"STEADY{i}") as d:
                n = 0
                while not arrived.is_set() or n < 20:
                    await d.publish(f"node/STEADY{i}/params/local", json.dumps({"n": n}),
                                    qos=1)
                    sent += 1
                    n += 1

        async def arrive(i: int) -> None:  # connects, subscribes, reports once
            async with device(broker, f"NEW{i:03d}") as d:
                for kind in ("params/remote", "otaurl", "to-node"):
                    await d.subscribe(f"node/NEW{i:03d}/{kind}", qos=1)
                await d.publish(f"node/NEW{i:03d}/params/local", b"{}", qos=1)

        async def arrivals() -> None:
            await asyncio.gather(*(arrive(i) for i in range(200)))
            arrived.set()

        async with asyncio.timeout(45):
            await asyncio.gather(*(steady(i) for i in range(10)), arrivals())
        await until(lambda: len(received) >= sent + 200, "every message", within=30)
        await asyncio.sleep(0.2)  # nothing more (no duplicates) arrives
        counter.cancel()
    assert sent >= 200
    assert len(received) == sent + 200


async def test_broker_stop_is_bounded_and_idempotent() -> None:
    broker = EmbeddedBroker(port=free_port(), access=InMemoryAccess(), stop_seconds=1.0)
    await broker.start()
    stuck: list[aiomqtt.Client] = []
    for i in range(5):  # clients that stop reading while messages keep coming
        client = device(broker, f"STUCK{i}")
        await client.__aenter__()
        await client.subscribe(f"node/STUCK{i}/params/remote", qos=1)
        stuck.append(client)
    async with gateway_client(broker) as gw:
        for i in range(5):
            for _ in range(50):
                await gw.publish(f"node/STUCK{i}/params/remote", b"x" * 10_000, qos=0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(broker.stop(), broker.stop())
    await broker.stop()
    assert loop.time() - started < 4.0
    assert not broker.running
    for client in stuck:  # their connections are gone: a new one is refused
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)
    with pytest.raises(aiomqtt.MqttError):
        async with device(broker, "STUCK0"):
            pass


async def test_the_gateway_bus_heals_a_subscription_the_broker_dropped() -> None:
    """A broker that silently drops the gateway's session (as amqtt did on another client's
    CONNECT): the heartbeat stops arriving, the bus resubscribes, then reconnects."""
    broker = EmbeddedBroker(port=free_port(), access=InMemoryAccess())
    await broker.start()
    got: list[str] = []

    async def handler(message: InboundMessage) -> None:
        got.append(message.topic)

    bus = AiomqttBus("127.0.0.1", broker.port, client_id=f"{PREFIX}-hb",
                     username=GATEWAY[0], password=GATEWAY[1], heartbeat_interval=0.1,
                     backoff_initial=0.05, backoff_cap=0.1)
    bus.subscribe("node/+/params/local", handler)
    task = asyncio.create_task(bus.run())
    try:
        await until(lambda: bus.heartbeat_age() is not None, "a first heartbeat")
        inner = broker._broker
        assert isinstance(inner, FleetgateBroker)
        await inner._delete_session(bus.client_id)  # the defect, reproduced directly
        await until(lambda: bus.heartbeat_reconnects > 0, "a reconnect")
        await until(lambda: bus.connects >= 2 and bus.heartbeat_age() is not None,
                    "heartbeats again on the new connection")
        async with device(broker, "NODEA") as a:
            await a.publish("node/NODEA/params/local", b"{}", qos=1)
        await until(lambda: bool(got), "the report")
        assert bus.resubscribes >= 1 and bus.connects >= 2
        assert got == ["node/NODEA/params/local"]
    finally:
        await bus.stop(drain_timeout=0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await broker.stop()


async def test_a_running_gateway_uses_its_secret_client_id_and_stays_subscribed(
        gateway: Env) -> None:
    """Through the real runtime: an attacker's CONNECT with the old predictable id, or with
    the real one, does not unsubscribe the gateway."""
    runtime = gateway.app.state.devices_runtime
    bus = runtime.bus
    prefix = gateway.container.gateway_client_prefix()
    assert bus.client_id.startswith(prefix + "-") and len(prefix) > len("fleetgate-gateway-")
    if runtime.broker is None:
        pytest.skip("an external broker: its own CONNECT handling applies")
    for identifier in (f"fleetgate-gateway-{runtime.broker.port}", bus.client_id):
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", runtime.broker.port, identifier=identifier,
                                      clean_session=True):
                pass
    node = await gateway.provision_node("acme")
    async with aiomqtt.Client("127.0.0.1", runtime.broker.port, identifier=node.node_id,
                              username=node.node_id, password=node.mqtt_password) as d:
        await d.publish(f"node/{node.node_id}/params/local", b'{"Light": {"power": true}}',
                        qos=1)
    async with asyncio.timeout(10):
        while True:
            async with gateway.container.uow()(SYSTEM_SCOPE) as uow:
                stored = await uow.nodes.get(node.node_id)
            if stored is not None and stored.reported.get("Light"):
                break
            await asyncio.sleep(0.05)
    assert bus.heartbeat_misses == 0


async def test_no_client_gets_in_while_the_broker_stops(broker: EmbeddedBroker) -> None:
    """A device reconnecting during shutdown used to get a session shutdown() never saw: it
    went on publishing, acknowledged, into a broker nobody listened to."""
    inner = broker._broker
    assert isinstance(inner, FleetgateBroker)
    async with device(broker, "NODEA"):
        pass
    inner.begin_stop()
    with pytest.raises(aiomqtt.MqttError):
        async with device(broker, "NODEA"):
            pass
