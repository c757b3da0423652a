"""The ASGI application: GraphQL at /graphql, REST compat at /v1 (and /apiversions)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.accounts.use_cases import AccountUseCases
from domain.billing.use_cases import BillingUseCases
from domain.devices.use_cases import DeviceUseCases
from domain.errors import DomainError
from domain.groups.use_cases import GroupUseCases
from domain.ota.model import MAX_IMAGE_BYTES
from domain.ota.use_cases import OtaUseCases
from domain.sharing.use_cases import SharingUseCases
from domain.use_cases import UseCases
from fleetgate import __version__
from fleetgate.bootstrap import run_demo_devices
from fleetgate.catalogue import graphql_uses
from fleetgate.container import Container
from fleetgate.device_runtime import DeviceRuntime
from fleetgate.landing import landing
from fleetgate.observability import PROBE_PATHS, CountingRateLimitMiddleware, Observability
from fleetgate.observability.logs import REQUEST_ID_HEADER
from fleetgate.rate_limits import RATE_LIMIT_HEADERS, Identity
from fleetgate.settings import Settings
from graphql_api.ide import ASSET_PATH, graphiql_asset
from graphql_api.schema import build_schema
from graphql_api.view import FleetgateGraphQL
from rest_compat.app import EXCEPTION_HANDLERS, build_routes, preauthorizer, rest_operations
from rest_compat.broker_hooks import HookGate, with_broker_hooks

log = logging.getLogger("fleetgate")


class GraphQLBodyLimit:
    """Refuses GraphQL request bodies over the limit with 413 before they are parsed; a
    multipart request (a file upload) may be as large as the largest OTA image plus
    upload_overhead bytes for its other parts."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 upload_max_bytes: int = MAX_IMAGE_BYTES, upload_overhead: int = 65_536
                 ) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.upload_max_bytes = upload_max_bytes + upload_overhead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/graphql"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = self.upload_max_bytes if headers.get(b"content-type", b"").lower().startswith(
            b"multipart/form-data") else self.max_bytes
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"errors": [{"message": "Request body too large",
                        "extensions": {"code": "VALIDATION"}}]}
    await JSONResponse(body, status_code=413)(scope, receive, send)


def use_cases(container: Container) -> UseCases:
    """Every area's bundle, built from the container's singletons: what both APIs receive."""
    return UseCases(
        accounts=AccountUseCases(registration=container.registration(),
                                 sessions=container.sessions(), profiles=container.profiles(),
                                 api_keys=container.api_keys(),
                                 admin_users=container.admin_users()),
        access=container.access_use_cases(),
        billing=BillingUseCases(service=container.billing()),
        devices=DeviceUseCases(provisioning=container.provisioning(),
                               access=container.device_access(),
                               nodes=container.user_nodes(), watch=container.node_watch(),
                               mapping=container.node_mapping(), proxy=container.node_proxy(),
                               endpoint=container.broker_endpoint(),
                               admin=container.admin_nodes()),
        groups=GroupUseCases(user=container.user_groups(), admin=container.admin_groups()),
        sharing=SharingUseCases(nodes=container.node_sharing(),
                                groups=container.group_sharing()),
        ota=OtaUseCases(images=container.ota_images(), jobs=container.ota_jobs(),
                        updates=container.ota_updates()))


def create_app(settings: Settings, *, container: Container | None = None,
               start_mqtt: bool = False, bench: bool = False,
               demo_devices: bool = False) -> Starlette:
    container = container or Container(settings=settings)
    uc = use_cases(container)
    observability = Observability(  # /readyz, /metrics, request ids (docs/observability.md)
        engine=container.engine, runtime=lambda: getattr(app.state, "devices_runtime", None),
        metrics_token=settings.metrics_token)
    schema = build_schema(max_depth=settings.graphql_max_depth,
                          max_aliases=settings.graphql_max_aliases,
                          max_tokens=settings.graphql_max_tokens,
                          production=settings.production, observer=observability.metrics)
    graphql = FleetgateGraphQL(schema, uc, production=settings.production,
                               allowed_origins=settings.cors_origins,
                               events=container.events(),
                               sessions=container.session_listeners())
    operations = with_broker_hooks(
        rest_operations(uc, max_body=settings.max_body_bytes), uc.devices.access,
        settings.max_body_bytes, broker_hook_gate(settings))
    container.catalogue().load(operations, graphql_uses(schema))
    routes: list[Any] = build_routes(
        operations, version=__version__,
        preauthorize=preauthorizer(uc.accounts.sessions.authenticate, container.authorizer()))
    # every method reaches the view, which answers all but GET and POST with a GraphQL 405
    routes.append(Route("/graphql", graphql))
    routes.append(WebSocketRoute("/graphql", graphql))  # subscriptions: graphql-transport-ws
    if not settings.production:  # GraphiQL's own files: it loads nothing from elsewhere
        routes.append(Route(ASSET_PATH + "/{name}", graphiql_asset, methods=["GET"]))
    routes.append(Route("/", landing(version=__version__, production=settings.production),
                        methods=["GET"]))
    routes.append(Route("/healthz", _health, methods=["GET"]))  # liveness; /readyz: readiness
    routes.extend(observability.routes())
    if bench:
        routes.append(Route("/__bench/ceiling", _ceiling, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        container.api_requests().start()
        await container.authorizer().reload()
        await container.policy_watcher().start()
        devices_runtime = DeviceRuntime(settings, container) if start_mqtt else None
        if devices_runtime is not None:
            devices_runtime.batch_observer = observability.metrics.ingest_batch_seconds.observe
            await devices_runtime.start()
        app.state.devices_runtime = devices_runtime
        stop_demo, demo = asyncio.Event(), None
        if demo_devices and start_mqtt and settings.mqtt_url is None:
            demo = asyncio.create_task(run_demo_devices(app, settings, stop_demo))
            demo.add_done_callback(_log_demo_failure)
        try:
            yield
        finally:
            stop_demo.set()
            if demo is not None:
                await asyncio.wait({demo}, timeout=5)
            if devices_runtime is not None:
                await devices_runtime.stop()
            await container.policy_watcher().stop()
            await container.api_requests().stop()
            for closing in (getattr(container.billing_gateway(), "aclose", None),
                            getattr(container.request_limiter(), "close", None)):
                if closing is not None:
                    await closing()
            await container.engine().dispose()

    middleware = [*observability.middleware(routes),
                  Middleware(GraphQLBodyLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                                     allow_methods=["GET", "POST", "PUT", "DELETE"],
                                     allow_headers=["Authorization", "Content-Type",
                                                    "Idempotency-Key", REQUEST_ID_HEADER],
                                     expose_headers=["Retry-After", *RATE_LIMIT_HEADERS,
                                                     REQUEST_ID_HEADER]))
    if settings.rate_limits:  # inside CORS: preflights are not counted, 429s carry CORS
        middleware.append(Middleware(
            CountingRateLimitMiddleware, limiter=container.request_limiter(),
            per_ip=settings.rate_limit_per_ip, per_user=settings.rate_limit_per_user,
            identify=_identify(uc.accounts), org_limit=_org_limit(uc.billing),
            on_request=container.api_requests().count,
            exempt=("/healthz", *PROBE_PATHS, "/api/v1/billing/webhooks/")))
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers=EXCEPTION_HANDLERS)
    app.state.container = container
    app.state.observability = observability
    app.state.graphql_schema = schema  # (the SDL snapshot test reads it)
    return app


def broker_hook_gate(settings: Settings) -> HookGate:
    """/v1/mqtt/* only with an external broker, and then only for the broker."""
    return HookGate.of(enabled=settings.mqtt_url is not None,
                       secret=settings.broker_hook_secret, allow=settings.broker_hook_allow)


def _identify(accounts: AccountUseCases) -> Callable[[str], Awaitable[Identity | None]]:
    async def identify(token: str) -> Identity | None:
        try:
            principal = await accounts.sessions.authenticate(token)
        except DomainError:
            return None  # the route answers 401; only the per-IP limit applies
        return Identity(subject=principal.subject, org_id=principal.org_id,
                        principal=principal)

    return identify


def _org_limit(billing: BillingUseCases) -> Callable[[str], Awaitable[int]]:
    async def limit(org_id: str) -> int:
        return (await billing.service.effective_plan(org_id)).requests_per_minute

    return limit


def _log_demo_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("demo devices stopped", exc_info=task.exception())


async def _health(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


_CEILING = json.dumps({"user_id": "bench", "user_name": "bench@example.com",
                       "name": "Bench"}).encode()


async def _ceiling(_request: Request) -> Response:
    """Benchmark ceiling: a bare endpoint returning a fixed JSON (only with bench=True)."""
    return Response(_CEILING, media_type="application/json")
