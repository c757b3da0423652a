"""Claiming a provisioned node over REST and reading its state; strangers see 404."""

from __future__ import annotations

from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env


async def provisioned(env: Env) -> tuple[str, str]:
    node = await env.provision_node()
    return node.node_id, node.secret_key


async def test_claim_then_read_params_config_and_status(env: Env) -> None:
    node_id, secret = await provisioned(env)
    owner = {"Authorization": await env.user("owner@example.com")}
    stranger = {"Authorization": await env.user("stranger@example.com")}
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node_id}", headers=owner)
    assert r.status_code == 400 and r.json()["error_code"] == 100010
    r = await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": secret, "operation": "add"})
    assert r.status_code == 200, r.text
    request_id = r.json()["request_id"]
    r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}", headers=owner)
    assert r.json() == {"request_status": "confirmed"}

    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        node = await uow.nodes.get(node_id)
        assert node is not None
        node.reported = {"Light": {"power": True}}
        node.config = {"node_id": node_id, "info": {"type": "Lightbulb"}}
        await uow.nodes.save(node)
        await uow.commit()
    r = await env.client.get(f"/v1/user/nodes/params?nodeid={node_id}", headers=owner)
    assert r.json() == {"Light": {"power": True}}
    r = await env.client.get(f"/v1/user/nodes/config?node_id={node_id}", headers=owner)
    assert r.json()["info"] == {"type": "Lightbulb"}
    r = await env.client.get(f"/v1/user/nodes/status?node_id={node_id}", headers=owner)
    assert r.json() == {"connectivity": {"connected": False, "timestamp": 0}}

    for path in ("params", "config", "status"):
        foreign = await env.client.get(f"/v1/user/nodes/{path}?node_id={node_id}",
                                       headers=stranger)
        unknown = await env.client.get(f"/v1/user/nodes/{path}?node_id=NOPE", headers=stranger)
        assert foreign.status_code == unknown.status_code == 400
        assert foreign.json() == unknown.json()
    r = await env.client.put("/v1/user/nodes/mapping", headers=stranger, json={
        "node_id": node_id, "secret_key": secret, "operation": "add"})
    assert r.status_code == 400
    r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}",
                             headers=stranger)
    assert r.status_code == 400


async def test_mapping_input_errors(env: Env) -> None:
    auth = {"Authorization": await env.user("x@example.com")}
    r = await env.client.get("/v1/user/nodes/params", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == 100009
    r = await env.client.put("/v1/user/nodes/mapping", headers=auth,
                             json={"node_id": "N1", "operation": "grab"})
    assert r.status_code == 400
    r = await env.client.put("/v1/user/nodes/mapping", headers=auth,
                             json={"node_id": "N1", "operation": "add"})
    assert r.status_code == 400
    r = await env.client.get("/v1/user/nodes/params?node_id=N1")
    assert r.status_code == 401


async def test_set_params_with_versions_and_the_multi_node_form(env: Env) -> None:
    node_id, secret = await provisioned(env)
    owner = {"Authorization": await env.user("owner@example.com")}
    await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": secret, "operation": "add"})
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node_id}", headers=owner)
    version = r.headers["etag"]
    r = await env.client.put(f"/v1/user/nodes/params?node_id={node_id}",
                             json={"Light": {"power": True}},
                             headers={**owner, "If-Match": version})
    assert r.status_code == 200, r.text
    r = await env.client.put(f"/v1/user/nodes/params?node_id={node_id}",
                             json={"Light": {"power": False}},
                             headers={**owner, "If-Match": version})
    assert r.status_code == 409
    r = await env.client.put("/v1/user/nodes/params", headers=owner, json=[
        {"node_id": node_id, "payload": {"Light": {"power": False}}},
        {"node_id": "NOPE", "payload": {"Light": {"power": False}}}])
    assert r.status_code == 207
    assert [x["status"] for x in r.json()] == ["success", "failure"]
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        node = await uow.nodes.get(node_id)
    assert node is not None and node.desired == {"Light": {"power": False}}
    for bad in ({}, {"Light": 1}, [], [{"node_id": node_id}]):
        r = await env.client.put(f"/v1/user/nodes/params?node_id={node_id}", json=bad,
                                 headers=owner)
        assert r.status_code == 400, bad


async def test_sixteen_concurrent_stale_writers_one_wins(env: Env) -> None:
    import asyncio

    node_id, secret = await provisioned(env)
    owner = {"Authorization": await env.user("owner@example.com")}
    await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": secret, "operation": "add"})
    version = (await env.client.get(f"/v1/user/nodes/params?node_id={node_id}",
                                    headers=owner)).headers["etag"]
    results = await asyncio.gather(*(env.client.put(
        f"/v1/user/nodes/params?node_id={node_id}", json={"Light": {"level": i}},
        headers={**owner, "If-Match": version}) for i in range(16)))
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 1 and codes.count(409) == 15


async def test_list_nodes_pages_filters_and_details(env: Env) -> None:
    owner = {"Authorization": await env.user("owner@example.com")}
    ids = []
    for i in range(5):
        node_id, secret = await provisioned(env)
        ids.append(node_id)
        await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
            "node_id": node_id, "secret_key": secret, "operation": "add"})
        if i % 2 == 0:
            async with env.container.uow()(SYSTEM_SCOPE) as uow:
                node = await uow.nodes.get(node_id)
                assert node is not None
                node.add_tags(["location:pune"])
                await uow.nodes.save(node)
                await uow.commit()
    ids.sort()
    r = await env.client.get("/v1/user/nodes?num_records=2", headers=owner)
    body = r.json()
    assert body["nodes"] == ids[:2] and body["total"] == 5 and body["next_id"] == ids[2]
    r = await env.client.get(f"/v1/user/nodes?num_records=2&start_id={body['next_id']}",
                             headers=owner)
    assert r.json()["nodes"] == ids[2:4]
    r = await env.client.get("/v1/user/nodes?tags=location:pune,location:goa", headers=owner)
    assert r.json()["total"] == 3
    r = await env.client.get(f"/v1/user/nodes?node_id={ids[0]}&node_details=true&params=false",
                             headers=owner)
    detail = r.json()["node_details"][0]
    assert detail["id"] == ids[0] and detail["primary"] is True and "params" not in detail
    assert detail["status"] == {"connectivity": {"connected": False, "timestamp": 0}}
    stranger = {"Authorization": await env.user("stranger@example.com")}
    r = await env.client.get("/v1/user/nodes", headers=stranger)
    assert r.json() == {"nodes": [], "total": 0}
    r = await env.client.get(f"/v1/user/nodes?node_id={ids[0]}", headers=stranger)
    assert r.status_code == 400
    for bad in ("num_records=0", "num_records=abc", "num_records=500", "tags=nocolon",
                "node_details=yes"):
        assert (await env.client.get(f"/v1/user/nodes?{bad}", headers=owner)).status_code \
            == 400, bad
