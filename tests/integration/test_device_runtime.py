"""A provisioned device joins over MQTT and what it reports lands on its node: the running
gateway with its broker (embedded, or MQTT_URL's) and its own ingesting client."""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import urlparse

import aiomqtt
import pytest

from domain.devices.model import Node
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import PASSWORD, Env


def broker_address(env: Env) -> tuple[str, int]:
    if env.settings.mqtt_url:
        url = urlparse(env.settings.mqtt_url)
        return url.hostname or "127.0.0.1", url.port or 1883
    return "127.0.0.1", env.settings.mqtt_port


async def provision(env: Env) -> dict[str, str]:
    await env.container.registration().provision_user(user_name="ops@acme.io",
                                                      password=PASSWORD, org_name="Acme")
    admin = (await env.login("ops@acme.io"))["accesstoken"]
    r = await env.client.post("/v1/admin/nodes/registration_token", json={"node_name": "Lamp"},
                              headers={"Authorization": admin})
    r = await env.client.post("/v1/devices/provision", json={"token": r.json()["token"]})
    return r.json()  # type: ignore[no-any-return]


async def node_state(env: Env, node_id: str) -> Node | None:
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        return await uow.nodes.get(node_id)


async def wait_for(env: Env, node_id: str, check, within: float = 10.0) -> Node:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        node = await node_state(env, node_id)
        if node is not None and check(node):
            return node
        assert asyncio.get_running_loop().time() < deadline, f"node state never matched: {node}"
        await asyncio.sleep(0.05)


async def test_device_reports_reach_its_node(gateway: Env) -> None:
    env = gateway
    creds = await provision(env)
    node_id = creds["node_id"]
    host, port = broker_address(env)
    will = aiomqtt.Will(f"node/{node_id}/connection", json.dumps({"connected": False}), qos=1)
    async with aiomqtt.Client(host, port, identifier=node_id, username=node_id,
                              password=creds["mqtt_password"], will=will) as device:
        await device.publish(f"node/{node_id}/config", json.dumps({
            "node_id": node_id, "config_version": "1",
            "info": {"name": "Lamp", "type": "Lightbulb", "model": "L1", "fw_version": "1.0"},
            "devices": []}), qos=1)
        await device.publish(f"node/{node_id}/params/local/init",
                             json.dumps({"Light": {"power": False}}), qos=1)
        await device.publish(f"node/{node_id}/params/local",
                             json.dumps({"Light": {"power": True}}), qos=1)
        await device.publish(f"node/{node_id}/connection",
                             json.dumps({"connected": True, "timestamp": 1}), qos=1)
        node = await wait_for(env, node_id, lambda n: n.reported == {"Light": {"power": True}}
                              and n.connectivity.connected and n.type == "Lightbulb")
        assert node.params_version == 2 and node.fw_version == "1.0"
        await device.publish(f"node/{node_id}/params/local", b"{not json", qos=1)
        await device.publish(f"node/{node_id}/params/local",
                             json.dumps({"Light": {"level": 3}}), qos=1)
        await wait_for(env, node_id, lambda n: n.reported["Light"].get("level") == 3)
    assert env.container.events().published >= 3


@pytest.mark.skipif(bool(os.environ.get("MQTT_URL")),
                    reason="an external broker authenticates devices by its own configuration")
async def test_embedded_broker_refuses_a_device_with_a_wrong_password(gateway: Env) -> None:
    creds = await provision(gateway)
    host, port = broker_address(gateway)
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(host, port, identifier=creds["node_id"],
                                  username=creds["node_id"], password="wrong"):
            pass
