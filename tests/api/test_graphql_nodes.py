"""Nodes over GraphQL: node/nodes (a Relay connection with the REST tag filter), claiming,
params with versions, tags and metadata; strangers and other organizations get NOT_FOUND; and
listing 100 nodes with their whole state costs as many SQL statements as listing 10."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from graphql_api.pagination import encode_cursor
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env

NODE_FIELDS = """id name type model fwVersion role tags metadata config params paramsVersion
                 connectivity { connected timestamp }"""
NODE = f"query($id: ID!) {{ node(id: $id) {{ {NODE_FIELDS} }} }}"
NODES = f"""query($filter: NodeFilter, $first: Int, $after: String) {{
  nodes(filter: $filter, first: $first, after: $after) {{
    totalCount
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ {NODE_FIELDS} }} }}
  }}
}}"""
CLAIM = """mutation($id: ID!, $secret: String!) {
  claimNode(input: {nodeId: $id, secretKey: $secret}) { nodeId requestId requestStatus } }"""
UNCLAIM = """mutation($id: ID!) {
  unclaimNode(input: {nodeId: $id}) { nodeId requestStatus } }"""
SET_PARAMS = """mutation($input: SetNodeParamsInput!) {
  setNodeParams(input: $input) {
    results { nodeId ok paramsVersion error { code reason message } } } }"""
TAGS = """mutation($input: UpdateNodeTagsInput!) {
  updateNodeTags(input: $input) { node { id tags role } } }"""
METADATA = """mutation($input: UpdateNodeMetadataInput!) {
  updateNodeMetadata(input: $input) { node { id metadata } } }"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def claimed_node(env: Env, token: str, org_name: str | None = None) -> str:
    """A node provisioned in org_name (or the default org) and claimed over GraphQL."""
    node = await env.provision_node(org_name)
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": node.secret_key}, token)
    assert body["data"]["claimNode"]["requestStatus"] == "confirmed", body
    return node.node_id


async def report(env: Env, node_id: str, *, params: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None, connected: bool | None = None,
                 timestamp: int = 1_700_000_000_000) -> None:
    """What a device would send over MQTT, through the ingest use case."""
    ingest = env.container.ingest()
    if config is not None:
        assert (await ingest.handle(f"node/{node_id}/config",
                                    json.dumps(config).encode())).accepted
    if params is not None:
        assert (await ingest.handle(f"node/{node_id}/params/local",
                                    json.dumps(params).encode())).accepted
    if connected is not None:
        assert (await ingest.handle(f"node/{node_id}/connection", json.dumps(
            {"connected": connected, "timestamp": timestamp}).encode())).accepted


def lamp_config(node_id: str) -> dict[str, Any]:
    return {"node_id": node_id, "config_version": "2024-01",
            "info": {"name": "Lamp", "type": "Lightbulb", "model": "L1", "fw_version": "1.2"},
            "devices": [{"name": "Light", "params": [{"name": "power"}]}]}


async def test_claimed_node_shows_its_reported_state(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)
    body = await env.gql(NODE, {"id": node_id}, token)
    assert body["data"]["node"]["config"] is None
    assert body["data"]["node"]["connectivity"] == {"connected": False, "timestamp": 0}

    await report(env, node_id, config=lamp_config(node_id), params={"Light": {"power": True}},
                 connected=True)
    node = (await env.gql(NODE, {"id": node_id}, token))["data"]["node"]
    assert node == {
        "id": node_id, "name": "Lamp", "type": "Lightbulb", "model": "L1", "fwVersion": "1.2",
        "role": "PRIMARY", "tags": [], "metadata": None, "config": lamp_config(node_id),
        "params": {"Light": {"power": True}}, "paramsVersion": 1,
        "connectivity": {"connected": True, "timestamp": 1_700_000_000_000}}


async def test_unknown_and_foreign_nodes_are_the_same_not_found(env: Env) -> None:
    owner = await env.user("owner@example.com")
    stranger = await env.user("stranger@example.com")
    node_id = await claimed_node(env, owner)
    beta_node = await env.provision_node("Beta")
    beta_user = await env.provision("b@beta.io", org="Beta")
    beta_claimed = await env.gql(CLAIM, {"id": beta_node.node_id,
                                         "secret": beta_node.secret_key}, beta_user)
    assert beta_claimed["data"]["claimNode"]["requestStatus"] == "confirmed"

    for token, target in ((stranger, node_id), (beta_user, node_id), (owner, beta_node.node_id),
                          (owner, "NOSUCHNODE")):
        body = await env.gql(NODE, {"id": target}, token)
        assert codes(body) == ["NOT_FOUND"], body
        assert body["errors"][0]["message"] == \
            "Node does not exist or does not belong to the user"
        body = await env.gql(SET_PARAMS, {"input": {"nodeId": target,
                                                    "params": {"Light": {"power": True}}}},
                             token)
        assert codes(body) == ["NOT_FOUND"]
        body = await env.gql(TAGS, {"input": {"nodeId": target, "add": ["a:b"]}}, token)
        assert codes(body) == ["NOT_FOUND"]
        body = await env.gql(METADATA, {"input": {"nodeId": target, "metadata": {"a": 1}}},
                             token)
        assert codes(body) == ["NOT_FOUND"]
        body = await env.gql(UNCLAIM, {"id": target}, token)
        assert codes(body) == ["NOT_FOUND"]
    # another organization's secret key does not claim across organizations either
    body = await env.gql(CLAIM, {"id": beta_node.node_id, "secret": beta_node.secret_key},
                         owner)
    assert codes(body) == ["NOT_FOUND"]
    listed = await env.gql(NODES, {}, stranger)
    assert listed["data"]["nodes"] == {"totalCount": 0, "edges": [], "pageInfo": {
        "hasNextPage": False, "hasPreviousPage": False, "startCursor": None,
        "endCursor": None}}
    beta_listed = await env.gql(NODES, {}, beta_user)
    assert [e["node"]["id"] for e in beta_listed["data"]["nodes"]["edges"]] == \
        [beta_node.node_id]


async def test_claim_input_errors_and_conflicts(env: Env) -> None:
    owner = await env.user("owner@example.com")
    other = await env.user("other@example.com")
    node = await env.provision_node()
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": ""}, owner)
    assert codes(body) == ["VALIDATION"]
    body = await env.gql(CLAIM, {"id": "bad id!", "secret": "x"}, owner)
    assert codes(body) == ["VALIDATION"]
    # any other secret starts the two-sided handshake: requested until the node confirms
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": "not-the-issued-one"}, other)
    assert body["data"]["claimNode"]["requestStatus"] == "requested"
    assert codes(await env.gql(NODE, {"id": node.node_id}, other)) == ["NOT_FOUND"]
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": node.secret_key})
    assert codes(body) == ["UNAUTHENTICATED"]
    assert (await env.gql(CLAIM, {"id": node.node_id, "secret": node.secret_key},
                          owner))["data"]["claimNode"]["nodeId"] == node.node_id
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": node.secret_key}, other)
    assert codes(body) == ["CONFLICT"]

    body = await env.gql(UNCLAIM, {"id": node.node_id}, owner)
    assert body["data"]["unclaimNode"] == {"nodeId": node.node_id,
                                           "requestStatus": "confirmed"}
    assert codes(await env.gql(NODE, {"id": node.node_id}, owner)) == ["NOT_FOUND"]
    # once released, someone else may claim it
    body = await env.gql(CLAIM, {"id": node.node_id, "secret": node.secret_key}, other)
    assert body["data"]["claimNode"]["requestStatus"] == "confirmed"


async def test_nodes_pages_with_cursors_and_counts(env: Env) -> None:
    token = await env.user("owner@example.com")
    ids = sorted([await claimed_node(env, token) for _ in range(5)])
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await env.gql(NODES, {"first": 2, "after": after}, token)
        conn = body["data"]["nodes"]
        assert conn["totalCount"] == 5
        assert conn["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["id"] for e in conn["edges"]]
        assert [e["cursor"] for e in conn["edges"]][-1] == conn["pageInfo"]["endCursor"]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == ids and pages == 3
    # a cursor stays valid when its node goes away: the page starts after where it was
    await env.gql(UNCLAIM, {"id": ids[1]}, token)
    body = await env.gql(NODES, {"first": 2, "after": encode_cursor(ids[1])}, token)
    assert [e["node"]["id"] for e in body["data"]["nodes"]["edges"]] == ids[2:4]
    body = await env.gql(NODES, {"first": 100, "after": encode_cursor(ids[0])}, token)
    assert [e["node"]["id"] for e in body["data"]["nodes"]["edges"]] == ids[2:]
    assert body["data"]["nodes"]["pageInfo"]["hasNextPage"] is False

    for variables in ({"first": 0}, {"first": 101}, {"first": -1}, {"after": "not-a-cursor"},
                      {"filter": {"tags": ["nocolon"]}}, {"filter": {"tags": []}}):
        body = await env.gql(NODES, variables, token)
        assert codes(body) == ["VALIDATION"], variables
        assert body["data"] is None


async def test_tag_filter_keeps_nodes_having_any_tag(env: Env) -> None:
    token = await env.user("owner@example.com")
    pune, goa, plain = [await claimed_node(env, token) for _ in range(3)]
    for node_id, tag in ((pune, "location:pune"), (goa, "location:goa")):
        body = await env.gql(TAGS, {"input": {"nodeId": node_id, "add": [tag, "kind:lamp"]}},
                             token)
        assert body["data"]["updateNodeTags"]["node"] == {
            "id": node_id, "tags": [tag, "kind:lamp"], "role": "PRIMARY"}
    body = await env.gql(NODES, {"filter": {"tags": ["location:pune", "location:goa"]}}, token)
    assert sorted(e["node"]["id"] for e in body["data"]["nodes"]["edges"]) == sorted([pune, goa])
    assert body["data"]["nodes"]["totalCount"] == 2
    body = await env.gql(NODES, {"filter": {"tags": ["location:pune"]}}, token)
    assert [e["node"]["id"] for e in body["data"]["nodes"]["edges"]] == [pune]
    body = await env.gql(NODES, {"filter": {}}, token)
    assert body["data"]["nodes"]["totalCount"] == 3 and plain in \
        [e["node"]["id"] for e in body["data"]["nodes"]["edges"]]


async def test_update_node_tags_adds_and_removes(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)
    body = await env.gql(TAGS, {"input": {"nodeId": node_id, "add": ["a:1", "b:2", "a:1"]}},
                         token)
    assert body["data"]["updateNodeTags"]["node"]["tags"] == ["a:1", "b:2"]
    body = await env.gql(TAGS, {"input": {"nodeId": node_id, "add": ["c:3"],
                                          "remove": ["a:1", "zz:9"]}}, token)
    assert body["data"]["updateNodeTags"]["node"]["tags"] == ["b:2", "c:3"]
    body = await env.gql(TAGS, {"input": {"nodeId": node_id, "remove": ["b:2"]}}, token)
    assert body["data"]["updateNodeTags"]["node"]["tags"] == ["c:3"]
    for bad in ({}, {"add": ["nocolon"]}, {"remove": [":x"]},
                {"add": ["ok:1"], "remove": ["bad"]}, {"add": [f"k{i}:v" for i in range(65)]}):
        body = await env.gql(TAGS, {"input": {"nodeId": node_id, **bad}}, token)
        assert codes(body) == ["VALIDATION"], bad
    # a refused request wrote nothing, not even its valid half
    body = await env.gql(NODE, {"id": node_id}, token)
    assert body["data"]["node"]["tags"] == ["c:3"]


async def test_update_node_metadata_merges_like_a_thing_shadow(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)

    async def patch(metadata: Any) -> Any:
        body = await env.gql(METADATA, {"input": {"nodeId": node_id, "metadata": metadata}},
                             token)
        assert "errors" not in body, body
        return body["data"]["updateNodeMetadata"]["node"]["metadata"]

    assert await patch({"room": {"name": "Hall", "floor": 1}, "list": [1, 2]}) == \
        {"room": {"name": "Hall", "floor": 1}, "list": [1, 2]}
    assert await patch({"room": {"floor": None, "lux": 3}, "list": [9]}) == \
        {"room": {"name": "Hall", "lux": 3}, "list": [9]}
    assert await patch({}) == {"room": {"name": "Hall", "lux": 3}, "list": [9]}
    assert await patch(None) is None
    body = await env.gql(METADATA, {"input": {"nodeId": node_id, "metadata": 5}}, token)
    assert codes(body) == ["VALIDATION"]


async def test_set_params_for_one_node_with_expected_version(env: Env) -> None:
    token = await env.user("owner@example.com")
    node_id = await claimed_node(env, token)
    await report(env, node_id, params={"Light": {"power": False}})
    version = (await env.gql(NODE, {"id": node_id}, token))["data"]["node"]["paramsVersion"]
    body = await env.gql(SET_PARAMS, {"input": {
        "nodeId": node_id, "params": {"Light": {"power": True}}, "expectedVersion": version}},
        token)
    assert body["data"]["setNodeParams"]["results"] == [
        {"nodeId": node_id, "ok": True, "paramsVersion": version + 1, "error": None}]
    body = await env.gql(SET_PARAMS, {"input": {
        "nodeId": node_id, "params": {"Light": {"power": False}}, "expectedVersion": version}},
        token)
    assert codes(body) == ["CONFLICT"] and body["errors"][0]["extensions"]["reason"] == \
        "stale_version"
    body = await env.gql(SET_PARAMS, {"input": {"nodeId": node_id,
                                                "params": {"Light": {"level": 4}}}}, token)
    assert body["data"]["setNodeParams"]["results"][0]["paramsVersion"] == version + 2
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        node = await uow.nodes.get(node_id)
    assert node is not None and node.desired == {"Light": {"power": True, "level": 4}}

    for bad in ({"nodeId": node_id}, {"nodeId": node_id, "params": {}},
                {"nodeId": node_id, "params": {"Light": 1}}, {"nodeId": node_id, "params": []},
                {}, {"nodes": []},
                {"nodeId": node_id, "params": {"Light": {}}, "nodes": [
                    {"nodeId": node_id, "params": {"Light": {}}}]},
                {"nodes": [{"nodeId": node_id, "params": {"L": {}}}] * 26}):
        body = await env.gql(SET_PARAMS, {"input": bad}, token)
        assert codes(body) == ["VALIDATION"], bad


async def test_set_params_for_many_nodes_reports_each(env: Env) -> None:
    token = await env.user("owner@example.com")
    first, second = [await claimed_node(env, token) for _ in range(2)]
    foreign = (await env.provision_node()).node_id
    body = await env.gql(SET_PARAMS, {"input": {"nodes": [
        {"nodeId": first, "params": {"Light": {"power": True}}},
        {"nodeId": foreign, "params": {"Light": {"power": True}}},
        {"nodeId": second, "params": {"Light": {"power": True}}, "expectedVersion": 7},
        {"nodeId": second, "params": {"Light": "on"}},
        {"nodeId": second, "params": {"Light": {"power": False}}, "expectedVersion": 0},
    ]}}, token)
    assert "errors" not in body, body
    results = body["data"]["setNodeParams"]["results"]
    assert [(r["nodeId"], r["ok"]) for r in results] == [
        (first, True), (foreign, False), (second, False), (second, False), (second, True)]
    assert [r["error"]["code"] for r in results if r["error"]] == \
        ["NOT_FOUND", "CONFLICT", "VALIDATION"]
    assert results[0]["paramsVersion"] == 1 and results[4]["paramsVersion"] == 1
    # no signed-in user: the whole request is refused, not each node
    body = await env.gql(SET_PARAMS, {"input": {"nodes": [
        {"nodeId": first, "params": {"Light": {"power": True}}}]}})
    assert codes(body) == ["UNAUTHENTICATED"]


@contextmanager
def counting_statements(env: Env) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = env.container.engine().sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_listing_100_nodes_with_their_state_costs_constant_queries(env: Env) -> None:
    token = await env.user("owner@example.com")
    ids: list[str] = []

    async def add_nodes(count: int) -> None:
        for _ in range(count):
            node_id = await claimed_node(env, token)
            await report(env, node_id, config=lamp_config(node_id),
                         params={"Light": {"power": True}}, connected=True)
            ids.append(node_id)

    async def count_listing(first: int) -> tuple[int, int]:
        """(all statements, those reading nodes or memberships)"""
        with counting_statements(env) as statements:
            body = await env.gql(NODES, {"first": first}, token)
        edges = body["data"]["nodes"]["edges"]
        assert len(edges) == first
        assert all(e["node"]["params"] == {"Light": {"power": True}}
                   and e["node"]["connectivity"]["connected"]
                   and e["node"]["config"]["info"]["type"] == "Lightbulb"
                   and e["node"]["role"] == "PRIMARY" for e in edges)
        return len(statements), sum("node" in s.lower() for s in statements)

    await add_nodes(10)
    await env.gql(NODES, {"first": 10}, token)  # warm caches (authentication, policies)
    ten = await count_listing(10)
    await add_nodes(90)
    hundred = await count_listing(100)
    print(f"SQL statements (all, on nodes): 10 nodes -> {ten}, 100 nodes -> {hundred}")
    assert hundred == ten
    assert ten[1] <= 2  # memberships, then the nodes (PostgreSQL adds its per-transaction
    # scope and role statements, and a principal look-up the SQLite read cache saves)

    # mutation payloads, which read nodes without memberships, load the role on demand
    aliases = " ".join(
        f'n{i}: updateNodeTags(input: {{nodeId: "{node_id}", add: ["batch:{i}"]}}) '
        f"{{ node {{ role }} }}" for i, node_id in enumerate(ids[:3]))
    body = await env.gql(f"mutation {{ {aliases} }}", token=token)
    assert [body["data"][f"n{i}"]["node"]["role"] for i in range(3)] == ["PRIMARY"] * 3
