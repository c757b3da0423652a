"""Issue 15 item 12: /readyz names its checks (database, migrations, broker, workers) and
answers 503 when one fails, on time even when the database hangs; /metrics serves
Prometheus metrics only with its token, labelled by route template; log lines carry the
request id of the X-Request-ID header (a malformed one is replaced)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from dependency_injector import providers
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Route

from adapters.sql.engine import make_engine
from adapters.sql.migrate import alembic_config
from fleetgate.observability.logs import JsonFormatter, RequestIdFilter
from fleetgate.observability.metrics import MAX_OPERATION_NAMES, OTHER, Metrics
from fleetgate.settings import Settings
from tests.conftest import ON_POSTGRES, Env, start_env
from tests.integration.test_device_runtime import broker_address, provision, wait_for

TOKEN = "metrics-token-" + "z" * 24
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = {"database", "migrations", "broker", "workers"}
RLS_PENDING = "row-level security does not apply"
Samples = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, metrics_token=TOKEN)


async def poll(what: Callable[[], Awaitable[Any]], done: Callable[[Any], bool],
               within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        got = await what()
        if done(got):
            return got
        assert time.monotonic() < deadline, f"never happened; last: {got}"
        await asyncio.sleep(0.05)


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def total(found: Samples, name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if labels.items() <= got.items())


async def scrape(env: Env) -> Samples:
    r = await env.client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


@contextlib.contextmanager
def database(env: Env, engine: AsyncEngine) -> Iterator[None]:
    """The app's checks and collectors use `engine` instead of its own database."""
    with env.container.engine.override(providers.Object(engine)):
        yield


@contextlib.asynccontextmanager
async def silent_database() -> AsyncIterator[AsyncEngine]:
    """A PostgreSQL address that accepts connections and then never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engine = make_engine(f"postgresql+asyncpg://fleetgate@127.0.0.1:{port}/fleetgate",
                         app_role=False)
    try:
        yield engine
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
        await engine.dispose()


# --- /readyz ----------------------------------------------------------------------------

async def test_readyz_is_ready_with_every_check_named_on_a_running_gateway(
        gateway: Env) -> None:
    # (the first heartbeat may still be on its way)
    r = await poll(lambda: gateway.client.get("/readyz"), lambda r: r.status_code == 200)
    body = r.json()
    assert set(body["checks"]) == CHECKS
    assert body["status"] == "ready" and r.headers["cache-control"] == "no-store"
    assert all(check["ok"] for check in body["checks"].values()), body
    assert body["checks"]["workers"]["workers"] == {
        "ingest": True, "ota": True, "ota_sweep": True, "bus": True}
    assert body["checks"]["broker"]["heartbeat_age_seconds"] is not None
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]


async def test_readyz_names_a_stopped_worker_and_a_lost_broker(gateway: Env) -> None:
    runtime = gateway.app.state.devices_runtime
    runtime.ota.sweeper.cancel()
    await asyncio.gather(runtime.ota.sweeper, return_exceptions=True)
    await runtime.bus.stop(drain_timeout=0)
    r = await poll(lambda: gateway.client.get("/readyz"), lambda r: r.status_code == 503
                   and not r.json()["checks"]["broker"]["ok"])
    checks = r.json()["checks"]
    assert r.json()["status"] == "unready"
    assert not checks["workers"]["ok"] and "ota_sweep" in checks["workers"]["detail"]
    assert "not connected to the MQTT broker" in checks["broker"]["detail"]


class FakeBus:
    def __init__(self, *, connected: bool, age: float | None, interval: float = 10.0) -> None:
        self.connected, self._age, self.heartbeat_interval = connected, age, interval
        self.host, self.port = "broker.example", 1883

    def heartbeat_age(self) -> float | None:
        return self._age


class FakeRuntime:
    def __init__(self, bus: FakeBus) -> None:
        self.bus = bus

    def workers(self) -> dict[str, bool]:
        return {"ingest": True, "bus": True}


@pytest.mark.parametrize(("bus", "ready", "says"), [
    (FakeBus(connected=True, age=29.9), True, "heartbeat received 29.9s ago"),
    (FakeBus(connected=True, age=30.0), False, "its subscriptions are not delivering"),
    (FakeBus(connected=True, age=None), False, "heartbeat has not come back yet"),
    (FakeBus(connected=False, age=1.0), False, "not connected to the MQTT broker"),
])
async def test_the_broker_is_ready_while_its_heartbeat_is_younger_than_three_intervals(
        env: Env, bus: FakeBus, ready: bool, says: str) -> None:
    from fleetgate.observability.readiness import Readiness

    readiness = Readiness(engine=env.container.engine, runtime=lambda: FakeRuntime(bus))
    ok, body = await readiness.report()
    broker = body["checks"]["broker"]  # type: ignore[index]
    assert broker["ok"] is ready and ok is ready and says in broker["detail"], broker


async def test_readyz_answers_503_within_its_deadline_when_the_database_hangs(
        env: Env) -> None:
    async with silent_database() as hanging:
        with database(env, hanging):
            started = time.monotonic()
            r = await env.client.get("/readyz")
            elapsed = time.monotonic() - started
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unready" and set(body["checks"]) == CHECKS
    assert not body["checks"]["database"]["ok"]
    assert "no answer within" in body["checks"]["database"]["detail"]
    assert not body["checks"]["migrations"]["ok"]
    assert body["checks"]["broker"]["ok"] and body["checks"]["workers"]["ok"]
    assert elapsed < 2.5, f"readiness took {elapsed:.2f}s with a hanging database"


async def test_readyz_answers_503_when_the_database_refuses_connections(env: Env) -> None:
    from tests.integration.test_mqtt_broker import free_port

    refusing = make_engine(f"postgresql+asyncpg://x@127.0.0.1:{free_port()}/x", app_role=False)
    with database(env, refusing):
        r = await env.client.get("/readyz")
    await refusing.dispose()
    assert r.status_code == 503
    assert r.json()["checks"]["database"]["detail"].startswith("query failed")


async def test_readyz_answers_503_when_the_schema_is_behind_the_migrations(
        env: Env, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    script = ScriptDirectory.from_config(alembic_config(url))
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)
    await asyncio.to_thread(command.upgrade, alembic_config(url), previous)
    behind = make_engine(url)
    with database(env, behind):
        r = await env.client.get("/readyz")
    await behind.dispose()
    assert r.status_code == 503
    migrations = r.json()["checks"]["migrations"]
    assert not migrations["ok"] and "fleetgate migrate" in migrations["detail"]
    assert migrations["current"] == [previous] and migrations["head"] == [head]
    assert r.json()["checks"]["database"]["ok"]


@pytest.mark.skipif(not ON_POSTGRES, reason="row-level security is PostgreSQL's")
async def test_readyz_fails_the_database_check_for_a_role_that_bypasses_rls(env: Env) -> None:
    from tests.conftest import PG_URL

    owner = make_engine(PG_URL, app_role=False)  # the schema owner: a superuser here
    with database(env, owner):
        r = await env.client.get("/readyz")
    await owner.dispose()
    assert r.status_code == 503
    check = r.json()["checks"]["database"]
    assert not check["ok"] and RLS_PENDING in check["detail"]
    assert "superuser" in check["detail"] or "BYPASSRLS" in check["detail"]


# --- /metrics ----------------------------------------------------------------------------

async def test_metrics_are_not_served_without_a_configured_token(settings: Settings) -> None:
    async for env in start_env(replace(settings, metrics_token=None)):
        assert (await env.client.get("/metrics", headers=SCRAPE)).status_code == 404


def test_a_short_metrics_token_is_refused_at_start(settings: Settings) -> None:
    from fleetgate.app import create_app

    with pytest.raises(ValueError, match="FLEETGATE_METRICS_TOKEN"):
        create_app(replace(settings, metrics_token="short"))


async def test_metrics_refuse_a_missing_or_wrong_token(env: Env) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        r = await env.client.get("/metrics", headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["code"] == "UNAUTHENTICATED"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "fleetgate_" not in r.text


async def test_metrics_label_http_requests_by_route_template_not_raw_path(env: Env) -> None:
    ids = [f"node-{i}-secret" for i in range(5)]
    for node_id in ids:
        await env.client.get(f"/v1/user/nodes/{node_id}")
    await env.client.get("/no/such/path/12345")
    r = await env.client.get("/metrics", headers=SCRAPE)
    assert not any(node_id in r.text for node_id in ids) and "12345" not in r.text
    found = parse(r.text)
    assert total(found, "fleetgate_http_requests_total", route="/v1/user/nodes/{node_id}",
                 method="GET") == 5
    assert total(found, "fleetgate_http_request_duration_seconds_count",
                 route="/v1/user/nodes/{node_id}", method="GET") == 5
    assert total(found, "fleetgate_http_requests_total", route="<unmatched>",
                 status="404") == 1


async def test_metrics_count_graphql_operations_by_name_and_errors_by_code(env: Env) -> None:
    await env.gql("query WhoAmI { me { id } }")  # anonymous caller: UNAUTHENTICATED
    await env.gql("{ __typename }")
    await env.gql("query Broken { me {")  # a syntax error
    found = await scrape(env)
    assert total(found, "fleetgate_graphql_operations_total", operation="WhoAmI",
                 type="query") == 1
    # the unparsable document has no name to read either
    assert total(found, "fleetgate_graphql_operations_total", operation="<anonymous>") == 2
    assert total(found, "fleetgate_graphql_errors_total", code="UNAUTHENTICATED") == 1
    assert total(found, "fleetgate_graphql_errors_total", code="GRAPHQL_VALIDATION") == 1


def test_graphql_operation_names_and_error_codes_are_bounded() -> None:
    metrics = Metrics()
    for i in range(MAX_OPERATION_NAMES + 50):
        metrics.operation(name=f"Op{i}", kind="query", error_codes=[f"CODE_{i}"])
    metrics.operation(name="bad name\n{}", kind="weird", error_codes=["not a code"])
    found = parse(_exposition(metrics))
    names = {labels["operation"] for labels, _ in
             found["fleetgate_graphql_operations_total"]}
    assert len(names) == MAX_OPERATION_NAMES + 1 and OTHER in names
    assert total(found, "fleetgate_graphql_operations_total", operation=OTHER) == 51
    assert total(found, "fleetgate_graphql_operations_total", type="unknown") == 1
    assert len(found["fleetgate_graphql_errors_total"]) <= 65


def _exposition(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_probes_are_not_rate_limited_and_refusals_are_counted(
        settings: Settings) -> None:
    limited = replace(settings, rate_limits=True, rate_limit_per_ip=3)
    async for env in start_env(limited):
        statuses = [(await env.client.get("/v1/user/nodes/n1")).status_code for _ in range(5)]
        assert statuses.count(429) == 2
        for _ in range(5):
            assert (await env.client.get("/readyz")).status_code == 200
        found = await scrape(env)
        assert total(found, "fleetgate_rate_limit_refusals_total", limit="ip") == 2
        assert total(found, "fleetgate_http_requests_total", route="/v1/user/nodes/{node_id}",
                     status="429") == 2


async def test_metrics_report_mqtt_ingest_pool_and_fleet_after_device_traffic(
        gateway: Env) -> None:
    env = gateway
    creds = await provision(env)
    node_id = creds["node_id"]
    host, port = broker_address(env)
    async with aiomqtt.Client(host, port, identifier=node_id, username=node_id,
                              password=creds["mqtt_password"]) as device:
        await device.subscribe(f"node/{node_id}/params/remote", qos=1)
        await device.publish(f"node/{node_id}/params/local",
                             json.dumps({"Light": {"power": True}}), qos=1)
        await device.publish(f"node/{node_id}/connection",
                             json.dumps({"connected": True, "timestamp": 1}), qos=1)
        await wait_for(env, node_id, lambda n: n.connectivity.connected
                       and n.reported == {"Light": {"power": True}})
        assert await env.container.node_commands().send_params(node_id, {"Light": {"power": 0}})
        async with asyncio.timeout(10):
            async for _message in device.messages:
                break
        found = await scrape(env)
    assert total(found, "fleetgate_mqtt_messages_received_total", kind="params/local") >= 1
    assert total(found, "fleetgate_mqtt_messages_received_total", kind="connection") >= 1
    assert total(found, "fleetgate_mqtt_messages_published_total", kind="params/remote") == 1
    assert not any(node_id in labels.get("kind", "") for labels, _ in
                   found["fleetgate_mqtt_messages_received_total"])
    assert total(found, "fleetgate_mqtt_connected") == 1
    assert total(found, "fleetgate_ingest_messages_total") >= 2
    assert total(found, "fleetgate_ingest_batch_seconds_count") >= 1
    assert "fleetgate_ingest_queue_depth" in found
    assert total(found, "fleetgate_worker_up", worker="ingest") == 1
    assert total(found, "fleetgate_devices_connected") == 1
    assert total(found, "fleetgate_nodes", connectivity="connected") == 1
    assert total(found, "fleetgate_db_pool_size") >= 1
    assert "fleetgate_db_pool_checked_out" in found


# --- request ids in logs -------------------------------------------------------------------

@contextlib.contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """What the JSON log format writes while the block runs, parsed line by line."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    parsed: list[dict[str, Any]] = []
    try:
        yield parsed
    finally:
        root.removeHandler(handler)
        parsed.extend(json.loads(line) for line in lines)


async def test_json_log_lines_carry_the_request_id_of_the_header(env: Env) -> None:
    from tests.integration.test_mqtt_broker import free_port

    refusing = make_engine(f"postgresql+asyncpg://x@127.0.0.1:{free_port()}/x", app_role=False)
    with json_lines() as lines, database(env, refusing):
        r = await env.client.get("/readyz", headers={"X-Request-ID": "probe-7.a_b"})
    await refusing.dispose()
    assert r.status_code == 503 and r.headers["x-request-id"] == "probe-7.a_b"
    ours = [line for line in lines if line["logger"] == "fleetgate.observability"]
    assert ours, lines
    assert all(line["request_id"] == "probe-7.a_b" for line in ours)
    assert any("not ready: database" in line["message"] for line in ours)
    assert {"time", "level", "logger", "message"} <= set(ours[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ours[0]["time"])


async def test_the_log_line_of_an_unexpected_error_carries_the_request_id(env: Env) -> None:
    async def broken(_request: Any) -> Any:
        raise RuntimeError("a bug")

    env.app.router.routes.append(Route("/__test/broken", broken))
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)

    async def request() -> httpx.Response:  # a task of its own, as the server runs each
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/__test/broken", headers={"X-Request-ID": "bug-42"})

    with json_lines() as lines:
        r = await asyncio.create_task(request())
    assert r.status_code == 500
    [line] = [line for line in lines if line["logger"] == "fleetgate.rest"]
    assert line["request_id"] == "bug-42" and line["level"] == "ERROR"
    assert "RuntimeError: a bug" in line["exc_info"]


async def test_a_malformed_request_id_is_replaced_and_a_missing_one_generated(
        env: Env) -> None:
    for sent in ("x" * 129, "has space", "semi;colon", ""):
        r = await env.client.get("/healthz", headers={"X-Request-ID": sent})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), sent
    assert re.fullmatch(r"[0-9a-f]{32}", (await env.client.get("/healthz")).headers[
        "x-request-id"])
    kept = "A" * 128
    assert (await env.client.get("/healthz", headers={"X-Request-ID": kept})).headers[
        "x-request-id"] == kept


def test_json_log_lines_carry_exception_text() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1,
                                                   "failed %s", ("here",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["level"] == "ERROR"
    assert "RuntimeError: boom" in line["exc_info"] and "request_id" not in line


def test_the_log_format_setting_installs_json_lines_and_refuses_unknown_formats(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from fleetgate.observability.logs import request_id
    from fleetgate.settings import configure_logging

    monkeypatch.setenv("FLEETGATE_SECRET", "s" * 40)
    monkeypatch.setenv("FLEETGATE_LOG_FORMAT", "JSON")
    chosen = Settings.from_env()
    assert chosen.log_format == "json"
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", chosen.log_format)
        token = request_id.set("req-9")
        try:
            logging.getLogger("fleetgate.test").warning("hello %s", "there")
        finally:
            request_id.reset(token)
        logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()
                  if line.startswith("{")]
        assert {"logger": "fleetgate.test", "message": "hello there", "level": "WARNING",
                "request_id": "req-9"}.items() <= logged[-1].items()
        with pytest.raises(ValueError, match="FLEETGATE_LOG_FORMAT"):
            configure_logging("INFO", "xml")
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
