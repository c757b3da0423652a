"""Health, readiness, metrics and request-scoped logs of one app (docs/observability.md).

`Observability` holds this app's metrics registry, fleet counts and readiness checks, and
hands create_app its routes (/readyz always; /metrics only with a token) and its outermost
middleware (request ids, then HTTP metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from fleetgate.observability.http import (
    CountingRateLimitMiddleware,
    HttpMetricsMiddleware,
    metrics_endpoint,
)
from fleetgate.observability.logs import RequestIdMiddleware
from fleetgate.observability.metrics import (
    FleetStats,
    Metrics,
    PoolCollector,
    RuntimeCollector,
)
from fleetgate.observability.readiness import Readiness

MIN_TOKEN_CHARS = 16
PROBE_PATHS = ("/readyz", "/metrics")  # never rate-limited: probes and scrapes are steady

__all__ = ["CountingRateLimitMiddleware", "Observability", "PROBE_PATHS"]


class Observability:
    def __init__(self, *, engine: Callable[[], AsyncEngine], runtime: Callable[[], Any],
                 metrics_token: str | None) -> None:
        if metrics_token is not None and len(metrics_token) < MIN_TOKEN_CHARS:
            raise ValueError(f"FLEETGATE_METRICS_TOKEN must be at least {MIN_TOKEN_CHARS} "
                             f"characters")
        self.metrics = Metrics()
        self.fleet = FleetStats(engine)
        self.readiness = Readiness(engine=engine, runtime=runtime)
        self._token = metrics_token
        for collector in (RuntimeCollector(runtime), PoolCollector(engine), self.fleet):
            self.metrics.registry.register(collector)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [Route("/readyz", self.readiness.endpoint, methods=["GET"])]
        if self._token is not None:
            routes.append(Route("/metrics", metrics_endpoint(self.metrics, self.fleet,
                                                             self._token), methods=["GET"]))
        return routes

    def middleware(self, routes: Sequence[BaseRoute]) -> list[Middleware]:
        """Outermost first: every log line of a request has its id, every response counts."""
        return [Middleware(RequestIdMiddleware),
                Middleware(HttpMetricsMiddleware, metrics=self.metrics, routes=routes)]
