"""The HTTP hooks external brokers call: EMQX 5 authentication/authorization (always 200, the
decision in `result`) and mosquitto-go-auth's HTTP backend (200 allows, 403 denies). They are
served only with an external broker (MQTT_URL; else 404 like an unknown path) and only to the
broker: a caller with the hook secret or from an allowed address (else 403). A client's
clientid must be its node id (the gateway's: its per-installation prefix)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fleetgate.container import GATEWAY_USERNAME
from fleetgate.settings import Settings
from rest_compat.broker_hooks import HookGate
from tests.conftest import Env, start_env, with_settings

EMQX_AUTH, EMQX_ACL = "/v1/mqtt/emqx/auth", "/v1/mqtt/emqx/acl"
GO_USER, GO_SUPER, GO_ACL = "/v1/mqtt/gomosq/user", "/v1/mqtt/gomosq/superuser", \
    "/v1/mqtt/gomosq/acl"
ALL_HOOKS = (EMQX_AUTH, EMQX_ACL, GO_USER, GO_SUPER, GO_ACL)
HOOK_SECRET = "hook-secret-" + "x" * 32
NOT_ALLOWED = {"status": "failure", "description": "Not allowed", "error_code": 100004}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """An external broker is configured, and the hooks' secret."""
    return with_settings(settings, mqtt_url="mqtt://broker.invalid:1883",
                         broker_hook_secret=HOOK_SECRET)


@pytest.fixture
async def env(settings: Settings) -> AsyncIterator[Env]:
    """The app, with a client that presents the hook secret as a broker configured so does."""
    async for e in start_env(settings):
        e.client.headers["X-Fleetgate-Hook-Secret"] = HOOK_SECRET
        yield e


async def provision(env: Env, org_name: str = "org") -> tuple[str, str]:
    node = await env.provision_node(org_name)
    return node.node_id, node.mqtt_password


def gateway(env: Env) -> tuple[str, str]:
    return GATEWAY_USERNAME, env.container.gateway_password()


def gateway_client_id(env: Env) -> str:
    return f"{env.container.gateway_client_prefix()}-1"


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
        r = await post(env, EMQX_AUTH, {"username": username, "password": pw,
                                        "clientid": username})
        assert r.status_code == 200 and r.json() == {"result": "deny"}, (username, r.text)


async def test_emqx_authn_marks_the_gateway_superuser(env: Env) -> None:
    user, pw = gateway(env)
    r = await post(env, EMQX_AUTH, {"username": user, "password": pw,
                                    "clientid": gateway_client_id(env),
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
    r = await post(env, GO_USER, {"username": node_id, "password": "wrong",
                                  "clientid": node_id})
    assert r.status_code == 403 and r.json() == {"status": "failure", "description":
                                                 "Not allowed", "error_code": 100004,
                                                 "ok": False}
    r = await post(env, GO_USER, {"username": "NOPE", "password": password, "clientid": "NOPE"})
    assert r.status_code == 403 and r.json()["description"] == "Not allowed"  # says no more
    user, pw = gateway(env)
    assert (await post(env, GO_USER, {"username": user, "password": pw,
                                      "clientid": gateway_client_id(env)})).status_code == 200


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
    r = await post(env, EMQX_AUTH, {"username": "x", "password": "y" * env.settings.max_body_bytes,
                                    "clientid": "x"})
    assert r.status_code == 413


async def test_hooks_are_documented_without_credentials(env: Env) -> None:
    paths = (await env.client.get("/v1/openapi.json")).json()["paths"]
    for path in ALL_HOOKS:
        operation = paths[path]["post"]
        assert operation["security"] == [] and operation["tags"] == ["Broker Hooks"]
        assert "requestBody" in operation and "200" in operation["responses"]


# --- the client id: a device's is its node id, the gateway's carries its prefix ---------------

async def test_a_device_whose_client_id_differs_is_refused(env: Env) -> None:
    node_id, password = await provision(env)
    other_id, _ = await provision(env, "other")
    user, pw = gateway(env)
    for client_id in (other_id, f"{node_id}-2", "", GATEWAY_USERNAME, gateway_client_id(env)):
        r = await post(env, EMQX_AUTH, {"username": node_id, "password": password,
                                        "clientid": client_id})
        assert r.json() == {"result": "deny"}, client_id
        r = await post(env, GO_USER, {"username": node_id, "password": password,
                                      "clientid": client_id})
        assert (r.status_code, r.json()) == (403, {**NOT_ALLOWED, "ok": False}), client_id
    # the gateway's predictable old client id no longer admits even the right password
    for client_id in (f"{GATEWAY_USERNAME}-1883", node_id):
        r = await post(env, EMQX_AUTH, {"username": user, "password": pw, "clientid": client_id})
        assert r.json() == {"result": "deny"}, client_id
        r = await post(env, GO_USER, {"username": user, "password": pw, "clientid": client_id})
        assert r.status_code == 403, client_id
    # a broker template without the client id is a configuration error, not an allow
    for path in (EMQX_AUTH, GO_USER):
        r = await post(env, path, {"username": node_id, "password": password})
        assert r.status_code == 400 and r.json()["status"] == "failure", path


# --- who may call the hooks ------------------------------------------------------------------

def _body(path: str, node_id: str, password: str) -> dict[str, Any]:
    return {EMQX_AUTH: {"username": node_id, "password": password, "clientid": node_id},
            EMQX_ACL: {"username": node_id, "topic": f"node/{node_id}/params/local",
                       "action": "publish", "clientid": node_id},
            GO_USER: {"username": node_id, "password": password, "clientid": node_id},
            GO_SUPER: {"username": GATEWAY_USERNAME},
            GO_ACL: {"username": node_id, "topic": f"node/{node_id}/params/local",
                     "clientid": node_id, "acc": 2}}[path]


async def test_without_an_external_broker_the_hooks_do_not_exist(settings: Settings) -> None:
    async for env in start_env(with_settings(settings, mqtt_url=None)):
        env.client.headers["X-Fleetgate-Hook-Secret"] = HOOK_SECRET
        node_id, password = await provision(env)
        unknown = await env.client.post("/v1/mqtt/nothing", json={})
        assert unknown.status_code == 404
        for path in ALL_HOOKS:
            r = await post(env, path, _body(path, node_id, password))
            assert (r.status_code, r.json()) == (404, unknown.json()), path
            r = await env.client.post(path, content=b"not json")
            assert (r.status_code, r.json()) == (404, unknown.json()), path


@pytest.mark.parametrize("headers", [
    {}, {"X-Fleetgate-Hook-Secret": "wrong"}, {"X-Fleetgate-Hook-Secret": HOOK_SECRET[:-1]},
    {"X-Fleetgate-Hook-Secret": HOOK_SECRET + "x"}, {"Authorization": f"Basic {HOOK_SECRET}"},
    {"Authorization": "Bearer nope"}, {"User-Agent": HOOK_SECRET},
    {"User-Agent": "fleetgate-hook/nope"}])
async def test_a_caller_without_the_secret_is_refused(env: Env, headers: dict[str, str]) -> None:
    node_id, password = await provision(env)
    del env.client.headers["X-Fleetgate-Hook-Secret"]
    for path in ALL_HOOKS:
        r = await env.client.post(path, json=_body(path, node_id, password), headers=headers)
        assert (r.status_code, r.json()) == (403, NOT_ALLOWED), (path, headers)
        r = await env.client.post(path, content=b"not json", headers=headers)
        assert r.status_code == 403, (path, headers)  # refused before the body is read


@pytest.mark.parametrize("headers", [
    {"X-Fleetgate-Hook-Secret": HOOK_SECRET},  # EMQX: a header in the authenticator's config
    {"Authorization": f"Bearer {HOOK_SECRET}"},  # EMQX, or a proxy in front of the broker
    {"User-Agent": f"fleetgate-hook/{HOOK_SECRET}"}])  # mosquitto-go-auth's only header
async def test_the_secret_is_accepted_where_brokers_can_send_it(
        env: Env, headers: dict[str, str]) -> None:
    node_id, password = await provision(env)
    del env.client.headers["X-Fleetgate-Hook-Secret"]
    for path in ALL_HOOKS:
        r = await env.client.post(path, json=_body(path, node_id, password), headers=headers)
        assert r.status_code == 200 and r.json() in ({"ok": True}, {"result": "allow"},
                                                     {"result": "allow",
                                                      "is_superuser": False}), (path, r.text)


@pytest.mark.parametrize(("allow", "admitted"), [
    (("203.0.113.7",), True), (("10.0.0.0/8", "203.0.113.0/24"), True),
    (("10.0.0.0/8",), False), (("::1",), False)])
async def test_an_allowed_address_needs_no_secret(settings: Settings, allow: tuple[str, ...],
                                                  admitted: bool) -> None:
    # the test client connects from 203.0.113.7 (tests/conftest.py)
    async for env in start_env(with_settings(settings, broker_hook_secret=None,
                                             broker_hook_allow=allow)):
        node_id, password = await provision(env)
        for path in ALL_HOOKS:
            r = await env.client.post(path, json=_body(path, node_id, password))
            assert (r.status_code == 200) is admitted, (path, allow, r.text)


def test_allowed_addresses_are_checked_when_the_app_starts() -> None:
    with pytest.raises(ValueError, match="FLEETGATE_BROKER_HOOK_ALLOW"):
        HookGate.of(enabled=True, secret=None, allow=["10.0.0.0/8", "broker.local"])
    assert HookGate.of(enabled=True, secret="", allow=["", " 10.1.2.3 "]).secret is None


def test_the_secret_is_compared_in_constant_time() -> None:
    source = inspect.getsource(HookGate)
    assert "hmac.compare_digest" in source and "== self.secret" not in source
