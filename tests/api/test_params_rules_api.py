"""Desired params a node's reported config refuses: a 400 (RainMaker 100012) naming the param
and the rule on REST, VALIDATION with the rule as reason on GraphQL; batches per node."""

from __future__ import annotations

import json

from ports.repositories.uow import SYSTEM_SCOPE
from tests.api.test_graphql_nodes import SET_PARAMS, claimed_node
from tests.conftest import Env
from tests.unit.test_params_rules import LED_LIGHT


async def reported_config(env: Env, node_id: str) -> None:
    """The led_light firmware's config, as the device publishes it on node/<id>/config."""
    config = {**LED_LIGHT, "node_id": node_id}
    assert (await env.container.ingest().handle(f"node/{node_id}/config",
                                                json.dumps(config).encode())).accepted


async def desired(env: Env, node_id: str) -> dict[str, object]:
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        node = await uow.nodes.get(node_id)
    assert node is not None
    return node.desired


async def test_rest_refuses_a_param_the_config_does_not_allow(env: Env) -> None:
    token = await env.user("owner@example.com")
    owner = {"Authorization": token}
    node_id, other = await claimed_node(env, token), await claimed_node(env, token)
    url = f"/v1/user/nodes/params?node_id={node_id}"
    # no config reported yet: taken unchecked
    r = await env.client.put(url, json={"Light": {"Brightness": 500}}, headers=owner)
    assert r.status_code == 200, r.text
    await reported_config(env, node_id)
    for params, description in (
            ({"Light": {"Brightness": 101}}, "Light.Brightness: 101 is above bounds max 100"),
            ({"Light": {"Power": "yes"}},
             "Light.Power: must be bool (data_type bool), got string"),
            ({"Light": {"Colour": "red"}}, "Light.Colour: Light declares no param of that name"),
            ({"Lamp": {"Power": True}},
             "Lamp: the node declares no device or service of that name"),
            ({"Local Control": {"POP": "1234"}},
             'Local Control.POP: read-only (its properties hold no "write")')):
        r = await env.client.put(url, json=params, headers=owner)
        assert r.status_code == 400, params
        assert r.json() == {"status": "failure", "description": description,
                            "error_code": 100012}
    assert await desired(env, node_id) == {"Light": {"Brightness": 500}}
    r = await env.client.put(url, json={"Light": {"Brightness": 60, "Name": "Desk"}},
                             headers=owner)
    assert r.status_code == 200, r.text

    # the multi-node form answers per node: the refused one fails, the others are written
    r = await env.client.put("/v1/user/nodes/params", headers=owner, json=[
        {"node_id": node_id, "payload": {"Light": {"Hue": -5}}},
        {"node_id": other, "payload": {"Light": {"Hue": -5}}}])
    assert r.status_code == 207
    assert r.json() == [
        {"node_id": node_id, "status": "failure",
         "description": "Light.Hue: -5 is below bounds min 0"},
        {"node_id": other, "status": "success",
         "description": "Node params updated successfully"}]
    assert await desired(env, node_id) == {"Light": {"Brightness": 60, "Name": "Desk"}}
    assert await desired(env, other) == {"Light": {"Hue": -5}}


async def test_graphql_refuses_a_param_the_config_does_not_allow(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id, other = await claimed_node(env, token), await claimed_node(env, token)
    await reported_config(env, node_id)
    body = await env.gql(SET_PARAMS, {"input": {
        "nodeId": node_id, "params": {"Scenes": {"Scenes": [{"id": "s"}] * 11}}}}, token)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == "Scenes.Scenes: 11 items, more than bounds max 10"
    assert error["extensions"] == {"code": "VALIDATION", "reason": "param_out_of_bounds"}
    body = await env.gql(SET_PARAMS, {"input": {
        "nodeId": node_id, "params": {"Light": {"Brightness": 50.0}}}}, token)
    assert body["data"]["setNodeParams"]["results"][0]["ok"] is True
    assert await desired(env, node_id) == {"Light": {"Brightness": 50}}

    body = await env.gql(SET_PARAMS, {"input": {"nodes": [
        {"nodeId": node_id, "params": {"System": {"Reboot": 1}}},
        {"nodeId": other, "params": {"System": {"Reboot": 1}}}]}}, token)
    assert "errors" not in body, body
    first, second = body["data"]["setNodeParams"]["results"]
    assert first == {"nodeId": node_id, "ok": False, "paramsVersion": None, "error": {
        "code": "VALIDATION", "reason": "param_wrong_type",
        "message": "System.Reboot: must be bool (data_type bool), got int"}}
    assert second["ok"] is True
