"""The HTTP hooks external MQTT brokers call to admit devices and check their topics, in the
shapes EMQX 5 (HTTP authentication and authorization) and mosquitto-go-auth (HTTP backend,
`http_params_mode json`, `http_response_mode status`) expect.

The broker is the caller, not a user: no token, and an answer never says why a check failed.
A body that breaks the documented schema is refused with 400 in RainMaker's failure shape (to
both brokers any answer other than an allow is a refusal: EMQX treats it as "ignore", go-auth
as "deny"). These routes carry no credential of their own, so expose them only to the broker's
network.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.access import DeviceAccess
from rest_compat import schemas as s
from rest_compat.http import anonymous_caller, json_body
from rest_compat.operations import Operation

TAG = "Broker Hooks"
DENIED_CODE = 100004  # RainMaker's "not allowed" (domain FORBIDDEN)

# --- EMQX 5: always 200, the decision in `result` -------------------------------------------

EMQX_AUTHN_REQUEST = s.obj({"username": s.STR, "password": s.STR, "clientid": s.STR},
                           ("username", "password"))
EMQX_AUTHN_RESPONSE = s.obj({"result": {"type": "string", "enum": ["allow", "deny"]},
                             "is_superuser": {"type": "boolean"}}, ("result",),
                            additional=False)
EMQX_AUTHZ_REQUEST = s.obj({"username": s.STR, "topic": s.STR, "clientid": s.STR,
                            "action": {"type": "string", "enum": ["publish", "subscribe"]}},
                           ("username", "topic", "action"))
EMQX_AUTHZ_RESPONSE = s.obj({"result": {"type": "string", "enum": ["allow", "deny"]}},
                            ("result",), additional=False)

# --- mosquitto-go-auth: 200 allows, 403 denies ------------------------------------------------

# go-auth's `acc`: MOSQ_ACL_READ 1 (a message is delivered to the client), MOSQ_ACL_WRITE 2
# (publish), read|write 3, MOSQ_ACL_SUBSCRIBE 4.
ACC_ACTIONS: dict[int, tuple[str, ...]] = {1: ("receive",), 2: ("publish",),
                                           3: ("receive", "publish"), 4: ("subscribe",)}
GOAUTH_USER_REQUEST = s.obj({"username": s.STR, "password": s.STR, "clientid": s.STR},
                            ("username", "password"))
GOAUTH_SUPERUSER_REQUEST = s.obj({"username": s.STR}, ("username",))
GOAUTH_ACL_REQUEST = s.obj({"username": s.STR, "topic": s.STR, "clientid": s.STR,
                            "acc": {"type": "integer", "enum": sorted(ACC_ACTIONS),
                                    "description": "1 read, 2 write, 3 read+write, "
                                                   "4 subscribe"}},
                           ("username", "topic", "acc"))
# `ok` as well, so `http_response_mode json` works too (it also needs the 200).
GOAUTH_ALLOWED = s.obj({"ok": {"type": "boolean", "enum": [True]}}, ("ok",), additional=False)


def _emqx(allowed: bool, **extra: Any) -> Response:
    return JSONResponse({"result": "allow" if allowed else "deny", **(extra if allowed else {})})


def _goauth(allowed: bool) -> Response:
    if allowed:
        return JSONResponse({"ok": True})
    return JSONResponse({"status": "failure", "description": "Not allowed",
                         "error_code": DENIED_CODE, "ok": False}, status_code=403)


def broker_hook_operations(access: DeviceAccess, max_body: int) -> list[Operation]:
    async def emqx_authenticate(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=EMQX_AUTHN_REQUEST)
        allowed = await access.check_login(anonymous_caller(request),
                                           username=body["username"], password=body["password"])
        return _emqx(allowed, is_superuser=await access.check_superuser(
            anonymous_caller(request), username=body["username"]))

    async def emqx_authorize(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=EMQX_AUTHZ_REQUEST)
        return _emqx(await access.check_acl(anonymous_caller(request),
                                            username=body["username"], topic=body["topic"],
                                            actions=(body["action"],)))

    async def goauth_user(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=GOAUTH_USER_REQUEST)
        return _goauth(await access.check_login(anonymous_caller(request),
                                                username=body["username"],
                                                password=body["password"]))

    async def goauth_superuser(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=GOAUTH_SUPERUSER_REQUEST)
        return _goauth(await access.check_superuser(anonymous_caller(request),
                                                    username=body["username"]))

    async def goauth_acl(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=GOAUTH_ACL_REQUEST)
        return _goauth(await access.check_acl(anonymous_caller(request),
                                              username=body["username"], topic=body["topic"],
                                              actions=ACC_ACTIONS[int(body["acc"])]))

    def hook(path: str, handler: Any, operation_id: str, summary: str, uses: tuple[Any, ...],
             request: dict[str, Any], responses: dict[int, dict[str, Any]]) -> Operation:
        return Operation(method="POST", path=path, handler=handler, operation_id=operation_id,
                         tag=TAG, summary=summary, uses=uses, public=True, auth=False,
                         request_body=request, responses=responses)

    return [
        hook("/v1/mqtt/emqx/auth", emqx_authenticate, "emqxAuthenticate",
             "EMQX 5 HTTP authentication: may this client connect? (always 200, see result)",
             (access.check_login, access.check_superuser), EMQX_AUTHN_REQUEST,
             {200: EMQX_AUTHN_RESPONSE}),
        hook("/v1/mqtt/emqx/acl", emqx_authorize, "emqxAuthorize",
             "EMQX 5 HTTP authorization: may this client publish/subscribe to the topic?",
             (access.check_acl,), EMQX_AUTHZ_REQUEST, {200: EMQX_AUTHZ_RESPONSE}),
        hook("/v1/mqtt/gomosq/user", goauth_user, "goAuthUser",
             "mosquitto-go-auth HTTP user check (200 allows, 403 denies)",
             (access.check_login,), GOAUTH_USER_REQUEST, {200: GOAUTH_ALLOWED}),
        hook("/v1/mqtt/gomosq/superuser", goauth_superuser, "goAuthSuperuser",
             "mosquitto-go-auth HTTP superuser check (200 allows, 403 denies)",
             (access.check_superuser,), GOAUTH_SUPERUSER_REQUEST, {200: GOAUTH_ALLOWED}),
        hook("/v1/mqtt/gomosq/acl", goauth_acl, "goAuthAcl",
             "mosquitto-go-auth HTTP ACL check (200 allows, 403 denies)",
             (access.check_acl,), GOAUTH_ACL_REQUEST, {200: GOAUTH_ALLOWED}),
    ]
