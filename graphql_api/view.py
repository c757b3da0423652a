"""The ASGI GraphQL endpoint: builds a fresh Context per request (nothing shared between
requests), with body-size and batching limits; subscriptions over graphql-transport-ws, signed
in by the connection_init payload."""

from __future__ import annotations

import re
from typing import Any

from graphql import ExecutionResult
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.base import HTTPException  # the class strawberry's views turn into 4xx
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from domain.accounts.use_cases import AccountUseCases
from domain.devices.use_cases import DeviceUseCases
from domain.errors import DomainError
from graphql_api.context import Context, EventFeed

_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")
# a \\uD800..\\uDFFF escape: the only way a lone surrogate gets into decoded request JSON
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _has_lone_surrogate(value: object) -> bool:
    """True when some string (key or value) cannot be encoded as UTF-8: a lone surrogate,
    which JSON allows as an escape but no database driver, hash or encoder accepts."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _token(headers: Any) -> str | None:
    value = (headers.get("authorization") or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


class FleetgateGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: Any, accounts: AccountUseCases, devices: DeviceUseCases, *,
                 production: bool, events: EventFeed,
                 allowed_origins: tuple[str, ...] = ()) -> None:
        super().__init__(schema, graphql_ide=None if production else "graphiql",
                         allow_queries_via_get=not production,
                         allowed_origins=allowed_origins,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         max_subscriptions_per_connection=20)
        self._accounts, self._devices, self._production = accounts, devices, production
        self._events = events

    def parse_json(self, data: str | bytes) -> Any:
        """HTTP request JSON (POST body, GET variables/extensions): anything unparsable or not
        an object/list is a 400, never a 500.

        strawberry only catches JSONDecodeError: invalid UTF-8 (UnicodeDecodeError) and deep
        nesting (RecursionError) escaped as 500s, and a top-level scalar crashed later on
        `data.get`. Strings with lone surrogates are refused here too: every resolver would
        otherwise have to survive them (hashing, SQL drivers). (WebSocket messages use
        decode_json, which is left alone.)"""
        try:
            value = self.decode_json(data)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request JSON must be an object")
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
            raise HTTPException(400, "The request JSON contains a lone surrogate (\\uD800-\\uDFFF)")
        return value

    async def process_result(self, request: Request, result: ExecutionResult
                             ) -> GraphQLHTTPResponse:
        """Every error carries extensions.code (syntax and limiter errors arrive without one);
        in production, "Did you mean ...?" suggestions are cut so the schema cannot be
        discovered by guessing."""
        response = await super().process_result(request, result)
        for error in response.get("errors") or []:
            extensions = error.setdefault("extensions", {}) or {}
            extensions.setdefault("code", "GRAPHQL_VALIDATION")
            error["extensions"] = extensions
            if self._production:
                error["message"] = _SUGGESTION.sub("", error["message"])
        return response

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket | None) -> Context:
        host = request.headers.get("host", "")
        return Context(accounts=self._accounts, devices=self._devices, events=self._events,
                       token=_token(request.headers),
                       ip=request.client.host if request.client else "unknown",
                       host=host.rsplit(":", 1)[0].lower() if host else None)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A WebSocket signs in with {"Authorization": "Bearer <token>"} in its connection_init
        payload (browsers cannot set headers on a WebSocket); a missing or bad token closes the
        socket with 4403 before any subscription starts."""
        params = context.connection_params or {}
        value = params.get("Authorization", params.get("authorization"))
        if isinstance(value, str):
            context.token = _token({"authorization": value})
        try:
            (await context.caller()).require_principal()
        except DomainError as exc:
            raise ConnectionRejectionError({"code": exc.code}) from exc
        return await super().on_ws_connect(context)
