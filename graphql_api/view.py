"""The ASGI GraphQL endpoint: builds a fresh Context per request (nothing shared between
requests), with body-size and batching limits; subscriptions over graphql-transport-ws, signed
in by the connection_init payload and closed when that sign-in ends (graphql_api/live.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

from graphql import ExecutionResult
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.base import HTTPException  # the class strawberry's views turn into 4xx
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.types.unset import UnsetType

from domain.access.model import REQUEST_PRINCIPAL
from domain.errors import DomainError, Unauthenticated
from domain.jsonshape import strings_in
from domain.use_cases import UseCases
from graphql_api.context import Context, EventFeed
from graphql_api.errors import (
    INVALID_JSON,
    UNSUPPORTED_MEDIA_TYPE,
    TransportError,
    refusal_body,
    transport_error,
)
from graphql_api.ide import PAGE_HEADERS, graphiql_page
from graphql_api.live import LiveSession, SessionFeed

_SUGGESTION = re.compile(r"\s*Did you mean .*\?$")
# a \\uD800..\\uDFFF escape: the only way a lone surrogate gets into decoded request JSON
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _has_lone_surrogate(value: object) -> bool:
    """True when some string (key or value) cannot be encoded as UTF-8: a lone surrogate,
    which JSON allows as an escape but no database driver, hash or encoder accepts."""
    for text in strings_in(value):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a string"


def _shown(content_type: str) -> str:
    """The content type as the client sent it, quoted, or "(none)"."""
    return repr(content_type[:100]) if content_type else "(none)"


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise HTTPException(400, "The multipart request needs operations and map fields")
    return value


def _place(operations: dict[str, Any], path: object, upload: object) -> None:
    """Puts the file where a map path ("variables.input.file", list items by index) says;
    the position must exist and hold null, as the spec has the client send it."""
    keys = path.split(".") if isinstance(path, str) else []
    if len(keys) < 2 or keys[0] != "variables":
        raise HTTPException(400, f"Invalid map path {path!r}: it must start with variables.")
    target: Any = operations
    for key in keys[:-1]:
        target = _step(target, key, path)
    last = keys[-1]
    if isinstance(target, dict) and last in target and target[last] is None:
        target[last] = upload
    elif isinstance(target, list) and last.isdigit() and int(last) < len(target) \
            and target[int(last)] is None:
        target[int(last)] = upload
    else:
        raise HTTPException(400, f"Invalid map path {path!r}: no null variable there")


def _step(target: object, key: str, path: object) -> Any:
    if isinstance(target, dict) and key in target:
        return target[key]
    if isinstance(target, list) and key.isdigit() and int(key) < len(target):
        return target[int(key)]
    raise HTTPException(400, f"Invalid map path {path!r}")


def _token(headers: Any) -> str | None:
    value = (headers.get("authorization") or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


class SessionBoundHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a guard task per signed-in socket that closes it (4401,
    4403) when its sign-in ends; its operations are cancelled first, so no event follows."""

    _guard: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        live = self.context.live
        if self.connection_acknowledged and live is not None and self._guard is None:
            self._guard = asyncio.create_task(live.guard(self._end_session))

    async def _end_session(self, code: int, reason: str) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with contextlib.suppress(Exception):  # the client may have gone already
            await self.websocket.close(code=code, reason=reason)

    async def handle(self) -> None:
        try:
            await super().handle()
        finally:
            if self._guard is not None:
                self._guard.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._guard


class FleetgateGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SessionBoundHandler

    def __init__(self, schema: Any, uc: UseCases, *,
                 production: bool, events: EventFeed, sessions: SessionFeed | None = None,
                 allowed_origins: tuple[str, ...] = ()) -> None:
        super().__init__(schema, graphql_ide=None if production else "graphiql",
                         allow_queries_via_get=not production,
                         allowed_origins=allowed_origins,
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         max_subscriptions_per_connection=20,
                         multipart_uploads_enabled=True)
        self._uc, self._accounts, self._production = uc, uc.accounts, production
        self._events, self._sessions = events, sessions

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL (not in production) from the package's own files (graphql_api/ide.py):
        strawberry's page loads them from a CDN and stays on "Loading..." offline."""
        return HTMLResponse(graphiql_page(), headers=PAGE_HEADERS)

    def parse_json(self, data: str | bytes) -> Any:
        """HTTP request JSON (POST body, GET variables/extensions): anything unparsable or not
        an object/list is a 400 INVALID_JSON saying what is wrong (and where), never a 500.

        strawberry only catches JSONDecodeError: invalid UTF-8 (UnicodeDecodeError) and deep
        nesting (RecursionError) escaped as 500s, and a top-level scalar crashed later on
        `data.get`. Strings with lone surrogates are refused here too: every resolver would
        otherwise have to survive them (hashing, SQL drivers). (WebSocket messages use
        decode_json, which is left alone.)"""
        try:
            value = self.decode_json(data)
        except json.JSONDecodeError as exc:
            raise TransportError(400, INVALID_JSON, f"The request is not valid JSON: {exc.msg} "
                                 f"at line {exc.lineno}, column {exc.colno}") from exc
        except UnicodeDecodeError as exc:
            raise TransportError(400, INVALID_JSON, "The request is not UTF-8 text: byte "
                                 f"{exc.start} cannot be decoded") from exc
        except (ValueError, RecursionError) as exc:
            raise TransportError(400, INVALID_JSON,
                                 "The request JSON is nested too deeply to parse") from exc
        if not isinstance(value, dict | list):
            raise TransportError(400, INVALID_JSON, "The request JSON must be an object, not "
                                 f"{_json_kind(value)}")
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
            raise TransportError(400, INVALID_JSON,
                                 "The request JSON contains a lone surrogate (\\uD800-\\uDFFF)")
        return value

    async def parse_http_body(self, request: Any) -> Any:
        """A POST must be application/json, or multipart/form-data for an upload: anything
        else is 415 (strawberry answered 400)."""
        if request.method != "GET":
            content_type, _ = parse_content_type(request.content_type or "")
            if "application/json" not in content_type and content_type != "multipart/form-data":
                raise TransportError(415, UNSUPPORTED_MEDIA_TYPE, "Unsupported content type "
                                     f"{_shown(content_type)}: send the request as "
                                     "application/json (multipart/form-data for uploads)")
        return await super().parse_http_body(request)

    async def parse_multipart(self, request: Any) -> dict[str, Any]:
        """A GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec:
        `operations`, `map`, then the files), used by uploadOtaImage.

        Browsers send multipart/form-data cross-site without a CORS preflight, so the request
        must carry a valid Authorization header (which no cross-site form can set), checked
        before the body is read: anonymous or forged uploads never reach the disk. A `map`
        that is not {"<field>": ["variables.<path>", ...]} pointing at existing positions,
        or naming a missing file, is a 400 (strawberry's own walk raised 500s on those)."""
        token = _token(request.headers)
        try:
            if token is None or len(token) > 4096:
                raise Unauthenticated("no token", reason="invalid_token")
            await self._accounts.sessions.authenticate(token)
        except DomainError as exc:
            raise HTTPException(401, "A multipart request needs a valid Authorization "
                                     "header") from exc
        try:
            form = await request.get_form_data()
        except ValueError as exc:
            raise HTTPException(400, "Unable to parse the multipart body") from exc
        operations = self.parse_json(_text(form.form.get("operations")))
        files_map = self.parse_json(_text(form.form.get("map")))
        if not isinstance(operations, dict) or not isinstance(files_map, dict):
            raise HTTPException(400, "operations must be an object and map an object")
        for field, paths in files_map.items():
            upload = form.files.get(field)
            if upload is None or isinstance(upload, str):
                raise HTTPException(400, f"File {field!r} of the map is missing")
            if not isinstance(paths, list) or not paths:
                raise HTTPException(400, "Each map entry must be a list of paths")
            for path in paths:
                _place(operations, path, upload)
        return operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP refusals (bad JSON, wrong content type or method, no query...) are answered
        as GraphQL JSON errors with a stable extensions.code and their status, never as
        strawberry's plain text."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            error = transport_error(exc)
            response = JSONResponse(refusal_body(error), status_code=error.status_code,
                                    headers=error.headers)
        await response(scope, receive, send)

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
        context = Context(uc=self._uc, events=self._events,
                          token=_token(request.headers),
                          ip=request.client.host if request.client else "unknown",
                          host=host.rsplit(":", 1)[0].lower() if host else None)
        known = request.scope.get(REQUEST_PRINCIPAL)  # the rate limiter authenticated it already
        if known is not None and known[0] == context.token:
            context.signed_in(known[1])
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A WebSocket signs in with {"Authorization": "Bearer <token>"} in its connection_init
        payload (browsers cannot set headers on a WebSocket); a missing or bad token closes the
        socket with 4403 before any subscription starts. A socket signed in is then closed
        when its sign-in ends (graphql_api/live.py: 4401 session ended, 4403 forbidden)."""
        params = context.connection_params or {}
        value = params.get("Authorization", params.get("authorization"))
        if isinstance(value, str):
            context.token = _token({"authorization": value})
        try:
            principal = (await context.caller()).require_principal()
            assert context.token is not None  # a principal comes from a token
            remaining = await self._accounts.sessions.remaining(context.token)
        except DomainError as exc:
            raise ConnectionRejectionError({"code": exc.code}) from exc
        if self._sessions is not None:
            context.live = LiveSession(token=context.token, principal=principal,
                                       remaining=remaining,
                                       authenticate=self._accounts.sessions.authenticate,
                                       feed=self._sessions, renewed=context.signed_in)
        return await super().on_ws_connect(context)
