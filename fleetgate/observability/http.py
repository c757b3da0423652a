"""HTTP-side observability: request metrics by route template, rate-limit refusals by limit,
and the token-protected /metrics endpoint."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetgate.observability.metrics import FleetStats, Metrics
from fleetgate.rate_limits import RateLimitMiddleware
from ports.services import RateDecision

UNMATCHED_ROUTE = "<unmatched>"
REFUSED_BY = "fleetgate.refused_by"  # scope key: which request limit answered 429


class HttpMetricsMiddleware:
    """Counts every HTTP response by route template, method and status and times it; 429s
    also count as rate-limit refusals. Sits outside the rate limiter and the body limit, so
    their refusals are counted too (their route is found by matching the routes)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what ServerErrorMiddleware answers when the app raises before a reply

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_http(self._route(scope), scope.get("method", ""), status,
                                      elapsed)
            if status == 429:
                self.metrics.refused(scope.get(REFUSED_BY, "other"))

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")  # set by Starlette's router for the route it served
        if route is None:  # refused before routing (429, 413): match like the router does
            partial = None
            for candidate in self.routes:
                match, _ = candidate.matches(scope)
                if match is Match.FULL:
                    route = candidate
                    break
                if match is Match.PARTIAL and partial is None:
                    partial = candidate
            route = route or partial
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else UNMATCHED_ROUTE


class CountingRateLimitMiddleware(RateLimitMiddleware):
    """The request rate limiter, noting on the scope which limit refused a request, for
    HttpMetricsMiddleware's refusal count."""

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, which: str,
                      decision: RateDecision) -> None:
        scope[REFUSED_BY] = which
        await super()._refuse(scope, receive, send, which, decision)


def metrics_endpoint(metrics: Metrics, fleet: FleetStats, token: str
                     ) -> Callable[[Request], Awaitable[Response]]:
    """GET /metrics in Prometheus' text format, for `Authorization: Bearer <token>` only
    (401 otherwise; compared in constant time)."""
    expected = f"Bearer {token}".encode()

    async def serve(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "Metrics need Authorization: Bearer "
                                          "<FLEETGATE_METRICS_TOKEN>",
                                 "code": "UNAUTHENTICATED", "status": 401}, status_code=401,
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        await fleet.refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    return serve
