"""The two-sided mapping handshake over a real broker: the user's request waits until the
node publishes the same secret_key on node/<id>/user/mapping, in either order."""

from __future__ import annotations

import asyncio
import json

import aiomqtt

from tests.conftest import Env
from tests.integration.test_device_runtime import broker_address, provision


async def wait_status(env: Env, auth: dict[str, str], request_id: str, wanted: str) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}",
                                 headers=auth)
        if r.json().get("request_status") == wanted:
            return
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.05)


async def test_node_confirms_the_users_request_over_mqtt(gateway: Env) -> None:
    env = gateway
    creds = await provision(env)
    node_id = creds["node_id"]
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    r = await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": "phone-secret-1", "operation": "add"})
    assert r.json()["request_status"] == "requested"
    request_id = r.json()["request_id"]
    host, port = broker_address(env)
    async with aiomqtt.Client(host, port, identifier=node_id, username=node_id,
                              password=creds["mqtt_password"]) as device:
        await device.publish(f"node/{node_id}/user/mapping", b"{garbage", qos=1)
        await device.publish(f"node/{node_id}/user/mapping", json.dumps({
            "node_id": node_id, "user_id": "", "secret_key": "phone-secret-1",
            "reset": True}), qos=1)
        await wait_status(env, owner, request_id, "confirmed")
        # a second handshake with reset (whichever half lands first) hands the node over
        await device.publish(f"node/{node_id}/user/mapping", json.dumps({
            "node_id": node_id, "secret_key": "phone-secret-2", "reset": True}), qos=1)
        other = {"Authorization": await env.provision("next-owner@acme.io", org="Acme")}
        r = await env.client.put("/v1/user/nodes/mapping", headers=other, json={
            "node_id": node_id, "secret_key": "phone-secret-2", "operation": "add"})
        assert r.status_code == 200, r.text  # confirmed, or requested until the half lands
        await wait_status(env, other, r.json()["request_id"], "confirmed")
    # reset: the new owner replaced the old one
    r = await env.client.get(f"/v1/user/nodes?node_id={node_id}", headers=owner)
    assert r.status_code == 400
    r = await env.client.get(f"/v1/user/nodes?node_id={node_id}&node_details=true",
                             headers=other)
    assert r.json()["node_details"][0]["primary"] is True
