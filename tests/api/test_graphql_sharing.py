"""Node sharing through GraphQL: the same use cases and rules as REST, errors with
extensions.code, and Node.sharing's visibility rule."""

from __future__ import annotations

from typing import Any

from tests.conftest import Env

SHARE = """mutation($input: ShareNodesInput!) {
  shareNodes(input: $input) { request { id status nodeIds toUserName fromUserName role } } }"""
RESPOND = """mutation($input: RespondToSharingRequestInput!) {
  respondToSharingRequest(input: $input) { request { id status } } }"""
CANCEL = """mutation($input: CancelSharingRequestInput!) {
  cancelSharingRequest(input: $input) { request { status } } }"""
UNSHARE = """mutation($input: UnshareNodesInput!) { unshareNodes(input: $input) { ok } }"""
REQUESTS = """query($direction: SharingDirection!, $first: Int!, $after: String) {
  sharingRequests(direction: $direction, first: $first, after: $after) {
    edges { cursor node { id status fromUserName toUserName } }
    pageInfo { hasNextPage endCursor } } }"""
NODE_SHARING = """query($id: ID!) { node(id: $id) { id sharing { primary secondary sources } } }"""


def code(result: dict[str, Any]) -> str:
    return str(result["errors"][0]["extensions"]["code"])


async def test_share_respond_list_and_unshare(env: Env) -> None:
    node = await env.provision_node()
    owner = await env.user("owner@example.com")
    guest = await env.user("guest@example.com")
    other = await env.user("third@example.com")
    r = await env.client.put("/v1/user/nodes/mapping", headers={"Authorization": owner}, json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add"})
    assert r.status_code == 200
    shared = await env.gql(SHARE, {"input": {"nodeIds": [node.node_id],
                                             "userName": "guest@example.com"}}, token=owner)
    request = shared["data"]["shareNodes"]["request"]
    assert request["status"] == "PENDING" and request["role"] == "secondary"
    assert request["toUserName"] == "guest@example.com"
    # a secondary cannot share; a stranger does not see the node
    assert code(await env.gql(RESPOND, {"input": {"requestId": request["id"], "accept": True}},
                              token=other)) == "NOT_FOUND"
    received = await env.gql(REQUESTS, {"direction": "RECEIVED", "first": 5}, token=guest)
    assert [e["node"]["id"] for e in received["data"]["sharingRequests"]["edges"]] == \
        [request["id"]]
    accepted = await env.gql(RESPOND, {"input": {"requestId": request["id"], "accept": True}},
                             token=guest)
    assert accepted["data"]["respondToSharingRequest"]["request"]["status"] == "ACCEPTED"
    assert code(await env.gql(RESPOND, {"input": {"requestId": request["id"], "accept": True}},
                              token=guest)) == "VALIDATION"
    assert code(await env.gql(SHARE, {"input": {"nodeIds": [node.node_id],
                                                "userName": "third@example.com"}},
                              token=guest)) == "FORBIDDEN"
    # the third user gets a request too, then the owner withdraws it
    third = await env.gql(SHARE, {"input": {"nodeIds": [node.node_id],
                                            "userName": "third@example.com"}}, token=owner)
    third_id = third["data"]["shareNodes"]["request"]["id"]
    cancelled = await env.gql(CANCEL, {"input": {"requestId": third_id}}, token=owner)
    assert cancelled["data"]["cancelSharingRequest"]["request"]["status"] == "CANCELLED"
    sent = await env.gql(REQUESTS, {"direction": "SENT", "first": 1}, token=owner)
    page = sent["data"]["sharingRequests"]
    assert len(page["edges"]) == 1 and page["pageInfo"]["hasNextPage"]
    rest = await env.gql(REQUESTS, {"direction": "SENT", "first": 1,
                                    "after": page["pageInfo"]["endCursor"]}, token=owner)
    assert len(rest["data"]["sharingRequests"]["edges"]) == 1
    assert not rest["data"]["sharingRequests"]["pageInfo"]["hasNextPage"]
    assert {page["edges"][0]["node"]["id"],
            rest["data"]["sharingRequests"]["edges"][0]["node"]["id"]} == {request["id"],
                                                                           third_id}

    as_owner = await env.gql(NODE_SHARING, {"id": node.node_id}, token=owner)
    assert as_owner["data"]["node"]["sharing"] == {
        "primary": ["owner@example.com"], "secondary": ["guest@example.com"],
        "sources": ["NODE"]}
    as_guest = await env.gql(NODE_SHARING, {"id": node.node_id}, token=guest)
    assert as_guest["data"]["node"]["sharing"]["secondary"] == []

    left = await env.gql(UNSHARE, {"input": {"nodeIds": [node.node_id],
                                             "userName": "guest@example.com"}}, token=guest)
    assert left["data"]["unshareNodes"]["ok"] is True
    assert code(await env.gql(NODE_SHARING, {"id": node.node_id}, token=guest)) == "NOT_FOUND"


SHARING_OF_NODES = """query($first: Int) { nodes(first: $first) {
  edges { node { id sharing { primary secondary } } } } }"""


async def test_listing_nodes_with_their_sharing_is_no_n_plus_one(env: Env) -> None:
    from tests.api.test_graphql_nodes import claimed_node, counting_statements

    token = await env.user("owner@example.com")

    async def statements_for(first: int) -> int:
        with counting_statements(env) as statements:
            body = await env.gql(SHARING_OF_NODES, {"first": first}, token)
        edges = body["data"]["nodes"]["edges"]
        assert len(edges) == first
        assert all(e["node"]["sharing"]["primary"] == ["owner@example.com"] for e in edges)
        return len(statements)

    for _ in range(3):
        await claimed_node(env, token)
    await env.gql(SHARING_OF_NODES, {"first": 3}, token)  # warm caches
    few = await statements_for(3)
    for _ in range(12):
        await claimed_node(env, token)
    assert await statements_for(15) == few
