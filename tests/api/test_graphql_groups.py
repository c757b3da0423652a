"""User device groups over GraphQL: the mutations, group(id) with nodes/subGroups/parent,
the groups connection, isolation, and a listing whose SQL statement count does not grow."""

from __future__ import annotations

from tests.api.test_graphql_nodes import claimed_node, counting_statements
from tests.conftest import Env

CREATE = """mutation($input: CreateGroupInput!) { createGroup(input: $input) {
  group { id name type mutuallyExclusive customData nodeIds } } }"""
GROUP = """query($id: ID!) { group(id: $id) { id name nodes { id role }
  subGroups { id name nodes { id } parent { id } } parent { id } } }"""
GROUPS = """query($first: Int!, $after: String) { groups(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id name nodeIds nodes { id params } subGroups { id } } } } }"""


async def create(env: Env, token: str, **input: object) -> dict[str, object]:
    body = await env.gql(CREATE, {"input": input}, token)
    assert "errors" not in body, body
    return body["data"]["createGroup"]["group"]  # type: ignore[no-any-return]


async def test_group_mutations_and_navigation(env: Env) -> None:
    token = await env.user("owner@example.com")
    a, b = await claimed_node(env, token), await claimed_node(env, token)
    home = await create(env, token, name="Home", nodeIds=[a, b], type="Home",
                        customData={"floor": 1})
    assert home["nodeIds"] == [a, b] and home["customData"] == {"floor": 1}
    room = await create(env, token, name="Room", parentId=home["id"], nodeIds=[a])

    body = await env.gql(GROUP, {"id": home["id"]}, token)
    group = body["data"]["group"]
    assert [n["id"] for n in group["nodes"]] == [a, b] and group["parent"] is None
    assert group["nodes"][0]["role"] == "PRIMARY"
    assert group["subGroups"] == [{"id": room["id"], "name": "Room", "nodes": [{"id": a}],
                                   "parent": {"id": home["id"]}}]

    body = await env.gql("""mutation($input: UpdateGroupInput!) { updateGroup(input: $input) {
        group { name customData mutuallyExclusive } } }""",
                         {"input": {"id": home["id"], "name": "House",
                                    "customData": {"floor": None, "x": [1]}}}, token)
    assert body["data"]["updateGroup"]["group"] == {"name": "House", "customData": {"x": [1]},
                                                    "mutuallyExclusive": False}
    body = await env.gql("""mutation($input: GroupNodesInput!) {
        removeNodesFromGroup(input: $input) { group { nodeIds subGroups { nodeIds } } } }""",
                         {"input": {"groupId": home["id"], "nodeIds": [a]}}, token)
    assert body["data"]["removeNodesFromGroup"]["group"] == {"nodeIds": [b],
                                                             "subGroups": [{"nodeIds": []}]}
    body = await env.gql("""mutation($input: GroupNodesInput!) {
        addNodesToGroup(input: $input) { group { nodeIds } } }""",
                         {"input": {"groupId": home["id"], "nodeIds": [a]}}, token)
    assert body["data"]["addNodesToGroup"]["group"]["nodeIds"] == [b, a]
    body = await env.gql("""mutation($input: DeleteGroupInput!) {
        deleteGroup(input: $input) { deletedIds } }""", {"input": {"id": home["id"]}}, token)
    assert set(body["data"]["deleteGroup"]["deletedIds"]) == {home["id"], room["id"]}
    body = await env.gql(GROUPS, {"first": 10}, token)
    assert body["data"]["groups"]["edges"] == []


async def test_errors_carry_codes_and_other_users_see_nothing(env: Env) -> None:
    token = await env.user("owner@example.com")
    node = await claimed_node(env, token)
    group = await create(env, token, name="G", type="Room", mutuallyExclusive=True,
                         nodeIds=[node])
    body = await env.gql(CREATE, {"input": {"name": "H", "type": "Room",
                                            "mutuallyExclusive": True, "nodeIds": [node]}},
                         token)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    body = await env.gql(CREATE, {"input": {"name": "x" * 257}}, token)
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    other = await env.user("other@example.com")
    body = await env.gql(GROUP, {"id": group["id"]}, other)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await env.gql(CREATE, {"input": {"name": "Mine", "nodeIds": [node]}}, other)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await env.gql(GROUPS, {"first": 10}, other))["data"]["groups"]["totalCount"] == 0


async def test_groups_connection_pages_with_cursors(env: Env) -> None:
    token = await env.user("owner@example.com")
    made = sorted([str((await create(env, token, name=f"G{i}"))["id"]) for i in range(5)])
    first = (await env.gql(GROUPS, {"first": 2}, token))["data"]["groups"]
    assert [e["node"]["id"] for e in first["edges"]] == made[:2]
    assert first["pageInfo"]["hasNextPage"] and first["totalCount"] == 5
    rest = (await env.gql(GROUPS, {"first": 10, "after": first["pageInfo"]["endCursor"]},
                          token))["data"]["groups"]
    assert [e["node"]["id"] for e in rest["edges"]] == made[2:]
    assert not rest["pageInfo"]["hasNextPage"]


async def test_listing_groups_with_nodes_costs_constant_statements(env: Env) -> None:
    token = await env.user("owner@example.com")
    nodes = [await claimed_node(env, token) for _ in range(6)]

    async def count(first: int) -> int:
        with counting_statements(env) as statements:
            body = await env.gql(GROUPS, {"first": first}, token)
        assert len(body["data"]["groups"]["edges"]) == first, body
        assert all(len(e["node"]["nodes"]) == len(e["node"]["nodeIds"]) == 3
                   for e in body["data"]["groups"]["edges"])
        rest = await env.client.get("/v1/user/node_group", headers={"Authorization": token},
                                    params={"node_list": "true", "sub_groups": "true",
                                            "num_records": "100"})
        assert all(g["total"] == 3 for g in rest.json()["groups"])
        return len(statements)

    for i in range(2):
        await create(env, token, name=f"A{i}", nodeIds=nodes[i:i + 3])
    await env.gql(GROUPS, {"first": 2}, token)  # warm caches (authentication, policies)
    two = await count(2)
    for i in range(2, 30):
        await create(env, token, name=f"A{i}", nodeIds=nodes[i % 4:i % 4 + 3])
    thirty = await count(30)
    print(f"SQL statements listing groups with nodes: 2 groups -> {two}, 30 -> {thirty}")
    assert thirty == two
