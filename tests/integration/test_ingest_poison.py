"""One device's bad message cannot drop other organizations' reports (issue 15, item 5): the
running gateway, two organizations' devices over the broker, one message the database
refuses in the middle of a batch. Ingest refuses what it knows the database cannot store;
what still fails (the check bypassed, or a database trigger refusing one report) is retried
node by node, then message by message, and only that message is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable

import aiomqtt
import pytest
from sqlalchemy import text

import domain.devices.ingest
from adapters.sql.engine import make_engine
from domain.devices.provisioning import ProvisionedNode
from tests.conftest import ON_POSTGRES, PG_URL, Env
from tests.integration.test_device_runtime import broker_address, wait_for

BEYOND_INT64 = 2**63  # the BIGINT connectivity column refuses it, on SQLite and PostgreSQL


@contextlib.asynccontextmanager
async def device(env: Env, node: ProvisionedNode) -> AsyncIterator[aiomqtt.Client]:
    host, port = broker_address(env)
    async with aiomqtt.Client(host, port, identifier=node.node_id, username=node.node_id,
                              password=node.mqtt_password) as client:
        yield client


async def report(client: aiomqtt.Client, node_id: str, suffix: str, body: bytes) -> None:
    await client.publish(f"node/{node_id}/{suffix}", body, qos=1)


def j(value: object) -> bytes:
    return json.dumps(value).encode()


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)


TRIGGER = {
    "postgresql": ["CREATE FUNCTION fg_refuse_poison() RETURNS trigger AS $$ BEGIN "
                   "RAISE EXCEPTION 'poisoned report refused'; END $$ LANGUAGE plpgsql",
                   "CREATE TRIGGER fg_refuse_poison BEFORE UPDATE ON nodes FOR EACH ROW "
                   "WHEN (NEW.reported::text LIKE '%poison%') "
                   "EXECUTE FUNCTION fg_refuse_poison()"],
    "sqlite": ["CREATE TRIGGER fg_refuse_poison BEFORE UPDATE ON nodes FOR EACH ROW "
               "WHEN NEW.reported LIKE '%poison%' "
               "BEGIN SELECT RAISE(ABORT, 'poisoned report refused'); END"],
}
UNTRIGGER = {"postgresql": ["DROP TRIGGER IF EXISTS fg_refuse_poison ON nodes",
                            "DROP FUNCTION IF EXISTS fg_refuse_poison()"],
             "sqlite": ["DROP TRIGGER IF EXISTS fg_refuse_poison"]}


@contextlib.asynccontextmanager
async def database_refusing_reports_with_poison(env: Env) -> AsyncIterator[None]:
    """A fault in the database itself: a trigger that fails any node update whose reported
    params mention "poison" (the schema owner installs it; the app role cannot)."""
    engine = make_engine(PG_URL, app_role=False) if ON_POSTGRES else env.container.engine()
    dialect = engine.dialect.name

    async def run(statements: list[str]) -> None:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))

    await run(TRIGGER[dialect])
    try:
        yield
    finally:
        await run(UNTRIGGER[dialect])
        if ON_POSTGRES:
            await engine.dispose()


@pytest.mark.parametrize("fault", ["check bypassed", "database trigger"])
async def test_a_message_the_database_refuses_is_dropped_alone(
        gateway: Env, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    env, runtime = gateway, gateway.app.state.devices_runtime
    runtime.ingest.batch_linger_seconds = 1.0  # everything below arrives as one batch
    acme, globex = await env.provision_node("Acme"), await env.provision_node("Globex")
    a, b = acme.node_id, globex.node_id
    faulty: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
    if fault == "check bypassed":
        monkeypatch.setattr(domain.devices.ingest, "unstorable", lambda value: None)
        poison = ("connection", j({"connected": True, "timestamp": BEYOND_INT64}))
    else:
        faulty = database_refusing_reports_with_poison(env)
        poison = ("params/local", j({"Light": {"poison": 1}}))

    async with device(env, acme) as dev_a, device(env, globex) as dev_b, faulty:
        await report(dev_a, a, "params/local", j({"Light": {"level": 1}}))
        await report(dev_b, b, "params/local", j({"Fan": {"speed": 1}}))
        await report(dev_a, a, *poison)
        await report(dev_b, b, "connection", j({"connected": True, "timestamp": 5}))
        await report(dev_a, a, "params/local", j({"Light": {"level": 2}}))
        await report(dev_b, b, "params/local", j({"Fan": {"speed": 2}}))

        node_b = await wait_for(env, b, lambda n: n.reported == {"Fan": {"speed": 2}})
        node_a = await wait_for(env, a, lambda n: n.reported == {"Light": {"level": 2}})

    assert node_b.connectivity.connected and node_b.params_version == 2
    assert node_a.params_version == 2 and not node_a.connectivity.connected
    assert "poison" not in node_a.reported["Light"]
    assert runtime.poison_dropped == 1
    assert runtime.split_batches == 1  # the poison shared its batch with the others
    assert runtime.dropped == 0


async def test_a_payload_the_database_cannot_store_is_refused_before_batching(
        gateway: Env) -> None:
    env, runtime = gateway, gateway.app.state.devices_runtime
    runtime.ingest.batch_linger_seconds = 1.0
    acme, globex = await env.provision_node("Acme"), await env.provision_node("Globex")
    a, b = acme.node_id, globex.node_id

    async with device(env, acme) as dev_a, device(env, globex) as dev_b:
        await report(dev_a, a, "params/local", rb'{"Light": {"name": "a\u0000b"}}')
        await report(dev_a, a, "params/local/init", rb'{"Light": {"name": "\ud800"}}')
        await report(dev_a, a, "connection", j({"connected": True, "timestamp": BEYOND_INT64}))
        await report(dev_a, a, "params/local", b'{"Light": {"level": 1e999}}')
        await report(dev_b, b, "params/local", j({"Fan": {"speed": 2}}))
        await report(dev_a, a, "params/local", j({"Light": {"level": 3}}))

        await wait_for(env, b, lambda n: n.reported == {"Fan": {"speed": 2}})
        await wait_for(env, a, lambda n: n.reported == {"Light": {"level": 3}})

    await until(lambda: runtime.refused == 4)  # counted once the batch is written
    assert runtime.split_batches == 0 and runtime.poison_dropped == 0


async def test_while_the_database_does_not_answer_no_message_is_taken_for_poison(
        gateway: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env, runtime = gateway, gateway.app.state.devices_runtime
    runtime.ingest.batch_linger_seconds, runtime.ingest.batch_retries = 1.0, (0.01, 0.01, 0.01)
    acme, globex = await env.provision_node("Acme"), await env.provision_node("Globex")

    def database_down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(env.container.ingest(), "handle_batch", database_down)
    monkeypatch.setattr(env.container.ingest(), "probe", database_down)  # "does it answer?"
    async with device(env, acme) as dev_a, device(env, globex) as dev_b:
        await report(dev_a, acme.node_id, "params/local", j({"Light": {"level": 1}}))
        await report(dev_b, globex.node_id, "params/local", j({"Fan": {"speed": 1}}))
        await report(dev_a, acme.node_id, "params/local", j({"Light": {"level": 2}}))
        await until(lambda: runtime.dropped == 3)

    assert runtime.poison_dropped == 0 and runtime.split_batches == 1
