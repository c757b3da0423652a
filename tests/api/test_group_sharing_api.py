"""Group sharing over REST: the request flow, access to every node of a shared group (and
its sub-groups) now and as nodes are added, removal taking effect on the very next request
(tokens issued before included), leave / remove_sharing, transfer, the visibility rule, and
the bad inputs of issue 4 (each a stable code, nothing written)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.conftest import Env

OWNER, GUEST, OTHER, STRANGER, FOREIGN = ("owner@example.com", "guest@example.com",
                                          "other@example.com", "stranger@example.com",
                                          "other@elsewhere.io")


@dataclass
class World:
    nodes: list[str]
    group: str
    sub: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, user: str) -> dict[str, str]:
        return self.headers[user]


async def map_node(env: Env, headers: dict[str, str]) -> str:
    node = await env.provision_node()
    r = await env.client.put("/v1/user/nodes/mapping", headers=headers, json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add"})
    assert r.status_code == 200, r.text
    return node.node_id


async def setup(env: Env) -> World:
    headers = {name: {"Authorization": await env.user(name)}
               for name in (OWNER, GUEST, OTHER, STRANGER)}
    headers[FOREIGN] = {"Authorization": await env.provision(FOREIGN, org="Elsewhere")}
    nodes = [await map_node(env, headers[OWNER]) for _ in range(3)]
    r = await env.client.post("/v1/user/node_group", headers=headers[OWNER], json={
        "group_name": "Home", "nodes": nodes[:2]})
    assert r.status_code == 200, r.text
    group = r.json()["group_id"]
    r = await env.client.post("/v1/user/node_group", headers=headers[OWNER], json={
        "group_name": "Kitchen", "nodes": nodes[:1], "parent_group_id": group})
    assert r.status_code == 200, r.text
    return World(nodes=nodes, group=group, sub=r.json()["group_id"], headers=headers)


async def share(env: Env, world: World, to: str, *, groups: list[str] | None = None,
                **extra: object) -> str:
    r = await env.client.put("/v1/user/node_group/sharing", headers=world.h(OWNER), json={
        "groups": groups or [world.group], "user_name": to, **extra})
    assert r.status_code == 200, r.text
    request_id = str(r.json()["request_id"])
    if r.json()["description"] == "Group sharing added for the user successfully":
        return request_id
    r = await env.client.put("/v1/user/node_group/sharing/requests", headers=world.h(to),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 200, r.text
    return request_id


async def reads(env: Env, headers: dict[str, str], node_id: str) -> int:
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node_id}", headers=headers)
    return r.status_code


async def test_sharing_a_group_grants_its_nodes_now_and_as_they_change(env: Env) -> None:
    world = await setup(env)
    a, b, c = world.nodes
    r = await env.client.put("/v1/user/node_group/sharing", headers=world.h(OWNER), json={
        "groups": [world.group], "user_name": GUEST, "metadata": {"room": "all"}})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Group sharing request added for the user successfully"
    request_id = r.json()["request_id"]
    assert await reads(env, world.h(GUEST), a) == 400  # nothing before accepting
    r = await env.client.get("/v1/user/node_group/sharing/requests", headers=world.h(GUEST))
    [entry] = r.json()["sharing_requests"]
    assert entry["request_id"] == request_id and entry["request_status"] == "pending"
    assert entry["group_ids"] == [world.group] and entry["group_names"] == ["Home"]
    assert entry["primary_user_name"] == OWNER and entry["metadata"] == {"room": "all"}
    # node sharing requests and group sharing requests are separate books
    r = await env.client.get("/v1/user/nodes/sharing/requests", headers=world.h(GUEST))
    assert r.json()["sharing_requests"] == []
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=world.h(GUEST),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 404
    r = await env.client.put("/v1/user/node_group/sharing/requests", headers=world.h(GUEST),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 200, r.text
    r = await env.client.put("/v1/user/node_group/sharing/requests", headers=world.h(GUEST),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 400 and r.json()["error_code"] == 108037  # accepting twice
    assert [await reads(env, world.h(GUEST), n) for n in (a, b, c)] == [200, 200, 400]
    # a secondary controls, and sees the group and its sub-group, not as primary
    r = await env.client.put("/v1/user/nodes/params", headers=world.h(GUEST),
                             json=[{"node_id": a, "payload": {"Light": {"Power": True}}}])
    assert r.status_code in (200, 207), r.text
    r = await env.client.get("/v1/user/node_group?node_list=true", headers=world.h(GUEST))
    listed = {g["group_id"]: g for g in r.json()["groups"]}
    assert set(listed) == {world.group, world.sub}
    assert listed[world.group]["primary"] is False and listed[world.group]["nodes"] == [a, b]
    r = await env.client.get("/v1/user/nodes/sharing?node_id=" + a, headers=world.h(GUEST))
    [view] = r.json()["node_sharing"]
    assert view["sources"] == [world.group] and view["users"]["secondary"] == []
    # a node added to the group is reached at once; one removed is gone at once
    r = await env.client.put(f"/v1/user/node_group?group_id={world.group}",
                             headers=world.h(OWNER), json={"operation": "add", "nodes": [c]})
    assert r.status_code == 200, r.text
    assert await reads(env, world.h(GUEST), c) == 200
    r = await env.client.put(f"/v1/user/node_group?group_id={world.group}",
                             headers=world.h(OWNER), json={"operation": "remove", "nodes": [b]})
    assert r.status_code == 200, r.text
    assert await reads(env, world.h(GUEST), b) == 400
    # the node listing reflects the same access
    r = await env.client.get("/v1/user/nodes", headers=world.h(GUEST))
    assert sorted(r.json()["nodes"]) == sorted([a, c])


async def test_who_shares_a_group_and_the_visibility_rule(env: Env) -> None:
    world = await setup(env)
    await share(env, world, GUEST, metadata={"friend": True})
    await share(env, world, OTHER, primary=True)
    r = await env.client.get("/v1/user/node_group/sharing?metadata=true",
                             headers=world.h(OWNER))
    [entry] = r.json()["group_sharing"]
    assert entry["group_id"] == world.group
    assert entry["users"]["primary"] == sorted([OWNER, OTHER])
    assert entry["users"]["secondary"] == [GUEST]
    assert {"user_name": GUEST, "metadata": {"friend": True}} in \
        entry["users"]["secondary_metadata"]
    # a secondary sees the primaries only; sub-groups inherit the parent's shares
    r = await env.client.get(f"/v1/user/node_group/sharing?group_id={world.group}"
                             "&sub_groups=true", headers=world.h(GUEST))
    [entry] = r.json()["group_sharing"]
    assert entry["users"] == {"primary": sorted([OWNER, OTHER]), "secondary": []}
    assert [s["group_id"] for s in entry["sub_groups"]] == [world.sub]
    assert entry["sub_groups"][0]["users"]["primary"] == sorted([OWNER, OTHER])
    r = await env.client.get(f"/v1/user/node_group/sharing?group_id={world.sub}"
                             "&parent_groups=true", headers=world.h(GUEST))
    [entry] = r.json()["group_sharing"]
    assert entry["parent_groups"]["group_id"] == world.group
    for outsider in (STRANGER, FOREIGN):
        r = await env.client.get(f"/v1/user/node_group/sharing?group_id={world.group}",
                                 headers=world.h(outsider))
        assert r.status_code == 400 and r.json()["error_code"] == 108023


async def test_what_each_role_may_do_with_a_shared_group(env: Env) -> None:
    world = await setup(env)
    await share(env, world, GUEST)
    await share(env, world, OTHER, primary=True)
    group = world.group
    # a secondary may not share, change or delete the group
    r = await env.client.put("/v1/user/node_group/sharing", headers=world.h(GUEST),
                             json={"groups": [group], "user_name": STRANGER})
    assert r.status_code == 400 and r.json()["error_code"] == 108041
    r = await env.client.put(f"/v1/user/node_group?group_id={group}", headers=world.h(GUEST),
                             json={"group_name": "Mine"})
    assert r.status_code == 400 and r.json()["error_code"] == 108041
    r = await env.client.delete(f"/v1/user/node_group?group_id={group}",
                                headers=world.h(GUEST))
    assert r.status_code == 400 and r.json()["error_code"] == 108041
    # a secondary cannot remove a node it reaches through a group as if it were mapped
    r = await env.client.put("/v1/user/nodes/mapping", headers=world.h(GUEST), json={
        "node_id": world.nodes[0], "operation": "remove"})
    assert r.status_code == 400 and r.json()["error_code"] == 107028
    # a primary through sharing may rename the group and add its owner's nodes
    r = await env.client.put(f"/v1/user/node_group?group_id={group}", headers=world.h(OTHER),
                             json={"group_name": "Our home", "operation": "add",
                                   "nodes": [world.nodes[2]]})
    assert r.status_code == 200, r.text
    assert await reads(env, world.h(GUEST), world.nodes[2]) == 200
    # ...but only nodes the group's owner holds
    own = await map_node(env, world.h(OTHER))
    r = await env.client.put(f"/v1/user/node_group?group_id={group}", headers=world.h(OTHER),
                             json={"operation": "add", "nodes": [own]})
    assert r.status_code == 400 and r.json()["error_code"] == 108013
    # strangers and other organizations do not learn the group exists
    for outsider in (STRANGER, FOREIGN):
        r = await env.client.put(f"/v1/user/node_group?group_id={group}",
                                 headers=world.h(outsider), json={"group_name": "x"})
        assert r.status_code == 400 and r.json()["error_code"] == 108023
        r = await env.client.put("/v1/user/node_group/sharing", headers=world.h(outsider),
                                 json={"groups": [group], "user_name": GUEST})
        assert r.status_code == 400
        assert await reads(env, world.h(outsider), world.nodes[0]) == 400


async def test_unsharing_and_leaving_take_effect_on_the_next_request(env: Env) -> None:
    world = await setup(env)
    a = world.nodes[0]
    await share(env, world, GUEST)
    await share(env, world, OTHER)
    guest_token = world.h(GUEST)  # issued before the unsharing
    assert await reads(env, guest_token, a) == 200
    r = await env.client.delete(f"/v1/user/node_group/sharing?groups={world.group}"
                                f"&user_name={GUEST}", headers=world.h(OWNER))
    assert r.status_code == 200, r.text
    assert await reads(env, guest_token, a) == 400
    r = await env.client.get(f"/v1/user/node_group?group_id={world.group}",
                             headers=guest_token)
    assert r.status_code == 400
    # leaving: not a sub-group shared through its parent, and then the group itself
    r = await env.client.delete(f"/v1/user/node_group?group_id={world.sub}&leave=true",
                                headers=world.h(OTHER))
    assert r.status_code == 400 and r.json()["error_code"] == 108055
    r = await env.client.delete(f"/v1/user/node_group?group_id={world.group}&leave=true",
                                headers=world.h(OTHER))
    assert r.status_code == 200, r.text
    assert await reads(env, world.h(OTHER), a) == 400
    # remove_sharing through the group route; the owner cannot leave its own group
    await share(env, world, GUEST)
    r = await env.client.delete(f"/v1/user/node_group?group_id={world.group}"
                                f"&remove_sharing=true&user_name={GUEST}",
                                headers=world.h(OWNER))
    assert r.status_code == 200, r.text
    assert await reads(env, world.h(GUEST), a) == 400
    r = await env.client.delete(f"/v1/user/node_group?group_id={world.group}&leave=true",
                                headers=world.h(OWNER))
    assert r.status_code == 400 and r.json()["error_code"] == 108071
    # deleting the group drops every share with it
    await share(env, world, GUEST)
    r = await env.client.delete(f"/v1/user/node_group?group_id={world.group}",
                                headers=world.h(OWNER))
    assert r.status_code == 200
    assert await reads(env, world.h(GUEST), a) == 400
    assert await reads(env, world.h(OWNER), a) == 200


async def test_transfer_moves_the_group_and_its_nodes(env: Env) -> None:
    world = await setup(env)
    await share(env, world, OTHER)
    await share(env, world, GUEST, transfer=True, new_role="secondary")
    r = await env.client.get("/v1/user/node_group", headers=world.h(GUEST))
    mine = {g["group_id"]: g["primary"] for g in r.json()["groups"]}
    assert mine == {world.group: True, world.sub: True}
    # the receiver holds the nodes as primary itself; the sender keeps a secondary share
    r = await env.client.get("/v1/user/nodes/sharing?node_id=" + world.nodes[0],
                             headers=world.h(GUEST))
    [view] = r.json()["node_sharing"]
    assert view["users"]["primary"] == [GUEST] and view["sources"] == ["NODE"]
    assert await reads(env, world.h(OWNER), world.nodes[0]) == 200
    assert await reads(env, world.h(OTHER), world.nodes[0]) == 200  # shares survive
    r = await env.client.put("/v1/user/node_group/sharing", headers=world.h(OWNER),
                             json={"groups": [world.group], "user_name": STRANGER})
    assert r.status_code == 400 and r.json()["error_code"] == 108041
    # a node outside the group stays the sender's
    assert await reads(env, world.h(GUEST), world.nodes[2]) == 400


async def test_bad_group_sharing_input_gets_stable_codes_and_writes_nothing(env: Env) -> None:
    world = await setup(env)
    h = world.h(OWNER)

    async def put(body: dict[str, object]) -> tuple[int, int]:
        r = await env.client.put("/v1/user/node_group/sharing", headers=h, json=body)
        return r.status_code, r.json().get("error_code", 0)

    assert await put({"groups": [world.group], "user_name": OWNER}) == (400, 108046)
    assert await put({"groups": [world.group], "user_name": "nobody@example.com"}) \
        == (400, 108050)
    assert await put({"groups": [world.group], "user_name": FOREIGN}) == (400, 108050)
    assert (await put({"groups": [world.group, world.group], "user_name": GUEST}))[1] \
        in (108112, 100006)
    assert (await put({"groups": [], "user_name": GUEST}))[0] == 400
    assert (await put({"groups": [world.group] * 11, "user_name": GUEST}))[0] == 400
    assert await put({"groups": [world.group], "user_name": GUEST,
                      "new_role": "secondary"}) == (400, 108139)
    assert await put({"groups": [world.sub], "user_name": GUEST,
                      "transfer": True}) == (400, 108141)
    # a group holding a node its owner is only secondary of cannot be shared (108052)
    borrowed = await map_node(env, world.h(OTHER))
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=world.h(OTHER),
                             json={"nodes": [borrowed], "user_name": OWNER})
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=h,
                             json={"request_id": r.json()["request_id"], "accept": True})
    assert r.status_code == 200
    r = await env.client.post("/v1/user/node_group", headers=h,
                              json={"group_name": "Borrowed", "nodes": [borrowed]})
    assert await put({"groups": [r.json()["group_id"]], "user_name": GUEST}) \
        == (400, 108052)
    # requests: someone else's, a cancelled one, a declined one
    r = await env.client.put("/v1/user/node_group/sharing", headers=h,
                             json={"groups": [world.group], "user_name": GUEST})
    pending = r.json()["request_id"]
    r = await env.client.put("/v1/user/node_group/sharing/requests", headers=world.h(OTHER),
                             json={"request_id": pending, "accept": True})
    assert r.status_code == 404 and r.json()["error_code"] == 108040
    r = await env.client.delete(f"/v1/user/node_group/sharing/requests?request_id={pending}",
                                headers=h)
    assert r.status_code == 200
    r = await env.client.put("/v1/user/node_group/sharing/requests", headers=world.h(GUEST),
                             json={"request_id": pending, "accept": True})
    assert r.status_code == 400 and r.json()["error_code"] == 108037
    r = await env.client.get("/v1/user/node_group/sharing/requests?primary_user=maybe",
                             headers=h)
    assert r.status_code == 400 and r.json()["error_code"] == 108033
    # none of it gave the guest anything
    assert await reads(env, world.h(GUEST), world.nodes[0]) == 400
    r = await env.client.get("/v1/user/node_group/sharing?metadata=true", headers=h)
    assert all(e["users"]["secondary"] == [] for e in r.json()["group_sharing"])


ROLES = (OWNER, OTHER, GUEST, STRANGER, FOREIGN)
# (operation, expected status for the owner, a primary sharee, a secondary sharee, a stranger
# in the organization, a user of another organization)
MATRIX = [
    ("share_group", (200, 200, 400, 400, 400)),
    ("read_group", (200, 200, 200, 400, 400)),
    ("read_sub_group", (200, 200, 200, 400, 400)),
    ("rename_group", (200, 200, 400, 400, 400)),
    ("add_owner_node", (200, 200, 400, 400, 400)),
    ("who_shares_group", (200, 200, 200, 400, 400)),
    ("respond_to_request", (404, 404, 404, 404, 404)),  # only its receiver (STRANGER's is
    ("cancel_request", (200, 404, 404, 404, 404)),      # tried by STRANGER below as well)
    ("list_request", (200, 404, 404, 404, 404)),
    ("remove_primary_sharee", (200, 200, 400, 400, 400)),  # itself: leaving
    ("leave", (400, 200, 200, 400, 400)),
    ("read_node", (200, 200, 200, 400, 400)),
    ("control_node", (200, 200, 200, 400, 400)),
    ("share_node_itself", (200, 400, 400, 400, 400)),
]


@pytest.mark.parametrize(("operation", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
async def test_every_group_operation_for_every_kind_of_user(
        env: Env, operation: str, expected: tuple[int, ...]) -> None:
    world = await setup(env)
    await share(env, world, OTHER, primary=True)
    await share(env, world, GUEST)
    client, group, node = env.client, world.group, world.nodes[0]
    third = "third@example.com"
    world.headers[third] = {"Authorization": await env.user(third)}
    for role, status in zip(ROLES, expected, strict=True):
        r = await client.put("/v1/user/node_group/sharing", headers=world.h(OWNER),
                             json={"groups": [group], "user_name": third})
        pending = r.json()["request_id"]
        h = world.h(role)
        if operation == "share_group":
            r = await client.put("/v1/user/node_group/sharing", headers=h,
                                 json={"groups": [group], "user_name": third})
        elif operation == "read_group":
            r = await client.get(f"/v1/user/node_group?group_id={group}", headers=h)
        elif operation == "read_sub_group":
            r = await client.get(f"/v1/user/node_group?group_id={world.sub}", headers=h)
        elif operation == "rename_group":
            r = await client.put(f"/v1/user/node_group?group_id={group}", headers=h,
                                 json={"description": f"by {role}"})
        elif operation == "add_owner_node":
            r = await client.put(f"/v1/user/node_group?group_id={group}", headers=h,
                                 json={"operation": "add", "nodes": [world.nodes[2]]})
        elif operation == "who_shares_group":
            r = await client.get(f"/v1/user/node_group/sharing?group_id={group}", headers=h)
        elif operation == "respond_to_request":
            r = await client.put("/v1/user/node_group/sharing/requests", headers=h,
                                 json={"request_id": pending, "accept": False})
        elif operation == "cancel_request":
            r = await client.delete(
                f"/v1/user/node_group/sharing/requests?request_id={pending}", headers=h)
        elif operation == "list_request":
            r = await client.get(f"/v1/user/node_group/sharing/requests?request_id={pending}",
                                 headers=h)
        elif operation == "remove_primary_sharee":
            r = await client.delete(f"/v1/user/node_group/sharing?groups={group}"
                                    f"&user_name={OTHER}", headers=h)
            if r.status_code == 200:
                await share(env, world, OTHER, primary=True)
        elif operation == "leave":
            r = await client.delete(f"/v1/user/node_group?group_id={group}&leave=true",
                                    headers=h)
            if r.status_code == 200:
                await share(env, world, role, primary=role == OTHER)
        elif operation == "read_node":
            r = await client.get(f"/v1/user/nodes/params?node_id={node}", headers=h)
        elif operation == "control_node":
            r = await client.put(f"/v1/user/nodes/params?node_id={node}", headers=h,
                                 json={"Light": {"Power": True}})
        else:  # node-level sharing needs one's own primary access, not a group's
            r = await client.put("/v1/user/nodes/sharing/requests", headers=h,
                                 json={"nodes": [node], "user_name": third})
        assert r.status_code == status, (operation, role, r.text)
    if operation == "respond_to_request":  # ...and the receiver can
        r = await client.put("/v1/user/node_group/sharing/requests", headers=world.h(third),
                             json={"request_id": pending, "accept": True})
        assert r.status_code == 200


async def test_a_node_mapped_into_a_shared_group_reaches_its_sharees(env: Env) -> None:
    world = await setup(env)
    await share(env, world, GUEST)
    node = await env.provision_node()
    # another user's group: not found, and nothing is mapped
    r = await env.client.put("/v1/user/nodes/mapping", headers=world.h(GUEST), json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add",
        "group_id": world.group})
    assert r.status_code == 400 and r.json()["error_code"] == 108023
    r = await env.client.put("/v1/user/nodes/mapping", headers=world.h(OWNER), json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add",
        "group_id": world.sub})
    assert r.status_code == 200, r.text
    # it joined the sub-group and the group above it, so the guest reaches it at once
    for group in (world.sub, world.group):
        r = await env.client.get(f"/v1/user/node_group?group_id={group}&node_list=true",
                                 headers=world.h(OWNER))
        assert node.node_id in r.json()["groups"][0]["nodes"]
    assert await reads(env, world.h(GUEST), node.node_id) == 200
