"""OTA job benchmark: `python -m bench.ota [--nodes N] [--runs R] [--smoke]`.

What is measured
----------------
An organization with N simulated nodes (default 10,000: real rows, written straight into the
nodes table of a fresh, migrated SQLite file) and an OTA image of a few KB. Then, each the
median of R runs after a warm-up:

* ``planning``  ``OtaJobs.create_job(caller, groups=["FFFF-FFFF"])`` without force_push: the
  targets resolved and the job written with one status row per node (a new job each run);
* ``dispatch``  ``OtaJobs.dispatch(org_id, job_id)`` at an unlimited rollout rate, on a fresh
  job, through the real OTA publisher (``MqttOtaPublisher`` on an ``AiomqttBus``), timed from
  the call until a counting aiomqtt subscriber on node/+/otaurl has received all N offers;
* ``bare``      the baseline: a bare aiomqtt client publishing the same N messages (same
  payload bytes, QoS 1, node/<id>/otaurl, in groups of 200 concurrent publishes as dispatch
  does), timed the same way.

plus the SQL statements planning and dispatch issued (a ``before_cursor_execute`` listener on
the engine), and the time dispatch() itself took to return (every publish acknowledged).

The broker is the embedded amqtt broker (``EmbeddedBroker``, with Fleetgate's
authentication and topic plugins; every bench client uses the gateway's credential) on a free
port, run with the counting subscriber in a child process, so this process (the database,
dispatch and its MQTT client, or the bare publisher) has a core of its own on a two-core
machine; with MQTT_URL set (e.g. mqtt://127.0.0.1:1883) every client uses that broker instead
(a Mosquitto accepting the gateway's credential), the subscriber still in its own process. Jobs are
cancelled after their run so the next one finds no node busy.

Limits: no HTTP request is made (use cases are called directly), and the settings turn request
rate limiting off all the same (Settings(rate_limits=False)); plan quotas do not apply to
rows written straight into the tables. The output says so.

Why ratios
----------
Absolute rates depend on the machine and mostly on the broker. dispatch / bare shows what
dispatch adds on top of publishing the messages (database reads and writes, the payload, the
bus): the target is >= 0.50. Planning is an absolute target: under 2 s for 10,000 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiomqtt
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import LIMITS_OFF, add_smoke_flag, print_summary, say_limits

NODES = 10_000
SMOKE_NODES = 200
TOPIC_FILTER = "node/+/otaurl"
CONCURRENCY = 200  # publishes in flight at once, as OtaJobs.dispatch gathers them
CHUNK = 5_000
IMAGE_BYTES = 4_096
WARMUP_NODES = 100  # MAX_JOB_NODES: the warm-up dispatch names its nodes
PLAN_TARGET_MS = 2_000.0
RATIO_TARGET = 0.50
QUIET_S = 10.0  # the subscriber gives up after this long without a message
PASSWORD = "Secret-pass1"


@dataclass
class Run:
    seconds: float  # until the subscriber counted every message
    returned: float  # until dispatch() / the publishing loop returned
    received: int
    statements: int = 0


@contextlib.contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(sync, "before_cursor_execute", record)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------ broker + counting subscriber (child)


async def _serve(host: str, port: int, password: str, embedded: bool,
                 conn: Connection) -> None:
    from adapters.mqtt.embedded import EmbeddedBroker
    from domain.devices.access import DeviceAccess
    from fleetgate.container import GATEWAY_USERNAME

    # only the gateway's credential is used, which DeviceAccess checks without the database
    access = DeviceAccess(uow=None,  # type: ignore[arg-type]
                          gateway_username=GATEWAY_USERNAME, gateway_password=password)
    broker = EmbeddedBroker(port=port, access=access) if embedded else None
    if broker is not None:
        await broker.start()
    received, last = 0, time.monotonic()
    enough = asyncio.Event()
    expected = 0
    try:
        async with aiomqtt.Client(host, port, identifier=f"fgbench-ota-sub-{os.getpid()}",
                                  username=GATEWAY_USERNAME, password=password) as client:
            await client.subscribe(TOPIC_FILTER, qos=1)

            async def count() -> None:
                nonlocal received, last
                async for _message in client.messages:
                    received += 1
                    last = time.monotonic()
                    if received >= expected:
                        enough.set()

            counter = asyncio.create_task(count())
            conn.send("ready")
            while True:
                command = await asyncio.to_thread(conn.recv)
                if command == "stop":
                    break
                expected, received, last = int(command[1]), 0, time.monotonic()
                enough.clear()
                conn.send("armed")
                while not enough.is_set() and time.monotonic() - last < QUIET_S:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(enough.wait(), 0.25)
                conn.send(("done", received, last))
            counter.cancel()
    finally:
        if broker is not None:
            await broker.stop()


def broker_process(host: str, port: int, password: str, embedded: bool,
                   conn: Connection) -> None:
    logging.basicConfig(level=logging.ERROR)
    for noisy in ("amqtt", "mqtt", "transitions", "fleetgate"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    try:
        asyncio.run(_serve(host, port, password, embedded, conn))
    except BaseException as exc:  # report, the parent prints it
        with contextlib.suppress(OSError):
            conn.send(("error", repr(exc)))


@dataclass(frozen=True)
class BrokerAt:
    host: str
    port: int
    embedded: bool  # started by the subscriber's process; else an external one (MQTT_URL)

    def describe(self) -> str:
        return ("embedded amqtt (child process)" if self.embedded
                else f"external at {self.host}:{self.port} (MQTT_URL)")


class Subscriber:
    """A counting subscriber on node/+/otaurl in a child process, with the embedded broker
    when no external one is named."""

    def __init__(self, broker: BrokerAt, password: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=broker_process,
            args=(broker.host, broker.port, password, broker.embedded, child), daemon=True)

    async def _recv(self, within: float) -> Any:
        message = await asyncio.wait_for(asyncio.to_thread(self._conn.recv), within)
        if isinstance(message, tuple) and message[0] == "error":
            raise RuntimeError(f"broker process failed: {message[1]}")
        return message

    async def start(self) -> None:
        self._process.start()
        if await self._recv(60) != "ready":
            raise RuntimeError("broker process did not come up")

    async def arm(self, expected: int) -> None:
        self._conn.send(("expect", expected))
        if await self._recv(10) != "armed":
            raise RuntimeError("broker process did not arm")

    async def counted(self) -> tuple[int, float]:
        """(messages received, time.monotonic() of the last one)."""
        _, received, last = await self._recv(600)
        return int(received), float(last)

    async def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send("stop")
            await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()


# ------------------------------------------------------------------------------------ data


@dataclass
class Bench:
    container: Any
    caller: Any
    org_id: str
    node_ids: list[str]
    image: Any
    payload: bytes  # the otaurl payload dispatch sends (for the baseline)


async def build(container: Any, nodes: int) -> Bench:
    from adapters.sql.tables.devices import nodes as nodes_table
    from domain.access.model import Caller, Principal, PrincipalKind
    from domain.accounts.model import SUPERADMIN
    from ports.repositories.uow import SYSTEM_SCOPE

    user = await container.registration().provision_user(
        user_name="admin@bench.example.com", password=PASSWORD, org_name="bench")
    org_id = user.org_id
    caller = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org_id, user_id=None,
                                        roles=frozenset({SUPERADMIN})))
    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    node_ids = [f"fgota{run}{i:06d}" for i in range(nodes)]
    rows = [{
        "id": node_id, "org_id": org_id, "name": f"Lamp {i}", "type": "Lightbulb",
        "model": "m", "fw_version": "1.0", "config_version": "",
        "config": {"node_id": node_id, "info": {"type": "Lightbulb", "model": "m",
                                                "fw_version": "1.0"}},
        "reported": {}, "desired": {}, "params_version": 1, "connected": True,
        "connection_ts": 1_700_000_000_000, "tags": [], "metadata": None, "active": True,
        "created_at": now} for i, node_id in enumerate(node_ids)]
    async with container.uow()(SYSTEM_SCOPE) as uow:
        conn = await uow.connection()
        for first in range(0, len(rows), CHUNK):
            await conn.execute(insert(nodes_table), rows[first:first + CHUNK])
        await uow.commit()
    image = await container.ota_images().create_image(
        caller, name="bench-fw", base64_fwimage=base64.b64encode(os.urandom(IMAGE_BYTES))
        .decode(), fw_version="2.0", model="m")
    return Bench(container=container, caller=caller, org_id=org_id, node_ids=node_ids,
                 image=image, payload=b"")


def offer_payload(bench: Bench, job: Any) -> bytes:
    """The bytes dispatch publishes for this job (same size for every node)."""
    from domain.ota.model import Offer

    jobs = bench.container.ota_jobs()
    token = bench.container.ota_images().download_token(bench.image, datetime.now(UTC))
    return json.dumps(Offer(node_id="", job=job, image=bench.image, token=token)
                      .payload(jobs.base_url)).encode()


# ------------------------------------------------------------------------------ measuring


async def plan(bench: Bench, runs: int) -> tuple[list[float], int]:
    """Median of `runs` create_job calls (after a warm-up); every job is cancelled after."""
    jobs = bench.container.ota_jobs()
    engine: AsyncEngine = bench.container.engine()
    times, made, statements = [], [], 0
    for i in range(runs + 1):
        with counting(engine) as executed:
            started = time.perf_counter()
            job = await jobs.create_job(bench.caller, name=f"plan-{i}",
                                        image_id=bench.image.id, groups=["FFFF-FFFF"])
            elapsed = time.perf_counter() - started
        made.append(job)
        if i:  # the first is the warm-up
            times.append(elapsed)
            statements = len(executed)
        summary = await jobs.job_summary(bench.caller, job_id=job.id)
        assert summary.total == len(bench.node_ids), summary
    for job in made:
        await jobs.cancel_or_archive(bench.caller, job_id=job.id)
    return times, statements


async def dispatch_once(bench: Bench, subscriber: Subscriber, name: str,
                        nodes: list[str] | None) -> Run:
    """A fresh job (all nodes, or these) dispatched; cancelled after."""
    jobs = bench.container.ota_jobs()
    targets = {"nodes": nodes} if nodes is not None else {"groups": ["FFFF-FFFF"]}
    job = await jobs.create_job(bench.caller, name=name, image_id=bench.image.id, **targets)
    expected = len(nodes) if nodes is not None else len(bench.node_ids)
    if not bench.payload:
        bench.payload = offer_payload(bench, job)
    sent_before = bench.container.ota_publisher().sent
    await subscriber.arm(expected)
    with counting(bench.container.engine()) as executed:
        started = time.monotonic()
        offered = await bench.container.ota_delivery().dispatch(bench.org_id, job.id)
        returned = time.monotonic() - started
    received, last = await subscriber.counted()
    sent = bench.container.ota_publisher().sent - sent_before
    if offered != expected or sent != expected:
        print(f"  note: {name}: offered {offered}, published {sent} of {expected}",
              file=sys.stderr)
    await jobs.cancel_or_archive(bench.caller, job_id=job.id)
    return Run(seconds=last - started, returned=returned, received=received,
               statements=len(executed))


async def bare_once(client: aiomqtt.Client, subscriber: Subscriber, node_ids: Sequence[str],
                    payload: bytes) -> Run:
    await subscriber.arm(len(node_ids))
    started = time.monotonic()
    for first in range(0, len(node_ids), CONCURRENCY):
        await asyncio.gather(*(client.publish(f"node/{node_id}/otaurl", payload, qos=1)
                               for node_id in node_ids[first:first + CONCURRENCY]))
    returned = time.monotonic() - started
    received, last = await subscriber.counted()
    return Run(seconds=last - started, returned=returned, received=received)


async def mqtt_phases(bench: Bench, broker: BrokerAt, password: str, runs: int
                      ) -> tuple[list[Run], list[Run]]:
    from adapters.mqtt.bus import AiomqttBus
    from fleetgate.container import GATEWAY_USERNAME

    subscriber = Subscriber(broker, password)
    await subscriber.start()
    host, port = broker.host, broker.port
    bus = AiomqttBus(host, port, client_id=f"fgbench-ota-bus-{uuid.uuid4().hex[:8]}",
                     username=GATEWAY_USERNAME, password=password, overflow="wait")
    bus_task = asyncio.create_task(bus.run())
    try:
        deadline = time.monotonic() + 10
        while not bus.connected:
            if time.monotonic() > deadline:
                raise TimeoutError("the publishing bus never connected")
            await asyncio.sleep(0.02)
        bench.container.ota_publisher().bus = bus
        async with aiomqtt.Client(host, port,
                                  identifier=f"fgbench-ota-bare-{uuid.uuid4().hex[:8]}",
                                  username=GATEWAY_USERNAME, password=password,
                                  protocol=aiomqtt.ProtocolVersion.V311) as client:
            warm = bench.node_ids[:WARMUP_NODES]
            await dispatch_once(bench, subscriber, "dispatch-warmup", warm)
            await bare_once(client, subscriber, warm, bench.payload)
            dispatched, bare = [], []
            for i in range(runs):  # interleaved, so drift affects both alike
                dispatched.append(await dispatch_once(bench, subscriber, f"dispatch-{i}", None))
                bare.append(await bare_once(client, subscriber, bench.node_ids, bench.payload))
            return dispatched, bare
    finally:
        bench.container.ota_publisher().bus = None
        await bus.stop()
        bus_task.cancel()
        await asyncio.gather(bus_task, return_exceptions=True)
        await subscriber.stop()


# -------------------------------------------------------------------------------------- main


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(nodes: int, runs: int, plan_times: list[float], plan_statements: int,
           dispatched: list[Run], bare: list[Run], payload_bytes: int, broker: str,
           smoke: bool = False) -> tuple[str, dict[str, Any]]:
    plan_ms = statistics.median(plan_times) * 1000
    d_s = statistics.median(r.seconds for r in dispatched)
    b_s = statistics.median(r.seconds for r in bare)
    d_rate, b_rate = nodes / d_s, nodes / b_s
    ratio = d_rate / b_rate
    complete = all(r.received >= nodes for r in dispatched + bare)
    lines = [f"{nodes:,} nodes, one OTA job over FFFF-FFFF; median of {runs} runs after a "
             f"warm-up; otaurl payload {payload_bytes} bytes, QoS 1; broker: {broker}",
             f"{'phase':<10} {'median ms':>10} {'returned ms':>11} {'msgs/s':>9} "
             f"{'SQL stmts':>9}  target",
             "-" * 78,
             f"{'planning':<10} {plan_ms:>10,.0f} {'':>11} {'':>9} {plan_statements:>9}  "
             f"< {PLAN_TARGET_MS:,.0f} ms: {verdict(plan_ms < PLAN_TARGET_MS)}",
             f"{'dispatch':<10} {d_s * 1000:>10,.0f} "
             f"{statistics.median(r.returned for r in dispatched) * 1000:>11,.0f} "
             f"{d_rate:>9,.0f} {max(r.statements for r in dispatched):>9}",
             f"{'bare':<10} {b_s * 1000:>10,.0f} "
             f"{statistics.median(r.returned for r in bare) * 1000:>11,.0f} "
             f"{b_rate:>9,.0f} {'-':>9}",
             "",
             f"dispatch / bare = {ratio:.2f} (target >= {RATIO_TARGET:.2f}: "
             f"{verdict(ratio >= RATIO_TARGET and complete)})"]
    if not complete:
        received = [r.received for r in dispatched + bare]
        lines.append(f"INCOMPLETE: the subscriber counted {received} of {nodes} messages")
    lines.append("median ms: from the call until the subscriber counted every message; "
                 "returned ms: until dispatch() / the publish loop returned (all acknowledged)")
    lines.append(f"server limits: {LIMITS_OFF}" + ("; SMOKE run: tiny counts, no targets"
                                                   if smoke else ""))
    summary = {
        "nodes": nodes, "runs": runs, "broker": broker, "limits": LIMITS_OFF, "smoke": smoke,
        "payload_bytes": payload_bytes, "complete": complete,
        "planning_ms": round(plan_ms, 1), "planning_statements": plan_statements,
        "dispatch_ms": round(d_s * 1000, 1), "dispatch_msgs_per_s": round(d_rate, 1),
        "dispatch_statements": max(r.statements for r in dispatched),
        "bare_ms": round(b_s * 1000, 1), "bare_msgs_per_s": round(b_rate, 1),
        "dispatch_vs_bare": round(ratio, 3),
        "targets": None if smoke else {
            "planning_ms": PLAN_TARGET_MS, "planning_pass": plan_ms < PLAN_TARGET_MS,
            "dispatch_vs_bare": RATIO_TARGET,
            "dispatch_pass": ratio >= RATIO_TARGET and complete}}
    return "\n".join(lines), summary


async def main_async(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from fleetgate.bootstrap import migrate
    from fleetgate.container import Container
    from fleetgate.settings import Settings

    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-ota-") as tmp:
        port = free_port()
        external = urlparse(os.environ["MQTT_URL"]) if os.environ.get("MQTT_URL") else None
        broker = BrokerAt(external.hostname or "127.0.0.1", external.port or 1883, False) \
            if external else BrokerAt("127.0.0.1", port, True)
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'ota.db'}",
                            secret="s" * 40, blob_dir=str(Path(tmp) / "blobs"),
                            mqtt_port=port, log_level="WARNING", rate_limits=False)
        container = Container(settings=settings)
        try:
            await migrate(container)
            await container.authorizer().reload()
            started = time.perf_counter()
            bench = await build(container, args.nodes)
            print(f"built {args.nodes:,} nodes in {time.perf_counter() - started:.1f}s",
                  file=sys.stderr)
            plan_times, plan_statements = await plan(bench, args.runs)
            print(f"planning: {[round(t * 1000) for t in plan_times]} ms", file=sys.stderr)
            dispatched, bare = await mqtt_phases(bench, broker,
                                                 container.gateway_password(), args.runs)
            print(f"dispatch: {[round(r.seconds * 1000) for r in dispatched]} ms; bare: "
                  f"{[round(r.seconds * 1000) for r in bare]} ms", file=sys.stderr)
        finally:
            await container.engine().dispose()
    return report(args.nodes, args.runs, plan_times, plan_statements, dispatched, bare,
                  len(bench.payload), broker.describe(), smoke=args.smoke)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measures, prints the table, and returns the numbers."""
    parser = argparse.ArgumentParser(prog="python -m bench.ota", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=None,
                        help=f"simulated nodes, each a real row ({NODES:,}; smoke "
                             f"{SMOKE_NODES})")
    parser.add_argument("--runs", type=int, default=None, help="measured runs per phase (3)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    args.nodes = args.nodes if args.nodes is not None else (SMOKE_NODES if args.smoke
                                                             else NODES)
    args.runs = args.runs if args.runs is not None else (1 if args.smoke else 3)
    if args.nodes < 1 or args.runs < 1:
        parser.error("--nodes and --runs are at least 1")
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("amqtt", "mqtt", "transitions", "fleetgate"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    say_limits(LIMITS_OFF)
    table, summary = asyncio.run(main_async(args))
    print(table)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    print_summary(run(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
