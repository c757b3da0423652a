"""nodeUpdates over graphql-transport-ws: params, connectivity and config changes stream to
the users who reach the node and to nobody else; sign-in is the connection_init payload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiomqtt
import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from domain.access.model import Caller
from domain.devices.watch import NodeWatch
from tests.api.test_graphql_nodes import UNCLAIM, claimed_node, lamp_config
from tests.conftest import Env
from tests.integration.test_device_runtime import broker_address

UPDATES = """subscription($ids: [ID!]) {
  nodeUpdates(nodeIds: $ids) {
    kind nodeId params paramsVersion configVersion connectivity { connected timestamp }
  }
}"""
WITH_NODE = """subscription { nodeUpdates { kind node { id type config role } } }"""


@asynccontextmanager
async def socket(env: Env, token: str | None) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection, signed in with token in connection_init."""
    transport = ASGIWebSocketTransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with aconnect_ws("/graphql", client,
                               subprotocols=["graphql-transport-ws"]) as ws:
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            await ws.send_json({"type": "connection_init", "payload": payload})
            yield ws


async def subscribe(env: Env, ws: AsyncWebSocketSession, op_id: str, query: str = UPDATES,
                    variables: dict[str, Any] | None = None) -> None:
    """Starts a subscription and waits until it listens to the event feed (no sleeps)."""
    events = env.container.events()
    before = set(events._subscribers)  # by identity: another socket may leave meanwhile
    await ws.send_json({"id": op_id, "type": "subscribe",
                        "payload": {"query": query, "variables": variables or {}}})
    deadline = asyncio.get_running_loop().time() + 5
    while not set(events._subscribers) - before:
        assert asyncio.get_running_loop().time() < deadline, "subscription never started"
        await asyncio.sleep(0.005)
        await asyncio.sleep(0.01)


async def device_says(env: Env, node_id: str, suffix: str, body: Any) -> None:
    """A device message as the MQTT runtime hands it on: ingest, then publish its events."""
    result = await env.container.ingest().handle(f"node/{node_id}/{suffix}",
                                                 json.dumps(body).encode())
    assert result.accepted, result
    for event in result.events:
        await env.container.events().publish(event)


async def next_message(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=5)
    return message


async def next_update(ws: AsyncWebSocketSession, op_id: str = "1") -> dict[str, Any]:
    message = await next_message(ws)
    assert message["type"] == "next" and message["id"] == op_id, message
    assert "errors" not in message["payload"], message
    update: dict[str, Any] = message["payload"]["data"]["nodeUpdates"]
    return update


async def test_params_connectivity_and_config_changes_stream_as_they_arrive(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)
    async with socket(env, token) as ws:
        assert (await next_message(ws))["type"] == "connection_ack"
        await subscribe(env, ws, "1", variables={"ids": [node_id]})

        await device_says(env, node_id, "params/local", {"Light": {"power": True}})
        assert await next_update(ws) == {
            "kind": "PARAMS_CHANGED", "nodeId": node_id, "params": {"Light": {"power": True}},
            "paramsVersion": 1, "configVersion": None, "connectivity": None}
        await device_says(env, node_id, "connection", {"connected": True, "timestamp": 1234})
        update = await next_update(ws)
        assert update["kind"] == "CONNECTED"
        assert update["connectivity"] == {"connected": True, "timestamp": 1234}
        await device_says(env, node_id, "config", lamp_config(node_id))
        update = await next_update(ws)
        assert (update["kind"], update["configVersion"]) == ("CONFIG_CHANGED", "2024-01")
        await device_says(env, node_id, "connection", {"connected": False, "timestamp": 1300})
        assert (await next_update(ws))["connectivity"] == {"connected": False,
                                                           "timestamp": 1300}

        await ws.send_json({"id": "1", "type": "complete"})
        deadline = asyncio.get_running_loop().time() + 5
        while env.container.events()._subscribers:  # the feed is released on complete
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)


async def test_an_update_can_carry_the_node_as_it_is_now(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)
    async with socket(env, token) as ws:
        await next_message(ws)
        await subscribe(env, ws, "1", query=WITH_NODE)
        await device_says(env, node_id, "config", lamp_config(node_id))
        assert await next_update(ws) == {"kind": "CONFIG_CHANGED", "node": {
            "id": node_id, "type": "Lightbulb", "config": lamp_config(node_id),
            "role": "PRIMARY"}}


async def test_events_of_nodes_a_user_does_not_reach_are_never_streamed(env: Env) -> None:
    alice = await env.user("alice@example.com")
    bob = await env.user("bob@example.com")  # same organization, his own node
    alice_node = await claimed_node(env, alice)
    bob_node = await claimed_node(env, bob)
    beta_node = await env.provision_node("Beta")
    carol = await env.provision("carol@beta.io", org="Beta")  # another organization
    await env.gql("""mutation($id: ID!, $s: String!) {
        claimNode(input: {nodeId: $id, secretKey: $s}) { requestStatus } }""",
                  {"id": beta_node.node_id, "s": beta_node.secret_key}, carol)
    async with socket(env, alice) as a, socket(env, bob) as b, socket(env, carol) as c:
        for ws in (a, b, c):
            assert (await next_message(ws))["type"] == "connection_ack"
            await subscribe(env, ws, "1")  # no nodeIds: every node the caller reaches

        for node_id, level in ((alice_node, 1), (bob_node, 2), (beta_node.node_id, 3),
                               (alice_node, 4)):
            await device_says(env, node_id, "params/local", {"Light": {"level": level}})
        # each socket's stream, in order: the events of its own nodes only
        assert [(await next_update(a))["params"]["Light"]["level"] for _ in range(2)] == [1, 4]
        assert (await next_update(b))["params"]["Light"]["level"] == 2
        assert (await next_update(c))["params"]["Light"]["level"] == 3
        # a marker on each user's own node comes next: nothing foreign was queued before it
        for node_id in (alice_node, bob_node, beta_node.node_id):
            await device_says(env, node_id, "connection", {"connected": True, "timestamp": 9})
        assert (await next_update(a))["nodeId"] == alice_node
        assert (await next_update(b))["nodeId"] == bob_node
        assert (await next_update(c))["nodeId"] == beta_node.node_id


async def test_subscribing_to_nodes_one_does_not_reach_is_not_found(env: Env) -> None:
    alice = await env.user("alice@example.com")
    bob = await env.user("bob@example.com")
    alice_node = await claimed_node(env, alice)
    bob_node = await claimed_node(env, bob)
    async with socket(env, alice) as ws:
        await next_message(ws)
        for op_id, ids in (("1", [bob_node]), ("2", [alice_node, bob_node]), ("3", ["NOPE"])):
            await ws.send_json({"id": op_id, "type": "subscribe",
                                "payload": {"query": UPDATES, "variables": {"ids": ids}}})
            message = await next_message(ws)
            assert message["id"] == op_id
            errors = message["payload"]["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"], message
            assert await next_message(ws) == {"id": op_id, "type": "complete"}
        for op_id, ids in (("4", []), ("5", ["bad id!"])):
            await ws.send_json({"id": op_id, "type": "subscribe",
                                "payload": {"query": UPDATES, "variables": {"ids": ids}}})
            message = await next_message(ws)
            assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == \
                ["VALIDATION"], message
            assert await next_message(ws) == {"id": op_id, "type": "complete"}
        assert not env.container.events()._subscribers


async def test_a_long_subscription_follows_claims_and_releases(env: Env) -> None:
    token = await env.user("owner@example.com")
    kept, released = [await claimed_node(env, token) for _ in range(2)]
    principal = await env.container.sessions().authenticate(token)
    caller = Caller(principal=principal)
    scope = await env.container.node_watch().watch_nodes(caller)
    assert scope.visible == {kept, released}
    # memberships are read again only once per recheck period, not on every event
    assert await env.container.node_watch().refresh(caller, scope=scope) is scope

    watch = NodeWatch(uow=env.container.uow(), clock=env.container.clock(),
                      authorizer=env.container.authorizer(), recheck_every=timedelta(0))
    pinned = await watch.watch_nodes(caller, node_ids=[kept, released])
    await env.gql(UNCLAIM, {"id": released}, token)
    joined = await claimed_node(env, token)
    assert (await watch.refresh(caller, scope=scope)).visible == {kept, joined}
    assert (await watch.refresh(caller, scope=pinned)).visible == {kept}


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_a_socket_without_a_valid_token_is_closed(env: Env, token: str | None) -> None:
    async with socket(env, token) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            await next_message(ws)
    assert (closed.value.code, closed.value.reason) == (4403, "Forbidden")


async def test_unsupported_subprotocol_is_refused(env: Env) -> None:
    transport = ASGIWebSocketTransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-ws"]) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_json(timeout=5)
    assert closed.value.code == 4406


async def test_a_real_device_over_mqtt_reaches_the_subscriber(gateway: Env) -> None:
    env = gateway
    token = await env.user("owner@example.com")
    provisioned = await env.provision_node()
    node_id = provisioned.node_id
    body = await env.gql("""mutation($id: ID!, $s: String!) {
        claimNode(input: {nodeId: $id, secretKey: $s}) { requestStatus } }""",
                         {"id": node_id, "s": provisioned.secret_key}, token)
    assert body["data"]["claimNode"]["requestStatus"] == "confirmed"
    host, port = broker_address(env)
    async with socket(env, token) as ws:
        await next_message(ws)
        await subscribe(env, ws, "1", variables={"ids": [node_id]})
        async with aiomqtt.Client(host, port, identifier=node_id, username=node_id,
                                  password=provisioned.mqtt_password) as device:
            await device.publish(f"node/{node_id}/config", json.dumps(lamp_config(node_id)),
                                 qos=1)
            await device.publish(f"node/{node_id}/params/local",
                                 json.dumps({"Light": {"power": True}}), qos=1)
            await device.publish(f"node/{node_id}/connection",
                                 json.dumps({"connected": True, "timestamp": 5}), qos=1)
            kinds = {(await next_update(ws))["kind"] for _ in range(3)}
    assert kinds == {"CONFIG_CHANGED", "PARAMS_CHANGED", "CONNECTED"}
