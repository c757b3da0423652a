"""The RainMaker wire as Espressif's own clients send it (esp-rainmaker-cli 1.x, the spec
v3.8): boolean query parameters in any letter case, null members of forgotpassword2 read as
absent, spec-shaped success bodies (leaf groups, request statuses) and sign-up past a stale
Authorization header. docs/rainmaker-compatibility.md says what differs from the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update

from adapters.sql.tables.sharing import node_sharing_requests
from tests.api.test_admin_nodes_api import org_with_devices
from tests.api.test_api_keys import REVOKE, create_key
from tests.conftest import PASSWORD, Env

OWNER, GUEST = "owner@example.com", "guest@example.com"
NEW_PASSWORD = "Fresh1234"


async def _node_shared_with_guest(env: Env) -> tuple[dict[str, str], dict[str, str], str]:
    """A node of OWNER's with a pending sharing request to GUEST (whose id is returned)."""
    node = await env.provision_node()
    owner = {"Authorization": await env.user(OWNER)}
    guest = {"Authorization": await env.user(GUEST)}
    r = await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node.node_id, "secret_key": node.secret_key, "operation": "add"})
    assert r.status_code == 200, r.text
    r = await env.client.put("/v1/user/nodes/sharing/requests", headers=owner,
                             json={"nodes": [node.node_id], "user_name": GUEST})
    assert r.status_code == 200, r.text
    return owner, guest, str(r.json()["request_id"])


# --- 8a: boolean query parameters --------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["True", "TRUE", "true", "tRuE"])
async def test_sharing_list_requests_reads_primary_user_true_in_any_case(
        env: Env, spelling: str) -> None:
    owner, guest, request_id = await _node_shared_with_guest(env)
    r = await env.client.get(f"/v1/user/nodes/sharing/requests?primary_user={spelling}",
                             headers=owner)
    assert r.status_code == 200, r.text
    assert [e["request_id"] for e in r.json()["sharing_requests"]] == [request_id]
    r = await env.client.get(f"/v1/user/nodes/sharing/requests?primary_user={spelling}",
                             headers=guest)
    assert r.json()["sharing_requests"] == []  # the guest sent nothing


@pytest.mark.parametrize("spelling", ["False", "FALSE", "false"])
async def test_sharing_list_requests_reads_primary_user_false_in_any_case(
        env: Env, spelling: str) -> None:
    owner, guest, request_id = await _node_shared_with_guest(env)
    r = await env.client.get(f"/v1/user/nodes/sharing/requests?primary_user={spelling}",
                             headers=guest)
    assert r.status_code == 200, r.text
    assert [e["request_id"] for e in r.json()["sharing_requests"]] == [request_id]
    r = await env.client.get(f"/v1/user/nodes/sharing/requests?primary_user={spelling}",
                             headers=owner)
    assert r.json()["sharing_requests"] == []  # the owner received nothing


async def test_group_sharing_requests_read_primary_user_in_any_case(env: Env) -> None:
    owner = {"Authorization": await env.user(OWNER)}
    await env.user(GUEST)
    r = await env.client.post("/v1/user/node_group", headers=owner, json={"group_name": "Home"})
    group_id = r.json()["group_id"]
    r = await env.client.put("/v1/user/node_group/sharing", headers=owner,
                             json={"groups": [group_id], "user_name": GUEST})
    assert r.status_code == 200, r.text
    for spelling, listed in (("True", 1), ("False", 0)):
        r = await env.client.get(
            f"/v1/user/node_group/sharing/requests?primary_user={spelling}", headers=owner)
        assert r.status_code == 200, r.text
        assert len(r.json()["sharing_requests"]) == listed, spelling


async def test_words_that_are_not_true_or_false_are_still_refused(env: Env) -> None:
    owner, _guest, _ = await _node_shared_with_guest(env)
    for bad in ("yes", "1", "", "Truee", "ＴＲＵＥ"):
        r = await env.client.get("/v1/user/nodes/sharing/requests",
                                 params={"primary_user": bad}, headers=owner)
        assert (r.status_code, r.json()["error_code"]) == (400, 107019), bad
    r = await env.client.get("/v1/user/nodes?node_details=maybe", headers=owner)
    assert (r.status_code, r.json()["error_code"]) == (400, 100006)


async def test_every_v1_flag_takes_rainmaker_spellings(env: Env) -> None:
    owner, _guest, _ = await _node_shared_with_guest(env)
    r = await env.client.get("/v1/user/nodes?node_details=True&status=FALSE", headers=owner)
    assert r.status_code == 200, r.text
    assert "status" not in r.json()["node_details"][0]
    r = await env.client.get("/v1/user2?custom_data=False", headers=owner)
    assert r.status_code == 200, r.text
    r = await env.client.get("/v1/user/node_group?node_list=TRUE&sub_groups=True",
                             headers=owner)
    assert r.status_code == 200, r.text
    r = await env.client.post("/v1/logout2?logout_all=True", headers=owner)
    assert r.status_code == 200, r.text
    assert (await env.client.get("/v1/user2", headers=owner)).status_code == 401


async def test_the_document_declares_flags_as_the_spec_does(env: Env) -> None:
    document = (await env.client.get("/v1/openapi.json")).json()
    flags = [p for item in document["paths"].values() for op in item.values()
             for p in op.get("parameters", ()) if p["schema"].get("type") == "boolean"]
    names = {p["name"] for p in flags}
    assert {"primary_user", "node_details", "logout_all", "custom_data", "sub_groups",
            "archived", "force"} <= names
    leftovers = [(path, method, p["name"]) for path, item in document["paths"].items()
                 for method, op in item.items() for p in op.get("parameters", ())
                 if p["schema"].get("enum") == ["true", "false"]]
    assert leftovers == []


# --- 8b: forgotpassword2 -----------------------------------------------------------------------

async def test_password_reset_as_the_cli_sends_it(env: Env) -> None:
    await env.user(OWNER)
    # the CLI's first step sends every member, the unset ones as null
    r = await env.client.put("/v1/forgotpassword2", json={
        "user_name": OWNER, "password": None, "verification_code": None})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Verification code sent"
    code = await env.outbox_code(OWNER)
    r = await env.client.put("/v1/forgotpassword2", json={
        "user_name": OWNER, "password": NEW_PASSWORD, "verification_code": code})
    assert r.status_code == 200, r.text
    assert (await env.login(OWNER, NEW_PASSWORD))["accesstoken"]


@pytest.mark.parametrize(("body", "code"), [
    ({"password": NEW_PASSWORD, "verification_code": None}, 101030),
    ({"password": None, "verification_code": "123456"}, 101032),
    ({"password": NEW_PASSWORD}, 101030),
    ({"verification_code": "123456"}, 101032),
    ({"password": 5, "verification_code": "123456"}, 101032),
])
async def test_a_reset_missing_half_is_refused_null_or_absent(
        env: Env, body: dict[str, object], code: int) -> None:
    await env.user(OWNER)
    r = await env.client.put("/v1/forgotpassword2", json={"user_name": OWNER, **body})
    assert (r.status_code, r.json()["error_code"]) == (400, code), r.text
    assert (await env.login(OWNER, PASSWORD))["accesstoken"]  # nothing changed


async def test_the_document_says_null_is_absent_for_the_reset_members(env: Env) -> None:
    document = (await env.client.get("/v1/openapi.json")).json()
    schema = document["paths"]["/v1/forgotpassword2"]["put"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert "null" in schema["properties"]["password"]["type"]
    assert "null" in schema["properties"]["verification_code"]["type"]
    assert schema["properties"]["user_name"]["type"] == "string"  # required, never null


# --- 8e: success bodies hold to the spec's schemas ---------------------------------------------

async def test_leaf_user_groups_carry_an_empty_sub_groups_list(env: Env) -> None:
    owner = {"Authorization": await env.user(OWNER)}
    r = await env.client.post("/v1/user/node_group", headers=owner, json={"group_name": "Home"})
    home = r.json()["group_id"]
    r = await env.client.post("/v1/user/node_group", headers=owner,
                              json={"group_name": "Kitchen", "parent_group_id": home})
    assert r.status_code == 200, r.text
    r = await env.client.get("/v1/user/node_group?sub_groups=true", headers=owner)
    [group] = [g for g in r.json()["groups"] if g["group_id"] == home]
    [kitchen] = group["sub_groups"]
    assert kitchen["group_name"] == "Kitchen" and kitchen["sub_groups"] == []


async def test_leaf_admin_groups_carry_an_empty_sub_groups_list(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    r = await env.client.post("/v1/admin/node_group", headers=acme.admin,
                              json={"group_name": "Building"})
    assert r.status_code == 200, r.text
    [building] = (await env.client.get("/v1/admin/node_group",
                                       headers=acme.admin)).json()["groups"]
    assert building["sub_groups"] == []


async def test_request_statuses_are_the_specs_pending_and_declined(env: Env) -> None:
    owner, guest, expired = await _node_shared_with_guest(env)
    node = (await env.client.get("/v1/user/nodes", headers=owner)).json()["nodes"][0]
    listed = "/v1/user/nodes/sharing/requests"

    async def another() -> str:
        r = await env.client.put(listed, headers=owner, json={"nodes": [node],
                                                              "user_name": GUEST})
        return str(r.json()["request_id"])

    cancelled, declined, pending = await another(), await another(), await another()
    assert (await env.client.delete(f"{listed}?request_id={cancelled}",
                                    headers=owner)).status_code == 200
    assert (await env.client.put(listed, headers=guest, json={
        "request_id": declined, "accept": False})).status_code == 200
    async with env.container.engine().begin() as conn:  # seven days pass for the first one
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
        await conn.execute(update(node_sharing_requests)
                           .where(node_sharing_requests.c.id == expired)
                           .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = await env.client.get(f"{listed}?primary_user=true", headers=owner)
    statuses = {e["request_id"]: e["request_status"] for e in r.json()["sharing_requests"]}
    assert statuses == {expired: "declined", cancelled: "declined", declined: "declined",
                        pending: "pending"}
    # accepted: the spec has no status for it, so /v1 no longer lists the request
    assert (await env.client.put(listed, headers=guest, json={
        "request_id": pending, "accept": True})).status_code == 200
    r = await env.client.get(f"{listed}?primary_user=true", headers=owner)
    assert pending not in {e["request_id"] for e in r.json()["sharing_requests"]}
    document = (await env.client.get("/v1/openapi.json")).json()
    entry = document["paths"][listed]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["properties"]["sharing_requests"]["items"]
    assert entry["properties"]["request_status"]["enum"] == ["pending", "declined"]


# --- 8f: sign-up past a stale Authorization header ---------------------------------------------

async def test_sign_up_ignores_a_stale_session_token(env: Env) -> None:
    stale = await env.user(OWNER)
    assert (await env.client.post("/v1/logout2", headers={"Authorization": stale})
            ).status_code == 200
    assert (await env.client.get("/v1/user2", headers={"Authorization": stale})
            ).status_code == 401
    for header in (stale, f"Bearer {stale}", "garbage"):
        name = f"new{len(header)}@example.com"
        r = await env.client.post("/v1/user2", json={"user_name": name, "password": PASSWORD},
                                  headers={"Authorization": header})
        assert r.status_code == 201, r.text
    await env.signup(GUEST, Authorization=stale)
    assert (await env.login(GUEST))["accesstoken"]


async def test_sign_up_still_refuses_a_revoked_api_key(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = await create_key(env, admin)
    await env.gql(REVOKE, {"id": created["apiKey"]["id"]}, token=admin)
    r = await env.client.post("/v1/user2", json={"user_name": "x@acme.com",
                                                 "password": PASSWORD},
                              headers={"Authorization": f"Bearer {created['key']}"})
    assert (r.status_code, r.json()["error_code"]) == (401, 100047)
