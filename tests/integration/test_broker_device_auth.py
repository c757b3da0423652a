"""The embedded broker admits a device only with its credentials, and only to its own
node/<node_id>/ topics; the gateway's credential reaches everything."""

from __future__ import annotations

import asyncio

import aiomqtt
import pytest

from adapters.mqtt.embedded import EmbeddedBroker
from domain.devices.access import DeviceAccess
from tests.conftest import Env
from tests.integration.test_mqtt_broker import free_port

GATEWAY = ("fleetgate-gateway", "gateway-secret-0123456789")


async def provision(env: Env, org_name: str = "org") -> tuple[str, str]:
    node = await env.provision_node(org_name)
    return node.node_id, node.mqtt_password


@pytest.fixture
async def broker(env: Env):  # type: ignore[no-untyped-def]
    access = DeviceAccess(uow=env.container.uow(), gateway_username=GATEWAY[0],
                          gateway_password=GATEWAY[1])
    b = EmbeddedBroker(port=free_port(), access=access)
    await b.start()
    yield b
    await b.stop()


async def test_device_connects_only_with_its_credentials(env: Env, broker: EmbeddedBroker
                                                         ) -> None:
    node_id, password = await provision(env)
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier=node_id, username=node_id,
                              password=password):
        pass
    for user, pw in [(node_id, "wrong"), ("NOPE", password), (None, None)]:
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="x", username=user,
                                      password=pw):
                pass


async def test_device_reaches_only_its_own_topics(env: Env, broker: EmbeddedBroker) -> None:
    node_id, password = await provision(env)
    received: list[str] = []
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gw", username=GATEWAY[0],
                              password=GATEWAY[1]) as gateway:
        await gateway.subscribe("node/#", qos=1)
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier=node_id,
                                  username=node_id, password=password) as device:
            await device.publish("node/OTHER/params/local", b"{}", qos=1)
            await device.publish(f"node/{node_id}/params/local", b"{}", qos=1)
        async with asyncio.timeout(5):
            async for message in gateway.messages:
                received.append(str(message.topic))
                break
    assert received == [f"node/{node_id}/params/local"]


async def test_topic_rules() -> None:
    access = DeviceAccess(uow=None, gateway_username="gw", gateway_password="x")  # type: ignore[arg-type]
    assert access.may_use_topic("N1", "node/N1/params/local", "publish")
    assert access.may_use_topic("N1", "node/N1/#", "subscribe")
    assert not access.may_use_topic("N1", "node/N2/params/local", "publish")
    assert not access.may_use_topic("N1", "node/+/params/local", "subscribe")
    assert not access.may_use_topic("N1", "#", "subscribe")
    assert not access.may_use_topic("N1", "node/N1", "publish")
    assert access.may_use_topic("gw", "#", "subscribe")
    assert not access.may_use_topic(None, "node/N1/x", "publish")
