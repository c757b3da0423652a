"""Provisioning through the APIs: an admin's one-time registration token (GraphQL)."""

from __future__ import annotations

from sqlalchemy import select, text

from adapters.sql.tables.devices import node_registration_tokens
from domain.access.model import Caller
from tests.conftest import Env

CREATE = """mutation($n: String!, $m: Int!) {
  createRegistrationToken(input: {nodeName: $n, expiresInMinutes: $m}) {
    token id nodeName expiresAt } }"""


async def test_admin_creates_a_one_time_token_stored_hashed(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="Acme")
    out = await env.gql(CREATE, {"n": "Lamp", "m": 30}, token=admin)
    payload = out["data"]["createRegistrationToken"]
    assert payload["token"].startswith("nrt_") and payload["nodeName"] == "Lamp"
    async with env.container.engine().connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
        stored = (await conn.execute(select(node_registration_tokens))).all()
    assert len(stored) == 1 and payload["token"] not in str(stored)
    provisioned = await env.container.provisioning().provision_node(
        Caller(),
        token=payload["token"])
    assert provisioned.node_id


async def test_end_users_cannot_create_registration_tokens(env: Env) -> None:
    user = await env.user("someone@example.com")
    out = await env.gql(CREATE, {"n": "Lamp", "m": 30}, token=user)
    assert out["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_token_input_is_validated(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="Acme")
    out = await env.gql(CREATE, {"n": "", "m": 30}, token=admin)
    assert out["errors"][0]["extensions"]["code"] == "VALIDATION"
    out = await env.gql(CREATE, {"n": "Lamp", "m": 0}, token=admin)
    assert out["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_rest_token_then_device_exchange(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="Acme")
    r = await env.client.post("/v1/admin/nodes/registration_token",
                              json={"node_name": "Lamp", "expires_in_minutes": 10},
                              headers={"Authorization": admin})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    r = await env.client.post("/v1/devices/provision", json={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mqtt_username"] == body["node_id"] and body["secret_key"]
    r = await env.client.post("/v1/devices/provision", json={"token": token})
    assert r.status_code == 401 and r.json()["status"] == "failure"


async def test_rest_token_needs_an_admin(env: Env) -> None:
    user = await env.user("someone@example.com")
    r = await env.client.post("/v1/admin/nodes/registration_token", json={"node_name": "Lamp"},
                              headers={"Authorization": user})
    assert r.status_code == 400
    r = await env.client.post("/v1/admin/nodes/registration_token", json={"node_name": "Lamp"})
    assert r.status_code == 401
