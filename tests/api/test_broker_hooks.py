"""The HTTP hooks external brokers call: EMQX 5 authentication/authorization (always 200, the
decision in `result`) and mosquitto-go-auth's HTTP backend (200 allows, 403 denies)."""

from __future__ import annotations

from typing import Any

import pytest

from fleetgate.container import GATEWAY_USERNAME
from tests.conftest import Env

EMQX_AUTH, EMQX_ACL = "/v1/mqtt/emqx/auth", "/v1/mqtt/emqx/acl"
GO_USER, GO_SUPER, GO_ACL = "/v1/mqtt/gomosq/user", "/v1/mqtt/gomosq/superuser", \
    "/v1/mqtt/gomosq/acl"
ALL_HOOKS = (EMQX_AUTH, EMQX_ACL, GO_USER, GO_SUPER, GO_ACL)


async def provision(env: Env, org_name: str = "org") -> tuple[str, str]:
    node = await env.provision_node(org_name)
    return node.node_id, node.mqtt_password


def gateway(env: Env) -> tuple[str, str]:
    return GATEWAY_USERNAME, env.container.gateway_password()


async def post(env: Env, path: str, body: Any) -> Any:
    return await env.client.post(path, json=body)


# --- EMQX 5 ------------------------------------------------------------------------------------

async def test_emqx_authn_allows_only_the_right_credentials(env: Env) -> None:
    node_id, password = await provision(env)
    r = await post(env, EMQX_AUTH, {"username": node_id, "password": password,
                                    "clientid": node_id})
    assert r.status_code == 200 and r.json() == {"result": "allow", "is_superuser": False}
    other_id, _ = await provision(env, "other")
    for username, pw in [(node_id, "wrong"), (node_id, ""), ("NOPE", password),
                         (other_id, password), ("", ""), (GATEWAY_USERNAME, password)]:
        r = await post(env, EMQX_AUTH, {"username": username, "password": pw})
        assert r.status_code == 200 and r.json() == {"result": "deny"}, (username, r.text)


async def test_emqx_authn_marks_the_gateway_superuser(env: Env) -> None:
    user, pw = gateway(env)
    r = await post(env, EMQX_AUTH, {"username": user, "password": pw, "clientid": "gw",
                                    "peerhost": "10.0.0.2"})  # extra template fields are fine
    assert r.status_code == 200 and r.json() == {"result": "allow", "is_superuser": True}


async def test_emqx_authz_keeps_a_device_in_its_own_subtree(env: Env) -> None:
    node_id, _ = await provision(env)
    other_id, _ = await provision(env, "other")
    for topic, action in [(f"node/{node_id}/params/local", "publish"),
                          (f"node/{node_id}/#", "subscribe")]:
        r = await post(env, EMQX_ACL, {"username": node_id, "topic": topic, "action": action,
                                       "clientid": node_id})
        assert r.status_code == 200 and r.json() == {"result": "allow"}, topic
    for topic, action in [(f"node/{other_id}/params/local", "publish"),
                          (f"node/{other_id}/#", "subscribe"), ("#", "subscribe"),
                          ("node/+/params/local", "subscribe"), (f"node/{node_id}", "publish")]:
        r = await post(env, EMQX_ACL, {"username": node_id, "topic": topic, "action": action})
        assert r.status_code == 200 and r.json() == {"result": "deny"}, topic
    r = await post(env, EMQX_ACL, {"username": GATEWAY_USERNAME, "topic": "#",
                                   "action": "subscribe"})
    assert r.json() == {"result": "allow"}


# --- mosquitto-go-auth -------------------------------------------------------------------------

async def test_goauth_user_check(env: Env) -> None:
    node_id, password = await provision(env)
    r = await post(env, GO_USER, {"username": node_id, "password": password,
                                  "clientid": node_id})
    assert r.status_code == 200 and r.json() == {"ok": True}
    r = await post(env, GO_USER, {"username": node_id, "password": "wrong", "clientid": "x"})
    assert r.status_code == 403 and r.json() == {"status": "failure", "description":
                                                 "Not allowed", "error_code": 100004,
                                                 "ok": False}
    r = await post(env, GO_USER, {"username": "NOPE", "password": password, "clientid": ""})
    assert r.status_code == 403 and r.json()["description"] == "Not allowed"  # says no more
    assert (await post(env, GO_USER, dict(zip(("username", "password"), gateway(env),
                                              strict=True)))).status_code == 200


async def test_goauth_superuser_is_only_the_gateway(env: Env) -> None:
    node_id, _ = await provision(env)
    assert (await post(env, GO_SUPER, {"username": GATEWAY_USERNAME})).status_code == 200
    for username in (node_id, "", "admin"):
        assert (await post(env, GO_SUPER, {"username": username})).status_code == 403


@pytest.mark.parametrize("acc", [1, 2, 3, 4])
async def test_goauth_acl_for_each_access(env: Env, acc: int) -> None:
    node_id, _ = await provision(env)
    other_id, _ = await provision(env, "other")

    async def status(username: str, topic: str) -> int:
        r = await post(env, GO_ACL, {"username": username, "topic": topic,
                                     "clientid": username, "acc": acc})
        return int(r.status_code)

    assert await status(node_id, f"node/{node_id}/params/remote") == 200
    assert await status(node_id, f"node/{other_id}/params/remote") == 403
    assert await status(node_id, "#") == 403
    assert await status("NOPE", f"node/{node_id}/params/remote") == 403
    assert await status(GATEWAY_USERNAME, "#") == 200


# --- bad input: refused, never a 500, never allowed ---------------------------------------------

@pytest.mark.parametrize("path", ALL_HOOKS)
@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b"null", b'"x"', b"{",
                                     b'{"username": null, "password": null}',
                                     b'{"username": 1, "password": 2, "topic": 3}',
                                     b'{"username": "\\ud800", "password": "x"}'])
async def test_malformed_bodies_are_refused(env: Env, path: str, content: bytes) -> None:
    r = await env.client.post(path, content=content,
                              headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["status"] == "failure" and "result" not in r.json()


@pytest.mark.parametrize(("path", "body"), [
    (EMQX_ACL, {"username": "N", "topic": "node/N/x", "action": "delete"}),
    (EMQX_ACL, {"username": "N", "topic": "node/N/x"}),
    (GO_ACL, {"username": "N", "topic": "node/N/x", "acc": 0}),
    (GO_ACL, {"username": "N", "topic": "node/N/x", "acc": 8}),
    (GO_ACL, {"username": "N", "topic": "node/N/x", "acc": "1"}),
    (GO_ACL, {"username": "N", "topic": "node/N/x", "acc": True}),
    (GO_ACL, {"username": "N", "topic": "node/N/x", "acc": 1.5}),
])
async def test_unknown_actions_are_refused(env: Env, path: str, body: dict[str, Any]) -> None:
    r = await post(env, path, body)
    assert r.status_code == 400 and r.json()["error_code"] == 100006, r.text


async def test_oversized_body_is_refused(env: Env) -> None:
    r = await post(env, EMQX_AUTH, {"username": "x", "password": "y" * env.settings.max_body_bytes})
    assert r.status_code == 413


async def test_hooks_are_documented_without_credentials(env: Env) -> None:
    paths = (await env.client.get("/v1/openapi.json")).json()["paths"]
    for path in ALL_HOOKS:
        operation = paths[path]["post"]
        assert operation["security"] == [] and operation["tags"] == ["Broker Hooks"]
        assert "requestBody" in operation and "200" in operation["responses"]
