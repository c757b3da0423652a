"""The HTTP hooks external MQTT brokers call to admit devices and check their topics, in the
shapes EMQX 5 (HTTP authentication and authorization) and mosquitto-go-auth (HTTP backend,
`http_params_mode json`, `http_response_mode status`) expect.

The broker is the caller, not a user: no token, and an answer never says why a check failed.
A body that breaks the documented schema is refused with 400 in RainMaker's failure shape (to
both brokers any answer other than an allow is a refusal: EMQX treats it as "ignore", go-auth
as "deny"). A client's `clientid` is required where the broker admits a client: a device's must
be its node id, the gateway's must carry its per-installation prefix (DeviceAccess).

Who may call them (HookGate): nobody unless an external broker is configured (MQTT_URL; the
embedded broker checks devices in-process), and then only a caller that presents the hook
secret (FLEETGATE_BROKER_HOOK_SECRET) or connects from an allowed address
(FLEETGATE_BROKER_HOOK_ALLOW). Closed, they answer 404 like an unknown path; to a caller that
is not the broker, 403. docs/brokers.md shows the broker configurations.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.access import DeviceAccess
from rest_compat import schemas as s
from rest_compat.errors import failure
from rest_compat.http import anonymous_caller, json_body
from rest_compat.operations import Handler, Operation

TAG = "Broker Hooks"
DENIED_CODE = 100004  # RainMaker's "not allowed" (domain FORBIDDEN)
SECRET_HEADER = "x-fleetgate-hook-secret"
USER_AGENT_PREFIX = "fleetgate-hook/"  # mosquitto-go-auth can set only its User-Agent
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class HookGate:
    """Who may call the broker hooks. The default is closed (404 to everyone)."""

    enabled: bool = False  # an external broker is configured
    secret: str | None = None
    allow: tuple[Network, ...] = ()

    @classmethod
    def of(cls, *, enabled: bool, secret: str | None, allow: Iterable[str]) -> HookGate:
        """From settings; raises ValueError for an address that is not an IP or CIDR."""
        networks = []
        for raw in [a.strip() for a in allow if a.strip()]:
            try:
                networks.append(ipaddress.ip_network(raw, strict=False))
            except ValueError:
                raise ValueError(f"FLEETGATE_BROKER_HOOK_ALLOW: {raw!r} is not an IP address "
                                 "or CIDR") from None
        return cls(enabled=enabled, secret=secret or None, allow=tuple(networks))

    def _presented(self, request: Request) -> list[str]:
        headers = request.headers
        found = [headers.get(SECRET_HEADER, "")]
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            found.append(token.strip())
        agent = headers.get("user-agent", "")
        if agent.startswith(USER_AGENT_PREFIX):
            found.append(agent[len(USER_AGENT_PREFIX):])
        return [value for value in found if value]

    def _has_secret(self, request: Request) -> bool:
        if self.secret is None:
            return False
        expected = self.secret.encode()
        # every candidate compared in constant time, none short-circuits the others
        matches = [hmac.compare_digest(value.encode(), expected)
                   for value in self._presented(request)]
        return any(matches)

    def _from_allowed_address(self, request: Request) -> bool:
        if not self.allow or request.client is None:
            return False
        try:
            address = ipaddress.ip_address(request.client.host)
        except ValueError:
            return False
        return any(address in network for network in self.allow)

    def refusal(self, request: Request) -> Response | None:
        """None when the caller may use the hooks; else the answer it gets."""
        if not self.enabled:
            return failure(404, 100404, "Resource not found")  # as for an unknown path
        if self._has_secret(request) or self._from_allowed_address(request):
            return None
        return failure(403, DENIED_CODE, "Not allowed")

    def guard(self, handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            return self.refusal(request) or await handler(request)

        return run


# --- EMQX 5: always 200, the decision in `result` -------------------------------------------

EMQX_AUTHN_REQUEST = s.obj({"username": s.STR, "password": s.STR, "clientid": s.STR},
                           ("username", "password", "clientid"))
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
                            ("username", "password", "clientid"))
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


def broker_hook_operations(access: DeviceAccess, max_body: int,
                           gate: HookGate | None = None) -> list[Operation]:
    """The hooks behind `gate` (closed when None: rest_operations builds them so, and the
    application opens them with with_broker_hooks)."""
    gate = gate or HookGate()

    async def emqx_authenticate(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=EMQX_AUTHN_REQUEST)
        allowed = await access.check_login(anonymous_caller(request),
                                           username=body["username"], password=body["password"],
                                           client_id=body["clientid"])
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
                                                password=body["password"],
                                                client_id=body["clientid"]))

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
        return Operation(method="POST", path=path, handler=gate.guard(handler),
                         operation_id=operation_id, tag=TAG,
                         summary=f"{summary} [only with an external broker, else 404; only "
                                 "for the broker: the hook secret (X-Fleetgate-Hook-Secret, "
                                 "Bearer, or User-Agent fleetgate-hook/<secret>) or an "
                                 "allowed address, else 403]",
                         uses=uses, public=True, auth=False, extra_statuses=(403,),
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


def with_broker_hooks(operations: list[Operation], access: DeviceAccess, max_body: int,
                      gate: HookGate) -> list[Operation]:
    """The operations with the broker hooks behind `gate` instead of closed."""
    gated = {(op.method, op.path): op for op in broker_hook_operations(access, max_body, gate)}
    return [gated.get((op.method, op.path), op) for op in operations]
