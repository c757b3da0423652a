"""Builds the REST compat routes: every handler runs behind the single error mapping."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.access.model import Permission, declared_access
from domain.errors import (
    BillingUnavailable,
    DomainError,
    Forbidden,
    Unavailable,
    ValidationFailed,
)
from domain.use_cases import UseCases
from rest_compat import schemas as s
from rest_compat.access import access_operations
from rest_compat.admin_groups import admin_group_operations
from rest_compat.admin_nodes import admin_node_operations
from rest_compat.admin_users import admin_user_operations
from rest_compat.billing import billing_operations
from rest_compat.broker_hooks import broker_hook_operations
from rest_compat.devices import device_operations
from rest_compat.edgeflow import edgeflow_error, error_body, is_edgeflow
from rest_compat.errors import error_response, failure
from rest_compat.group_sharing import group_sharing_operations
from rest_compat.groups import group_operations
from rest_compat.http import PRINCIPAL_KEY, Authenticate, bearer_token, bool_param
from rest_compat.nodes import node_operations
from rest_compat.openapi import openapi_document
from rest_compat.operations import Handler, Operation
from rest_compat.ota_images import ota_image_operations
from rest_compat.ota_jobs import ota_job_operations
from rest_compat.ota_updates import ota_update_operations
from rest_compat.schemas import violated_keyword
from rest_compat.sharing import sharing_operations
from rest_compat.users import user_operations

log = logging.getLogger("fleetgate.rest")
Preauthorize = Callable[[Request, Operation], Awaitable[None]]
VERSION_INFO = {"supported_versions": ["v1"],
                "additional_info": [{"version": "v1", "build_info": "fleetgate-0.1.0",
                                     "release_notes": "See the project README."}]}


def _check_query(op: Operation, request: Request) -> None:
    """Query parameters present must match their documented schema: a string schema, or a
    boolean read by the one flag parser (missing required ones are left to the handler, and so
    are those whose handler answers bad values with a RainMaker code of their own:
    x-fleetgate-handler-validates)."""
    for param in op.query:
        if param.get("in") != "query" or param.get("x-fleetgate-handler-validates"):
            continue
        if param["schema"].get("type") == "boolean":
            bool_param(request, param["name"])
            continue
        if param["schema"].get("type") != "string":
            continue
        value = request.query_params.get(param["name"])
        if value is not None and violated_keyword(param["schema"], value) is not None:
            raise ValidationFailed(f"Invalid value for query parameter {param['name']}",
                                   reason="invalid_body")


def preauthorizer(authenticate: Authenticate, authorizer: Any) -> Preauthorize:
    """Refuses (403) a signed-in caller whose roles allow none of the operation's declared
    permissions before its query or body is looked at, so the authorization matrix holds
    whatever the input; the use cases still check their own permission. The principal is
    kept on the request for the handler (one authentication per request)."""
    async def check(request: Request, op: Operation) -> None:
        if op.public or not op.auth:
            return
        token = bearer_token(request)
        if token is None or len(token) > 4096:
            return  # the handler answers 401
        known = request.scope.get(PRINCIPAL_KEY)  # the rate limiter authenticated it already
        principal = known[1] if known is not None and known[0] == token \
            else await authenticate(token)
        request.scope[PRINCIPAL_KEY] = (token, principal)
        wanted = {p for fn in op.uses if isinstance(p := declared_access(fn), Permission)}
        if wanted and not any(authorizer.allowed(principal, p) for p in wanted):
            raise Forbidden("You are not authorized to perform this operation",
                            reason="forbidden")

    return check


def _guarded(op: Operation, preauthorize: Preauthorize | None = None) -> Handler:
    async def run(request: Request) -> Response:
        try:
            if preauthorize is not None:
                await preauthorize(request, op)
            _check_query(op, request)
            return await op.handler(request)
        except DomainError as exc:
            response = edgeflow_error(exc) if is_edgeflow(op.path) else error_response(exc)
            _log_refusal(op, exc, response.status_code)
            return response

    return run


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _log_refusal(op: Operation, exc: DomainError, status: int) -> None:
    """One line per refused request, without a traceback: the client's mistakes at INFO, a
    dependency that did not answer at WARNING (only unexpected errors, in unexpected_error,
    are logged at ERROR with theirs). The route template is logged, not the path sent."""
    message = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"),
                           exc.message[:500])
    level = logging.WARNING if isinstance(exc, Unavailable | BillingUnavailable) \
        else logging.INFO
    log.log(level, "REST %s %s: %s %s (%s): %s", op.method, op.path, status, exc.code,
            exc.reason, message)


def _meta_operations() -> list[Operation]:
    async def api_versions(_request: Request) -> Response:
        return JSONResponse(VERSION_INFO)

    base = Operation(method="GET", path="/apiversions", handler=api_versions,
                     operation_id="getApiVersions", tag="API Versions", public=True, auth=False,
                     summary="Get supported API versions", responses={200: s.API_VERSIONS})
    return [base, Operation(**{**{f: getattr(base, f) for f in base.__dataclass_fields__},
                               "path": "/v1/apiversions", "operation_id": "getApiVersionsV1"})]


def rest_operations(uc: UseCases, *, max_body: int) -> list[Operation]:
    authenticate = uc.accounts.sessions.authenticate
    return (_meta_operations() + user_operations(uc.accounts, max_body)
            + admin_user_operations(uc.accounts, max_body)
            + device_operations(uc.devices, authenticate, max_body)
            + broker_hook_operations(uc.devices.access, max_body)
            + node_operations(uc.devices, authenticate, max_body)
            + admin_node_operations(uc.devices, authenticate, max_body)
            + group_operations(uc.groups, uc.sharing, authenticate, max_body)
            + admin_group_operations(uc.groups, authenticate, max_body)
            + sharing_operations(uc.sharing, authenticate, max_body)
            + group_sharing_operations(uc.sharing, authenticate, max_body)
            + access_operations(uc.access, authenticate, max_body)
            + ota_image_operations(uc.ota, authenticate, max_body)
            + ota_job_operations(uc.ota, authenticate, max_body)
            + ota_update_operations(uc.ota, authenticate, max_body)
            + billing_operations(uc.billing.service, authenticate, max_body))


def build_routes(operations: list[Operation], *, version: str,
                 preauthorize: Preauthorize | None = None) -> list[Route]:
    document = openapi_document(operations, version=version)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    by_path: dict[str, dict[str, Handler]] = {}
    for op in operations:
        by_path.setdefault(op.path, {})[op.method] = _guarded(op, preauthorize)
    # One route per path, so a wrong method is answered 405 with every allowed method in Allow.
    fixed = [path for path in by_path if "{" not in path]
    routes = [_route(path, _dispatch(handlers), list(handlers), fixed)
              for path, handlers in by_path.items()]
    routes.append(Route("/v1/openapi.json", openapi, methods=["GET"], name="openapi"))
    return routes


def _route(path: str, endpoint: Handler, methods: list[str], fixed: list[str]) -> Route:
    """A route; one with path parameters never matches a fixed path (DELETE
    /v1/user/nodes/{node_id} must not take /v1/user/nodes/status for a node id: that path
    answers 405 with its own Allow)."""
    route = Route(path, endpoint, methods=methods, name=path)
    if "{" in path and fixed:
        excluded = "|".join(re.escape(p) for p in fixed)
        route.path_regex = re.compile(f"^(?!(?:{excluded})$)" + route.path_regex.pattern[1:])
    return route


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    async def run(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return run


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in RainMaker's failure shape."""
    assert isinstance(exc, HTTPException)
    text = {404: "Resource not found", 405: "Method not allowed"}.get(exc.status_code,
                                                                       str(exc.detail))
    response = error_body(exc.status_code, {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(
        exc.status_code, "HTTP_ERROR"), text) if is_edgeflow(request.url.path) else \
        failure(exc.status_code, 100000 + exc.status_code, text)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """Anything unforeseen: logged with its traceback, answered in RainMaker's shape with no
    detail (Starlette's ServerErrorMiddleware calls this for every route)."""
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    if is_edgeflow(request.url.path):
        return error_body(500, "INTERNAL", "Internal server error")
    return failure(500, 100001, "Internal server error")


EXCEPTION_HANDLERS: dict[Any, Callable[..., Any]] = {HTTPException: http_exception,
                                                      Exception: unexpected_error}
