"""Mapping by handshake and by challenge (real EC keys), the user's node edits, deleting a node,
the signed node proxy and /mqtt_host: real HTTP through the ASGI app."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from domain.devices.model import ParamsHistoryEntry
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import PASSWORD, Env


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def sign(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, message: str) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                      salt_length=32), hashes.SHA256()).hex()
    return key.sign(message.encode(), ec.ECDSA(hashes.SHA256())).hex()


async def provision(env: Env, public_key: str | None = None,
                    admin_name: str = "ops@acme.io") -> dict[str, Any]:
    try:
        await env.container.registration().provision_user(user_name=admin_name,
                                                          password=PASSWORD, org_name="Acme")
    except Exception:  # noqa: BLE001 - the admin exists from an earlier call
        pass
    admin = (await env.login(admin_name))["accesstoken"]
    r = await env.client.post("/v1/admin/nodes/registration_token", json={"node_name": "Lamp"},
                              headers={"Authorization": admin})
    body: dict[str, Any] = {"token": r.json()["token"]}
    if public_key is not None:
        body["public_key"] = public_key
    r = await env.client.post("/v1/devices/provision", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_challenge_response_mapping_with_a_real_node_key(env: Env) -> None:
    key = ec_key()
    node = await provision(env, pem(key))
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    r = await env.client.post("/v1/user/nodes/mapping/initiate", json={}, headers=owner)
    assert r.status_code == 200, r.text
    request_id, challenge = r.json()["request_id"], r.json()["challenge"]
    r = await env.client.post("/v1/user/nodes/mapping/verify", headers=owner, json={
        "request_id": request_id, "node_id": node["node_id"],
        "challenge_response": sign(ec_key(), challenge)})  # another key's signature
    assert r.status_code == 400 and r.json()["error_code"] == 103031
    r = await env.client.post("/v1/user/nodes/mapping/verify", headers=owner, json={
        "request_id": request_id, "node_id": node["node_id"], "tags": ["room:hall"],
        "challenge_response": sign(key, challenge)})
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes?node_id={node['node_id']}&node_details=true",
                             headers=owner)
    detail = r.json()["node_details"][0]
    assert detail["primary"] is True and detail["tags"] == ["room:hall"]
    r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}", headers=owner)
    assert r.json() == {"request_status": "confirmed"}
    r = await env.client.post("/v1/user/nodes/mapping/verify", headers=owner, json={
        "request_id": request_id, "node_id": node["node_id"],
        "challenge_response": sign(key, challenge)})
    assert r.status_code == 400 and r.json()["error_code"] == 103033


async def test_rsa_pss_keys_verify_too_and_bad_keys_are_refused(env: Env) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    node = await provision(env, pem(key))
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    r = await env.client.post("/v1/user/nodes/mapping/initiate", json={"timeout": 30},
                              headers=owner)
    request_id, challenge = r.json()["request_id"], r.json()["challenge"]
    r = await env.client.post("/v1/user/nodes/mapping/verify", headers=owner, json={
        "request_id": request_id, "node_id": node["node_id"],
        "challenge_response": sign(key, challenge)})
    assert r.status_code == 200, r.text
    admin = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    token = (await env.client.post("/v1/admin/nodes/registration_token",
                                   json={"node_name": "Bad"}, headers=admin)).json()["token"]
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for bad in ("not a key", pem(weak)):
        r = await env.client.post("/v1/devices/provision", json={"token": token,
                                                                 "public_key": bad})
        assert r.status_code == 400, r.text
    r = await env.client.post("/v1/user/nodes/mapping/initiate", json={"timeout": -1},
                              headers=owner)
    assert r.status_code == 400


async def test_handshake_request_stays_requested_until_the_node_answers(env: Env) -> None:
    node = await provision(env)
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    r = await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node["node_id"], "secret_key": "made-by-the-phone", "operation": "add"})
    assert r.status_code == 200 and r.json()["request_status"] == "requested"
    request_id = r.json()["request_id"]
    r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}", headers=owner)
    assert r.json() == {"request_status": "requested"}
    outcome = await env.container.node_mapping().node_half(node["node_id"], json.dumps({
        "node_id": node["node_id"], "secret_key": "made-by-the-phone"}).encode())
    assert outcome == "confirmed"
    r = await env.client.get(f"/v1/user/nodes/mapping?request_id={request_id}", headers=owner)
    assert r.json() == {"request_status": "confirmed"}


async def test_tags_metadata_and_delete_node(env: Env) -> None:
    node = await provision(env)
    node_id = node["node_id"]
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    stranger = {"Authorization": await env.user("stranger@example.com")}
    await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": node["secret_key"], "operation": "add",
        "metadata": {"serial": "abc"}})
    r = await env.client.put(f"/v1/user/nodes?node_id={node_id}", headers=owner,
                             json={"tags": ["location:pune", "floor:1"],
                                   "metadata": {"regions": ["a", "b"], "serial": None}})
    assert r.status_code == 200, r.text
    r = await env.client.put(f"/v1/user/nodes?node_id={node_id}", headers=owner,
                             json={"metadata": {}})
    assert r.status_code == 200
    r = await env.client.request("DELETE", f"/v1/user/nodes?node_id={node_id}", headers=owner,
                                 json={"tags": ["floor:1"]})
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes?node_id={node_id}&node_details=true",
                             headers=owner)
    detail = r.json()["node_details"][0]
    assert detail["tags"] == ["location:pune"] and detail["metadata"] == {"regions": ["a", "b"]}
    for bad in ({"tags": ["nocolon"]}, {}, {"tags": "a:b"}):
        r = await env.client.put(f"/v1/user/nodes?node_id={node_id}", headers=owner, json=bad)
        assert r.status_code == 400, bad
    r = await env.client.put(f"/v1/user/nodes?node_id={node_id}", headers=stranger,
                             json={"tags": ["a:b"]})
    assert r.status_code == 400
    r = await env.client.delete(f"/v1/user/nodes/{node_id}", headers=stranger)
    assert r.status_code == 400

    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        stored = await uow.nodes.get(node_id)
        assert stored is not None
        await uow.params_history.add_many([ParamsHistoryEntry(
            org_id=stored.org_id, node_id=node_id, version=1, at=datetime.now(UTC),
            params={"Light": {"power": True}})])
        await uow.commit()
    r = await env.client.delete(f"/v1/user/nodes/{node_id}", headers=owner)
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes?node_id={node_id}", headers=owner)
    assert r.status_code == 400
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        assert not await uow.params_history.for_node(node_id, limit=10)
        stored = await uow.nodes.get(node_id)
    assert stored is not None and stored.tags == [] and stored.metadata is None
    r = await env.client.put("/v1/user/nodes/mapping", headers=stranger, json={
        "node_id": node_id, "secret_key": node["secret_key"], "operation": "add"})
    assert r.status_code in (200, 400)  # claimable again by a user of the node's org only


async def test_signed_proxy_reports_apply_like_mqtt(env: Env) -> None:
    key = ec_key()
    node = await provision(env, pem(key))
    node_id = node["node_id"]
    owner = {"Authorization": (await env.login("ops@acme.io"))["accesstoken"]}
    await env.client.put("/v1/user/nodes/mapping", headers=owner, json={
        "node_id": node_id, "secret_key": node["secret_key"], "operation": "add"})

    def payload(data: object, stamp: float | None = None) -> dict[str, str]:
        text = json.dumps({"data": data, "timestamp": int(stamp or time.time())})
        return {"node_payload": text, "signature": sign(key, text)}

    signed = payload({"Light": {"power": True}})
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/params", headers=owner,
                              json=signed)
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes/params?node_id={node_id}", headers=owner)
    assert r.json() == {"Light": {"power": True}}
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/params", headers=owner,
                              json=signed)
    assert (r.status_code, r.json()["error_code"]) == (400, 103049)  # a replay
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/config", headers=owner,
                              json=payload({"node_id": node_id, "info": {"type": "Switch"}}))
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes/config?node_id={node_id}", headers=owner)
    assert r.json()["info"] == {"type": "Switch"}

    old = payload({"Light": {"power": False}}, time.time() - 600)
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/params", headers=owner, json=old)
    assert r.status_code == 400 and r.json()["error_code"] == 103049
    forged = payload({"Light": {"power": False}})
    forged["node_payload"] = forged["node_payload"].replace("false", "true ")
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/params", headers=owner,
                              json=forged)
    assert r.status_code == 400 and r.json()["error_code"] == 103047
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/initparams", headers=owner,
                              json=payload([1, 2]))
    assert r.status_code == 400
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/reboot", headers=owner,
                              json=payload({}))
    assert r.status_code == 400
    stranger = {"Authorization": await env.user("stranger@example.com")}
    r = await env.client.post(f"/v1/user/nodes/{node_id}/proxy/params", headers=stranger,
                              json=payload({"Light": {"power": False}}))
    assert r.status_code == 400


async def test_mqtt_host_is_public(env: Env) -> None:
    r = await env.client.get("/mqtt_host")
    assert r.status_code == 200
    assert r.json() == {"mqtt_host": env.settings.broker_address()}
