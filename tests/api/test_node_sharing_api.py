"""Node sharing over REST: the request flow, the visibility rule, every sharing operation ×
{primary, secondary, stranger in the org, user of another org}, and S1/S2: unsharing takes
effect on the very next request, for tokens issued before it too."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import Env

PRIMARY, SECONDARY, STRANGER, FOREIGN = ("owner@example.com", "guest@example.com",
                                         "stranger@example.com", "other@elsewhere.io")


@dataclass
class Users:
    node_id: str
    headers: dict[str, dict[str, str]]

    def h(self, user: str) -> dict[str, str]:
        return self.headers[user]


async def setup(env: Env) -> Users:
    node = await env.provision_node()
    headers = {name: {"Authorization": await env.user(name)}
               for name in (PRIMARY, SECONDARY, STRANGER)}
    headers[FOREIGN] = {"Authorization": await env.provision(FOREIGN, org="Elsewhere")}
    r = await env.client.put("/v1/user/nodes/mapping", headers=headers[PRIMARY], json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add"})
    assert r.status_code == 200, r.text
    users = Users(node.node_id, headers)
    await share(env, users, SECONDARY)
    return users


async def share(env: Env, users: Users, to: str, **extra: object) -> str:
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(PRIMARY),
                             json={"nodes": [users.node_id], "user_name": to, **extra})
    assert r.status_code == 200, r.text
    request_id = str(r.json()["request_id"])
    if r.json()["description"] == "Node sharing added for the user successfully":
        return request_id  # the user reached the node already: applied without approval
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(to),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 200, r.text
    return request_id


async def test_share_accept_list_and_visibility(env: Env) -> None:
    users = await setup(env)
    node = users.node_id
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node}", headers=users.h(SECONDARY))
    assert r.status_code == 200
    r = await env.client.get("/v1/user/nodes/sharing", headers=users.h(PRIMARY))
    assert r.json() == {"node_sharing": [{"node_id": node, "sources": ["NODE"], "users": {
        "primary": [PRIMARY], "secondary": [SECONDARY]}}]}
    # the deprecated path creates a request too; the stranger becomes a second secondary
    r = await env.client.put("/v1/user/nodes/sharing", headers=users.h(PRIMARY),
                             json={"nodes": [node], "user_name": STRANGER,
                                   "metadata": {"room": "hall"}})
    assert r.status_code == 200 and r.json()["request_id"]
    pending = r.json()["request_id"]
    r = await env.client.get("/v1/user/nodes/sharing/requests", headers=users.h(STRANGER))
    [entry] = r.json()["sharing_requests"]
    assert entry["request_id"] == pending and entry["request_status"] == "pending"
    assert entry["node_ids"] == [node] and entry["primary_user_name"] == PRIMARY
    assert entry["user_name"] == STRANGER and entry["metadata"] == {"room": "hall"}
    assert isinstance(entry["request_timestamp"], int)
    r = await env.client.get(f"/v1/user/nodes/sharing/requests?request_id={pending}",
                             headers=users.h(STRANGER))
    assert [e["request_id"] for e in r.json()["sharing_requests"]] == [pending]
    for somebody_else in (PRIMARY, SECONDARY):
        r = await env.client.put("/v1/user/nodes/sharing/requests",
                                 headers=users.h(somebody_else),
                                 json={"request_id": pending, "accept": True})
        assert r.status_code == 404 and r.json()["error_code"] == 107026
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(STRANGER),
                             json={"request_id": pending, "accept": True})
    assert r.status_code == 200
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(STRANGER),
                             json={"request_id": pending, "accept": True})
    assert r.status_code == 400 and r.json()["error_code"] == 107023
    # sharing again with a user who reaches the node: applied at once (a role update)
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(PRIMARY),
                             json={"nodes": [node], "user_name": STRANGER, "primary": True})
    assert r.json()["description"] == "Node sharing added for the user successfully"
    r = await env.client.get(f"/v1/user/nodes?node_id={node}&node_details=true",
                             headers=users.h(STRANGER))
    assert r.json()["node_details"][0]["role"] == "primary"
    # a secondary sees the primaries and its sources, not the other secondaries
    r = await env.client.get(f"/v1/user/nodes/sharing?node_id={node}",
                             headers=users.h(SECONDARY))
    assert r.json() == {"node_sharing": [{"node_id": node, "sources": ["NODE"], "users": {
        "primary": [PRIMARY, STRANGER], "secondary": []}}]}
    r = await env.client.get("/v1/user/nodes/sharing/requests?primary_user=true",
                             headers=users.h(PRIMARY))
    # every request the primary sent was accepted: RainMaker's request_status has no value
    # for that (pending or declined only), so /v1 lists none of them
    assert r.json()["sharing_requests"] == []
    r = await env.client.get("/v1/user/nodes/sharing/requests?primary_user=yes",
                             headers=users.h(PRIMARY))
    assert r.status_code == 400 and r.json()["error_code"] == 107019


async def test_bad_shares_have_stable_codes(env: Env) -> None:
    users = await setup(env)
    node, owner = users.node_id, users.h(PRIMARY)
    cases = [
        ({"nodes": [node], "user_name": PRIMARY}, 400, 107003),
        ({"nodes": [node], "user_name": "nobody@example.com"}, 400, 107007),
        ({"nodes": [node], "user_name": FOREIGN}, 400, 107007),
        ({"nodes": [node, "NOPE"], "user_name": STRANGER}, 400, 100010),
        ({"nodes": [node] * 101, "user_name": STRANGER}, 400, 100006),
        ({"nodes": [node], "user_name": STRANGER, "new_role": "secondary"}, 400, 107035),
        ({"request_id": "nope", "accept": True}, 404, 107026),
    ]
    for body, status, code in cases:
        r = await env.client.put("/v1/user/nodes/sharing/requests", headers=owner, json=body)
        assert (r.status_code, r.json().get("error_code")) == (status, code), (body, r.text)
    r = await env.client.get("/v1/user/nodes/sharing/requests?primary_user=true",
                             headers=owner)
    assert r.json()["sharing_requests"] == []  # no refused share left a request behind


async def test_cancel_and_transfer(env: Env) -> None:
    users = await setup(env)
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(PRIMARY),
                             json={"nodes": [users.node_id], "user_name": STRANGER})
    request_id = r.json()["request_id"]
    r = await env.client.delete(f"/v1/user/nodes/sharing/requests?request_id={request_id}",
                                headers=users.h(STRANGER))
    assert r.status_code == 404 and r.json()["error_code"] == 107026
    r = await env.client.delete(f"/v1/user/nodes/sharing/requests?request_id={request_id}",
                                headers=users.h(PRIMARY))
    assert r.status_code == 200
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=users.h(STRANGER),
                             json={"request_id": request_id, "accept": True})
    assert r.status_code == 400 and r.json()["error_code"] == 107023
    await share(env, users, SECONDARY, transfer=True, new_role="secondary")
    r = await env.client.get(f"/v1/user/nodes?node_id={users.node_id}&node_details=true",
                             headers=users.h(SECONDARY))
    assert r.json()["node_details"][0]["role"] == "primary"
    r = await env.client.get(f"/v1/user/nodes?node_id={users.node_id}&node_details=true",
                             headers=users.h(PRIMARY))
    assert r.json()["node_details"][0]["role"] == "secondary"


async def test_unsharing_takes_effect_on_the_next_request_for_existing_tokens(env: Env) -> None:
    users = await setup(env)
    node, guest = users.node_id, users.h(SECONDARY)  # a token issued before the unsharing
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node}", headers=guest)
    assert r.status_code == 200
    r = await env.client.delete(f"/v1/user/nodes/sharing?nodes={node}&user_name={SECONDARY}",
                                headers=users.h(PRIMARY))
    assert r.status_code == 200, r.text
    for path in ("params", "config", "status"):
        r = await env.client.get(f"/v1/user/nodes/{path}?node_id={node}", headers=guest)
        assert r.status_code == 400 and r.json()["error_code"] == 100010
    r = await env.client.put(f"/v1/user/nodes/params?node_id={node}", headers=guest,
                             json={"Light": {"power": True}})
    assert r.status_code == 400
    # a secondary leaves by itself
    await share(env, users, STRANGER)
    r = await env.client.delete(f"/v1/user/nodes/sharing?nodes={node}&user_name={STRANGER}",
                                headers=users.h(STRANGER))
    assert r.status_code == 200
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node}",
                             headers=users.h(STRANGER))
    assert r.status_code == 400


ROLES = (PRIMARY, SECONDARY, STRANGER, FOREIGN)
# (operation, expected status for primary, secondary, stranger in org, user of another org)
MATRIX = [
    ("share", (200, 400, 400, 400)),
    ("list_sharing_of_node", (200, 200, 400, 400)),
    ("list_all_sharing", (200, 200, 200, 200)),
    ("respond_to_request", (404, 404, 404, 404)),  # only its receiver (the third user)
    ("cancel_request", (200, 404, 404, 404)),
    ("list_request", (200, 404, 404, 404)),
    ("remove_other_user", (200, 400, 400, 400)),
    ("leave", (400, 200, 400, 400)),
    ("read_params", (200, 200, 400, 400)),
]


@pytest.mark.parametrize(("operation", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
async def test_every_sharing_operation_for_every_kind_of_user(
        env: Env, operation: str, expected: tuple[int, ...]) -> None:
    users = await setup(env)
    node, client = users.node_id, env.client
    third = "third@example.com"
    users.headers[third] = {"Authorization": await env.user(third)}
    for role, status in zip(ROLES, expected, strict=True):
        # a fresh pending request from the primary to the secondary for each caller
        r = await client.put("/v1/user/nodes/sharing/requests", headers=users.h(PRIMARY),
                             json={"nodes": [node], "user_name": third})
        pending = r.json()["request_id"]
        h = users.h(role)
        if operation == "share":
            r = await client.put("/v1/user/nodes/sharing/requests", headers=h,
                                 json={"nodes": [node], "user_name": third})
        elif operation == "list_sharing_of_node":
            r = await client.get(f"/v1/user/nodes/sharing?node_id={node}", headers=h)
        elif operation == "list_all_sharing":
            r = await client.get("/v1/user/nodes/sharing", headers=h)
        elif operation == "respond_to_request":
            r = await client.put("/v1/user/nodes/sharing/requests", headers=h,
                                 json={"request_id": pending, "accept": False})
        elif operation == "cancel_request":
            r = await client.delete(f"/v1/user/nodes/sharing/requests?request_id={pending}",
                                    headers=h)
        elif operation == "list_request":
            r = await client.get(f"/v1/user/nodes/sharing/requests?request_id={pending}",
                                 headers=h)
        elif operation == "remove_other_user":
            await share(env, users, third)
            r = await client.delete(f"/v1/user/nodes/sharing?nodes={node}&user_name={third}",
                                    headers=h)
        elif operation == "leave":
            r = await client.delete(f"/v1/user/nodes/sharing?nodes={node}&user_name={role}",
                                    headers=h)
            if r.status_code == 200:
                await share(env, users, role)
        else:
            r = await client.get(f"/v1/user/nodes/params?node_id={node}", headers=h)
        assert r.status_code == status, (operation, role, r.text)
