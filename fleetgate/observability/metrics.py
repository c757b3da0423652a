"""Prometheus metrics of one app, in a registry of its own (tests build many apps in one
process; the global registry would refuse the second).

Every label has a bounded set of values: routes are Starlette route templates (never the raw
URL), methods outside the standard ones are OTHER, GraphQL operation names are kept for the
first MAX_OPERATION_NAMES distinct valid names and reported as <other> after that, error
codes are the API's stable codes, MQTT topic kinds are capped by the bus.

Most figures are read when scraped from state that exists anyway (collectors): the device
runtime's queues and counters, the bus's per-kind counts, the SQLAlchemy pool, and fleet
counts queried at most every FLEET_TTL_SECONDS.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.health import FleetCounts, fleet_counts
from fleetgate.observability.deadline import within

log = logging.getLogger("fleetgate.observability")

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_OPERATION_NAMES = 200
MAX_ERROR_CODES = 64
ANONYMOUS, OTHER = "<anonymous>", "<other>"
OPERATION_KINDS = frozenset({"query", "mutation", "subscription"})
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
FLEET_TTL_SECONDS = 15.0
FLEET_TIMEOUT_SECONDS = 2.0


class Metrics:
    """The app's metrics and the recording methods the middleware, the GraphQL extension,
    the rate limiter and the ingest consumer call."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self._http_requests = Counter(
            "fleetgate_http_requests", "HTTP requests answered, by route template, method and "
            "status", ["route", "method", "status"], registry=registry)
        self._http_seconds = Histogram(
            "fleetgate_http_request_duration_seconds", "Time to answer an HTTP request, by "
            "route template and method", ["route", "method"], registry=registry)
        self._graphql_operations = Counter(
            "fleetgate_graphql_operations", "GraphQL operations, by operation name and type",
            ["operation", "type"], registry=registry)
        self._graphql_errors = Counter(
            "fleetgate_graphql_errors", "Errors in GraphQL responses, by extensions.code",
            ["code"], registry=registry)
        self._refusals = Counter(
            "fleetgate_rate_limit_refusals", "Requests refused with 429 by the request rate "
            "limits (limit: ip, user, org) or by a use case's own limit (limit: other, e.g. "
            "login attempts)", ["limit"], registry=registry)
        self.ingest_batch_seconds = Histogram(
            "fleetgate_ingest_batch_seconds", "Time to write one ingest batch (retries "
            "included)", registry=registry,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._operation_names: set[str] = set()
        self._error_codes: set[str] = set()

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else "OTHER"
        key = (route, method, status)
        children = self._http_children.get(key)
        if children is None:
            children = self._http_children[key] = (
                self._http_requests.labels(route, method, str(status)),
                self._http_seconds.labels(route, method))
        children[0].inc()
        children[1].observe(seconds)

    def refused(self, limit: str) -> None:
        self._refusals.labels(limit if limit in ("ip", "user", "org") else "other").inc()

    def operation(self, *, name: str | None, kind: str | None,
                  error_codes: list[str]) -> None:
        """One GraphQL operation (graphql_api.observability.OperationObserver)."""
        self._graphql_operations.labels(self._operation_label(name),
                                        kind if kind in OPERATION_KINDS else "unknown").inc()
        for code in error_codes:
            self._graphql_errors.labels(self._code_label(code)).inc()

    def _operation_label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._operation_names:
            return name
        if not _OPERATION_NAME.fullmatch(name) or \
                len(self._operation_names) >= MAX_OPERATION_NAMES:
            return OTHER
        self._operation_names.add(name)
        return name

    def _code_label(self, code: str) -> str:
        if code in self._error_codes:
            return code
        if not _ERROR_CODE.fullmatch(code) or len(self._error_codes) >= MAX_ERROR_CODES:
            return OTHER
        self._error_codes.add(code)
        return code


class RuntimeCollector:
    """The device runtime's queues, counters and workers, and its MQTT bus's, as they are
    when scraped (nothing when this process runs no device runtime)."""

    def __init__(self, runtime: Callable[[], Any]) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime()
        if runtime is None:
            return
        inbox, ota_inbox = getattr(runtime, "_inbox", None), getattr(runtime, "_ota_inbox", None)
        if inbox is not None:
            yield GaugeMetricFamily("fleetgate_ingest_queue_depth", "Device messages waiting "
                                    "for the ingest consumer", value=inbox.qsize())
            yield GaugeMetricFamily("fleetgate_ingest_queue_capacity", "Size of the ingest "
                                    "queue (a full queue holds the MQTT bus back)",
                                    value=inbox.maxsize)
        if ota_inbox is not None:
            yield GaugeMetricFamily("fleetgate_ota_queue_depth", "OTA messages and offers "
                                    "waiting for the OTA consumer", value=ota_inbox.qsize())
        for name, help_text, attr in (
                ("fleetgate_ingest_batches", "Ingest batches written", "batches"),
                ("fleetgate_ingest_messages", "Device messages ingested", "ingested"),
                ("fleetgate_ingest_dropped", "Device messages dropped by ingest (database "
                 "kept failing, or still queued at stop)", "dropped"),
                ("fleetgate_ingest_refused", "Device payloads refused before batching (the "
                 "database could not store them)", "refused"),
                ("fleetgate_ingest_poison_dropped", "Device messages the database refused, "
                 "dropped alone", "poison_dropped"),
                ("fleetgate_ingest_split_batches", "Ingest batches that failed whole and were "
                 "written node by node", "split_batches"),
                ("fleetgate_ota_messages_handled", "OTA messages and offers handled",
                 "ota_handled"),
                ("fleetgate_ota_messages_ignored", "OTA messages ignored (malformed, unknown "
                 "node or job, not a forward transition)", "ota_ignored")):
            value = getattr(runtime, attr, None)
            if isinstance(value, int):
                yield CounterMetricFamily(name, help_text, value=value)
        workers = getattr(runtime, "workers", None)
        if callable(workers):
            up = GaugeMetricFamily("fleetgate_worker_up", "1 while a background task of the "
                                   "device runtime is running", labels=["worker"])
            for worker, alive in sorted(workers().items()):
                up.add_metric([worker], 1 if alive else 0)
            yield up
        bus = getattr(runtime, "bus", None)
        if bus is not None:
            yield from _bus_metrics(bus)


def _bus_metrics(bus: Any) -> Iterator[Metric]:
    yield GaugeMetricFamily("fleetgate_mqtt_connected", "1 while the gateway's MQTT client "
                            "is connected and subscribed", value=1 if bus.connected else 0)
    for name, help_text, attr in (
            ("fleetgate_mqtt_messages_received", "MQTT messages the gateway received, by "
             "topic kind", "received_by_kind"),
            ("fleetgate_mqtt_messages_published", "MQTT messages the gateway published, by "
             "topic kind", "published_by_kind")):
        counts = getattr(bus, attr, None)
        if isinstance(counts, dict):
            family = CounterMetricFamily(name, help_text, labels=["kind"])
            for kind, count in sorted(counts.items()):
                family.add_metric([kind], count)
            yield family
    for name, help_text, attr in (
            ("fleetgate_mqtt_messages_dropped", "MQTT messages the gateway received but "
             "dropped (full buffer, or still queued at stop)", "dropped"),
            ("fleetgate_mqtt_handler_errors", "MQTT messages whose handler raised",
             "handler_errors"),
            ("fleetgate_mqtt_connects", "Connections made to the broker", "connects"),
            ("fleetgate_mqtt_reconnect_attempts", "Reconnection attempts", "reconnect_attempts"),
            ("fleetgate_mqtt_heartbeats", "The gateway's own heartbeats received back",
             "heartbeats"),
            ("fleetgate_mqtt_heartbeat_misses", "Heartbeat checks that found none for "
             "HEARTBEAT_MISSES intervals", "heartbeat_misses"),
            ("fleetgate_mqtt_resubscribes", "Resubscriptions after missing heartbeats",
             "resubscribes"),
            ("fleetgate_mqtt_heartbeat_reconnects", "Reconnections after heartbeats stayed "
             "missing", "heartbeat_reconnects")):
        value = getattr(bus, attr, None)
        if isinstance(value, int):
            yield CounterMetricFamily(name, help_text, value=value)
    heartbeat_age = getattr(bus, "heartbeat_age", None)
    age = heartbeat_age() if callable(heartbeat_age) else None
    if isinstance(age, int | float):
        yield GaugeMetricFamily("fleetgate_mqtt_heartbeat_age_seconds", "Seconds since the "
                                "gateway last received its own heartbeat", value=age)


class PoolCollector:
    """The SQLAlchemy connection pool: its size, connections open and checked out."""

    def __init__(self, engine: Callable[[], AsyncEngine]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        pool: Any = self._engine().sync_engine.pool
        for name, help_text, method in (
                ("fleetgate_db_pool_size", "Connections the pool keeps open", "size"),
                ("fleetgate_db_pool_checked_out", "Connections in use", "checkedout"),
                ("fleetgate_db_pool_checked_in", "Open connections idle in the pool",
                 "checkedin")):
            read = getattr(pool, method, None)
            if callable(read):
                yield GaugeMetricFamily(name, help_text, value=read())
        size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", None)
        if callable(size) and isinstance(overflow, int) and overflow >= 0:
            yield GaugeMetricFamily("fleetgate_db_pool_capacity", "Most connections the pool "
                                    "opens (size plus overflow)", value=size() + overflow)


class FleetStats:
    """Fleet counts (nodes by connectivity, OTA jobs and targets by status) over every
    organization, queried at most every ttl seconds and within timeout seconds; a failed
    query keeps the last counts (their age says how old they are)."""

    def __init__(self, engine: Callable[[], AsyncEngine], *, ttl: float = FLEET_TTL_SECONDS,
                 timeout: float = FLEET_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine, self._ttl, self._timeout, self._clock = engine, ttl, timeout, clock
        self.counts: FleetCounts | None = None
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self.failures = 0

    async def refresh(self) -> None:
        now = self._clock()
        if self._tried_at is not None and now - self._tried_at < self._ttl:
            return
        self._tried_at = now  # concurrent scrapes: only the first one queries
        try:
            self.counts = await within(fleet_counts(self._engine()), self._timeout)
            self._fetched_at = self._clock()
        except Exception as exc:
            self.failures += 1
            log.warning("fleet counts for /metrics failed (%s: %s); serving the last ones",
                        type(exc).__name__, exc)

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("fleetgate_fleet_count_failures", "Failed fleet count "
                                  "queries", value=self.failures)
        counts = self.counts
        if counts is None or self._fetched_at is None:
            return
        yield GaugeMetricFamily("fleetgate_fleet_counts_age_seconds", "Age of the fleet "
                                "counts below", value=self._clock() - self._fetched_at)
        yield GaugeMetricFamily("fleetgate_devices_connected", "Active nodes marked connected",
                                value=counts.nodes_connected)
        nodes = GaugeMetricFamily("fleetgate_nodes", "Active nodes by connectivity",
                                  labels=["connectivity"])
        nodes.add_metric(["connected"], counts.nodes_connected)
        nodes.add_metric(["disconnected"], counts.nodes_disconnected)
        yield nodes
        for name, help_text, by_status in (
                ("fleetgate_ota_jobs", "OTA jobs by status", counts.ota_jobs),
                ("fleetgate_ota_nodes", "OTA target nodes by their status in the job",
                 counts.ota_nodes)):
            family = GaugeMetricFamily(name, help_text, labels=["status"])
            for status, count in sorted(by_status.items()):
                family.add_metric([status[:32]], count)
            yield family
