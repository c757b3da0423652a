"""Group sharing through GraphQL: the same use cases and rules as REST, errors with
extensions.code and reason, node access through a shared group (and its end on unshare),
Group.sharing / Group.role, and a listing of groups with their sharing in constant SQL."""

from __future__ import annotations

from typing import Any

from tests.api.test_graphql_nodes import claimed_node, counting_statements
from tests.conftest import Env

CREATE = """mutation($input: CreateGroupInput!) { createGroup(input: $input) {
  group { id name role } } }"""
SHARE = """mutation($input: ShareGroupsInput!) { shareGroups(input: $input) {
  request { id status groupIds groupNames fromUserName toUserName role transfer metadata } } }"""
RESPOND = """mutation($input: RespondToGroupSharingRequestInput!) {
  respondToGroupSharingRequest(input: $input) { request { id status groupIds } } }"""
CANCEL = """mutation($input: CancelGroupSharingRequestInput!) {
  cancelGroupSharingRequest(input: $input) { request { id status groupNames } } }"""
UNSHARE = """mutation($input: UnshareGroupsInput!) { unshareGroups(input: $input) { ok } }"""
LEAVE = """mutation($input: LeaveGroupInput!) { leaveGroup(input: $input) { ok } }"""
REQUESTS = """query($direction: SharingDirection!, $first: Int!, $after: String) {
  groupSharingRequests(direction: $direction, first: $first, after: $after) {
    edges { cursor node { id status groupIds groupNames fromUserName toUserName } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }"""
NODE_REQUESTS = """query { sharingRequests(direction: SENT, first: 10) {
  edges { node { id } } } }"""
GROUP = """query($id: ID!) { group(id: $id) { id name role nodeIds
  sharing { primary secondary metadata } } }"""
GROUPS = """query($first: Int!) { groups(first: $first) { totalCount
  edges { node { id name role nodeIds sharing { primary secondary } } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id role } }"""


def error(result: dict[str, Any]) -> tuple[str, str]:
    assert "errors" in result, result
    extensions = result["errors"][0]["extensions"]
    return str(extensions["code"]), str(extensions.get("reason"))


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in result, result
    return result["data"]  # type: ignore[no-any-return]


async def group_of(env: Env, token: str, name: str, node_ids: list[str]) -> str:
    nodes = {"nodeIds": node_ids} if node_ids else {}
    body = ok(await env.gql(CREATE, {"input": {"name": name, **nodes}}, token))
    assert body["createGroup"]["group"]["role"] == "PRIMARY"
    return str(body["createGroup"]["group"]["id"])


async def share(env: Env, token: str, group_ids: list[str], user_name: str,
                **extra: Any) -> dict[str, Any]:
    body = ok(await env.gql(SHARE, {"input": {"groupIds": group_ids, "userName": user_name,
                                              **extra}}, token))
    return body["shareGroups"]["request"]  # type: ignore[no-any-return]


async def accept(env: Env, token: str, request_id: str) -> None:
    body = ok(await env.gql(RESPOND, {"input": {"requestId": request_id, "accept": True}},
                            token))
    assert body["respondToGroupSharingRequest"]["request"]["status"] == "ACCEPTED"


async def test_share_accept_read_and_unshare(env: Env) -> None:
    owner = await env.user("owner@example.com")
    guest = await env.user("guest@example.com")
    third = await env.user("third@example.com")
    node = await claimed_node(env, owner)
    home = await group_of(env, owner, "Home", [node])
    assert error(await env.gql(NODE, {"id": node}, guest))[0] == "NOT_FOUND"

    request = await share(env, owner, [home], "guest@example.com", metadata={"note": "hi"})
    assert request["status"] == "PENDING" and request["role"] == "secondary"
    assert request["groupIds"] == [home] and request["groupNames"] == ["Home"]
    assert (request["fromUserName"], request["toUserName"]) == ("owner@example.com",
                                                                "guest@example.com")
    assert request["metadata"] == {"note": "hi"} and request["transfer"] is False
    # pending: nothing reached yet; a stranger cannot answer it
    assert error(await env.gql(NODE, {"id": node}, guest))[0] == "NOT_FOUND"
    assert error(await env.gql(RESPOND, {"input": {"requestId": request["id"],
                                                   "accept": True}}, third)) == \
        ("NOT_FOUND", "group_sharing_request_not_found")

    received = ok(await env.gql(REQUESTS, {"direction": "RECEIVED", "first": 5}, guest))
    edges = received["groupSharingRequests"]["edges"]
    assert [e["node"] for e in edges] == [{
        "id": request["id"], "status": "PENDING", "groupIds": [home], "groupNames": ["Home"],
        "fromUserName": "owner@example.com", "toUserName": "guest@example.com"}]
    # a group request is not a node sharing request
    assert ok(await env.gql(NODE_REQUESTS, token=owner))["sharingRequests"]["edges"] == []

    await accept(env, guest, request["id"])
    assert error(await env.gql(RESPOND, {"input": {"requestId": request["id"],
                                                   "accept": True}}, guest)) == \
        ("VALIDATION", "group_sharing_request_accepted")

    # the guest reaches the node through the group, and sees the group as a secondary
    assert ok(await env.gql(NODE, {"id": node}, guest))["node"] == {"id": node,
                                                                    "role": "SECONDARY"}
    listed = ok(await env.gql(GROUPS, {"first": 10}, guest))["groups"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"] == {
        "id": home, "name": "Home", "role": "SECONDARY", "nodeIds": [node],
        "sharing": {"primary": ["owner@example.com"], "secondary": []}}
    as_owner = ok(await env.gql(GROUP, {"id": home}, owner))["group"]
    assert as_owner["role"] == "PRIMARY"
    assert as_owner["sharing"] == {
        "primary": ["owner@example.com"], "secondary": ["guest@example.com"],
        "metadata": {"owner@example.com": None, "guest@example.com": {"note": "hi"}}}

    # a secondary cannot share; nobody shares with themselves
    assert error(await env.gql(SHARE, {"input": {"groupIds": [home],
                                                 "userName": "third@example.com"}}, guest)) == \
        ("FORBIDDEN", "group_sharing_not_primary")
    assert error(await env.gql(SHARE, {"input": {"groupIds": [home],
                                                 "userName": "owner@example.com"}}, owner)) == \
        ("VALIDATION", "group_sharing_self")
    assert error(await env.gql(SHARE, {"input": {"groupIds": [home],
                                                 "userName": "nobody@example.com"}},
                               owner)) == ("NOT_FOUND", "group_sharing_user_not_found")
    assert error(await env.gql(SHARE, {"input": {"groupIds": [],
                                                 "userName": "third@example.com"}},
                               owner)) == ("VALIDATION", "group_sharing_no_groups")
    assert error(await env.gql(SHARE, {"input": {"groupIds": [home],
                                                 "userName": "guest@example.com"}},
                               third))[0] == "NOT_FOUND"
    assert error(await env.gql(GROUP, {"id": home}, third))[0] == "NOT_FOUND"

    # unsharing takes effect on the guest's very next read
    assert ok(await env.gql(UNSHARE, {"input": {"groupIds": [home],
                                                "userName": "guest@example.com"}},
                            owner))["unshareGroups"]["ok"] is True
    assert error(await env.gql(NODE, {"id": node}, guest)) == ("NOT_FOUND", "node_not_found")
    assert error(await env.gql(GROUP, {"id": home}, guest))[0] == "NOT_FOUND"
    assert ok(await env.gql(GROUPS, {"first": 10}, guest))["groups"]["totalCount"] == 0
    assert ok(await env.gql(GROUP, {"id": home}, owner))["group"]["sharing"]["secondary"] == []
    assert error(await env.gql(UNSHARE, {"input": {"groupIds": [home],
                                                   "userName": "guest@example.com"}},
                               owner)) == ("VALIDATION", "group_sharing_not_shared")


async def test_primary_share_leave_cancel_and_paging(env: Env) -> None:
    owner = await env.user("owner@example.com")
    guest = await env.user("guest@example.com")
    third = await env.user("third@example.com")
    node = await claimed_node(env, owner)
    home = await group_of(env, owner, "Home", [node])
    office = await group_of(env, owner, "Office", [])

    # a primary share: the guest may share the group on
    request = await share(env, owner, [home], "guest@example.com", primary=True)
    assert request["role"] == "primary"
    await accept(env, guest, request["id"])
    assert ok(await env.gql(GROUP, {"id": home}, guest))["group"]["role"] == "PRIMARY"
    onward = await share(env, guest, [home], "third@example.com")
    assert onward["status"] == "PENDING" and onward["fromUserName"] == "guest@example.com"

    # the guest leaves: access ends at once; the owner cannot leave its own group
    assert ok(await env.gql(LEAVE, {"input": {"groupId": home}}, guest))["leaveGroup"]["ok"]
    assert error(await env.gql(NODE, {"id": node}, guest))[0] == "NOT_FOUND"
    assert error(await env.gql(GROUP, {"id": home}, guest))[0] == "NOT_FOUND"
    assert error(await env.gql(LEAVE, {"input": {"groupId": home}}, owner)) == \
        ("VALIDATION", "group_leave_owner")
    assert error(await env.gql(LEAVE, {"input": {"groupId": home}}, guest))[0] == "NOT_FOUND"
    # the guest's onward request can no longer be granted: it no longer reaches the group
    assert error(await env.gql(RESPOND, {"input": {"requestId": onward["id"],
                                                   "accept": True}}, third))[0] == "NOT_FOUND"
    assert error(await env.gql(NODE, {"id": node}, third))[0] == "NOT_FOUND"

    # the owner withdraws a request; it can then be neither cancelled again nor accepted
    pending = await share(env, owner, [office], "third@example.com")
    cancelled = ok(await env.gql(CANCEL, {"input": {"requestId": pending["id"]}}, owner))
    assert cancelled["cancelGroupSharingRequest"]["request"] == {
        "id": pending["id"], "status": "CANCELLED", "groupNames": ["Office"]}
    assert error(await env.gql(CANCEL, {"input": {"requestId": pending["id"]}}, owner)) == \
        ("VALIDATION", "group_sharing_request_cancelled")
    assert error(await env.gql(CANCEL, {"input": {"requestId": request["id"]}}, third))[0] \
        == "NOT_FOUND"
    assert error(await env.gql(RESPOND, {"input": {"requestId": pending["id"],
                                                   "accept": True}}, third)) == \
        ("VALIDATION", "group_sharing_request_cancelled")
    # a declined request stays declined
    declined = await share(env, owner, [office], "guest@example.com")
    body = ok(await env.gql(RESPOND, {"input": {"requestId": declined["id"], "accept": False}},
                            guest))
    assert body["respondToGroupSharingRequest"]["request"]["status"] == "DECLINED"
    assert error(await env.gql(CANCEL, {"input": {"requestId": declined["id"]}}, owner)) == \
        ("VALIDATION", "group_sharing_cancel_declined")

    # the owner's sent requests, a page at a time
    sent: list[dict[str, Any]] = []
    after = None
    for _ in range(5):
        page = ok(await env.gql(REQUESTS, {"direction": "SENT", "first": 2, "after": after},
                                owner))["groupSharingRequests"]
        sent += [e["node"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [r["id"] for r in sent] == sorted([request["id"], pending["id"], declined["id"]])
    assert {r["id"]: (r["status"], r["groupNames"]) for r in sent} == {
        request["id"]: ("ACCEPTED", ["Home"]), pending["id"]: ("CANCELLED", ["Office"]),
        declined["id"]: ("DECLINED", ["Office"])}
    assert error(await env.gql(REQUESTS, {"direction": "SENT", "first": 2, "after": "!"},
                               owner)) == ("VALIDATION", "invalid_cursor")
    assert error(await env.gql(REQUESTS, {"direction": "SENT", "first": 11}, owner)) == \
        ("VALIDATION", "invalid_page")


async def test_listing_groups_with_their_sharing_costs_constant_statements(env: Env) -> None:
    owner = await env.user("owner@example.com")
    guest = await env.user("guest@example.com")
    node = await claimed_node(env, owner)

    async def add_shared_groups(count: int, start: int) -> None:
        for i in range(start, start + count):
            group = await group_of(env, owner, f"G{i}", [node])
            await accept(env, guest, (await share(env, owner, [group],
                                                  "guest@example.com"))["id"])

    async def count(first: int) -> int:
        with counting_statements(env) as statements:
            body = ok(await env.gql(GROUPS, {"first": first}, owner))
        edges = body["groups"]["edges"]
        assert len(edges) == first
        assert all(e["node"]["sharing"] == {"primary": ["owner@example.com"],
                                            "secondary": ["guest@example.com"]}
                   for e in edges)
        return len(statements)

    await add_shared_groups(2, 0)
    await env.gql(GROUPS, {"first": 2}, owner)  # warm caches (authentication, policies)
    two = await count(2)
    await add_shared_groups(10, 2)
    twelve = await count(12)
    print(f"SQL statements listing groups with sharing: 2 groups -> {two}, 12 -> {twelve}")
    assert twelve == two
