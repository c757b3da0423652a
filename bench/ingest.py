"""Device ingest benchmark: `python -m bench.ingest [--devices K] [--count N] [--mqtt-url URL]`.

What is measured
----------------
K devices, provisioned through the real use cases (registration token, then provisioning)
and connecting with their own broker credentials, each publish N `params/local` messages
(QoS 1, a few in flight per device) as fast as the broker takes them. Three consumers take
turns on the same broker, each with the same fresh traffic:

* ``aiomqtt_count``  a subscriber written with the gateway's MQTT library (aiomqtt) that only
  counts messages: the most this process can receive with that library;
* ``mosquitto_sub``  the C client, counting lines (skipped when not installed);
* ``ingest``         the real gateway (`DeviceRuntime`: bus, bounded queue, batched ingest,
  events), timed until the database reflects the last message of every device.

Each rate is total messages / (time from "go" to the consumer having everything). The
ingest rate is also given as a ratio to both baselines; target: ingest >= 0.50 of
``aiomqtt_count``. Publishers run in a separate process, so on a two-core machine the
consumer (with the embedded broker, when it is the one used) has a core of its own.

Brokers: the embedded amqtt broker (started here, in this process, exactly as `fleetgate
serve` starts it: device authentication and topic checks included) unless `--mqtt-url` or
MQTT_URL names an external one (Mosquitto with anonymous access, say). The database is a
fresh SQLite file unless `--database-url` names another (it is migrated, and rows are added).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiomqtt

TOPIC_FILTER = "node/+/params/local"
TARGET = 0.50
PROBE_NODE = "fgbenchprobe"
PHASE_DEADLINE_S = 300.0
IN_FLIGHT_PER_DEVICE = 16


@dataclass(frozen=True)
class Device:
    node_id: str
    password: str


@dataclass(frozen=True)
class Broker:
    name: str
    host: str
    port: int
    username: str | None
    password: str | None


@dataclass
class Phase:
    consumer: str
    seconds: float | None = None
    published_in: float | None = None
    note: str = ""

    def rate(self, total: int) -> float | None:
        return total / self.seconds if self.seconds else None


# ------------------------------------------------------------------- publishers (child process)


def payload(phase: str, seq: int) -> bytes:
    return json.dumps({"Bench": {"seq": seq, "phase": phase, "level": seq % 101}}).encode()


async def _publish_all(broker: Broker, devices: list[Device], count: int, phase: str,
                       conn: Connection) -> float:
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for device in devices:
            client = aiomqtt.Client(broker.host, broker.port, identifier=device.node_id,
                                    username=device.node_id, password=device.password,
                                    max_inflight_messages=IN_FLIGHT_PER_DEVICE)
            clients.append(await stack.enter_async_context(client))
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        started = time.perf_counter()

        async def run(device: Device, client: aiomqtt.Client) -> None:
            topic = f"node/{device.node_id}/params/local"
            for first in range(0, count, IN_FLIGHT_PER_DEVICE):
                # started in order, so paho sends them in order on this one connection
                await asyncio.gather(*(client.publish(topic, payload(phase, seq), qos=1)
                                       for seq in range(first, min(first + IN_FLIGHT_PER_DEVICE,
                                                                   count))))

        await asyncio.gather(*(run(d, c) for d, c in zip(devices, clients, strict=True)))
        elapsed = time.perf_counter() - started
        # stay connected until the consumer has everything: amqtt forgets the messages of a
        # client that disconnects before they were forwarded, though it acknowledged them
        conn.send(("done", elapsed))
        await asyncio.to_thread(conn.recv)  # "stop"
        return elapsed


def publisher_process(broker: Broker, devices: list[Device], count: int, phase: str,
                      conn: Connection) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # paho's "pending publish calls"
    try:
        asyncio.run(_publish_all(broker, devices, count, phase, conn))
    except BaseException as exc:  # report, the parent prints it
        conn.send(("error", repr(exc)))


class Publishers:
    """The K devices in a child process: connected first, publishing on go()."""

    def __init__(self, broker: Broker, devices: list[Device], count: int, phase: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=publisher_process,
                                         args=(broker, devices, count, phase, child),
                                         daemon=True)

    async def connect(self) -> None:
        self._process.start()
        message = await asyncio.wait_for(asyncio.to_thread(self._conn.recv), 60)
        if message != "ready":
            raise RuntimeError(f"publishers failed to connect: {message}")

    def go(self) -> None:
        self._conn.send("go")

    async def finished(self) -> float:
        kind, value = await asyncio.wait_for(asyncio.to_thread(self._conn.recv),
                                             PHASE_DEADLINE_S)
        if kind != "done":
            raise RuntimeError(f"publishers failed: {value}")
        return float(value)

    async def stop(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send("stop")
            await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.kill()


# -------------------------------------------------------------------------------- consumers


async def poll(done: Callable[[], Awaitable[bool]] | Callable[[], bool], *, every: float,
               what: str) -> None:
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while True:
        outcome = done()
        if await outcome if asyncio.iscoroutine(outcome) else outcome:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done within {PHASE_DEADLINE_S:.0f}s")
        await asyncio.sleep(every)


async def timed(broker: Broker, devices: list[Device], count: int, phase: str,
                finished: Callable[[], Awaitable[None]]) -> Phase:
    publishers = Publishers(broker, devices, count, phase)
    try:
        await publishers.connect()
        publishers.go()
        started = time.perf_counter()
        publishing = asyncio.ensure_future(publishers.finished())
        consuming = asyncio.ensure_future(finished())
        await asyncio.wait([publishing, consuming], return_when=asyncio.FIRST_COMPLETED)
        if publishing.done() and publishing.exception() is not None:
            consuming.cancel()
            await asyncio.gather(consuming, return_exceptions=True)
            await publishing  # raises what went wrong
        await consuming  # a stuck consumer times out
        seconds = time.perf_counter() - started
        return Phase(consumer=phase, seconds=seconds, published_in=await publishing)
    finally:
        await publishers.stop()


async def aiomqtt_counter(broker: Broker, devices: list[Device], count: int) -> Phase:
    total = len(devices) * count
    received = 0
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"fgbench-{uuid.uuid4().hex}",
                              username=broker.username, password=broker.password) as client:
        await client.subscribe(TOPIC_FILTER, qos=1)

        async def finished() -> None:
            nonlocal received
            async for _message in client.messages:
                received += 1
                if received >= total:
                    return

        return await timed(broker, devices, count, "aiomqtt_count", finished)


async def mosquitto_sub(broker: Broker, devices: list[Device], count: int) -> Phase:
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        return Phase(consumer="mosquitto_sub", note="not installed (apt-get install "
                     "mosquitto-clients)")
    total = len(devices) * count
    args = [binary, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-F", "%t",
            "-i", f"fgbench-c-{uuid.uuid4().hex[:12]}", "-t", TOPIC_FILTER]
    if broker.username:
        args += ["-u", broker.username, "-P", broker.password or ""]
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    stdout = process.stdout
    try:
        await probe_until_subscribed(broker, stdout)
        lines = 0

        async def finished() -> None:
            nonlocal lines
            while lines < total:
                chunk = await stdout.read(65536)
                if not chunk:
                    raise RuntimeError(f"mosquitto_sub exited after {lines} messages")
                lines += chunk.count(b"\n") - chunk.count(PROBE_NODE.encode())

        return await timed(broker, devices, count, "mosquitto_sub", finished)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


async def probe_until_subscribed(broker: Broker, stdout: asyncio.StreamReader) -> None:
    """mosquitto_sub says nothing when subscribed: publish probes until one comes out."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=f"fgbench-p-{uuid.uuid4().hex}",
                              username=broker.username, password=broker.password) as client:
        for _ in range(100):
            await client.publish(f"node/{PROBE_NODE}/params/local", b"{}", qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    if PROBE_NODE.encode() in await stdout.readline():
                        return
    raise TimeoutError("mosquitto_sub never received a probe")


async def gateway_ingest(broker: Broker, devices: list[Device], count: int,
                         settings: Any, container: Any) -> Phase:
    from fleetgate.device_runtime import DeviceRuntime
    from ports.repositories import SYSTEM_SCOPE

    await forget_session(broker, gateway_client_id(settings))
    runtime = DeviceRuntime(settings, container)
    await runtime.start()
    try:
        await poll(lambda: runtime.bus is not None and runtime.bus.connected, every=0.02,
                   what="gateway connected")
        ids = [d.node_id for d in devices]
        uow = container.uow()

        async def reflected() -> bool:
            async with uow(SYSTEM_SCOPE) as tx:
                nodes = await tx.nodes.get_many(ids)
            return len(nodes) == len(ids) and all(
                n.reported.get("Bench", {}).get("seq") == count - 1
                and n.reported["Bench"].get("phase") == "ingest" for n in nodes)

        stalled = Stall(runtime)

        async def finished() -> None:
            async def done() -> bool:
                return await stalled.check() or await reflected()

            await poll(done, every=0.05, what="database reflects every last message")
            if stalled.gave_up:
                bus = runtime.bus
                handled = bus.handled if bus is not None else 0
                raise Incomplete(f"{runtime.describe()}; {handled} handled in "
                                 f"{stalled.active_seconds:.1f}s")

        try:
            phase = await timed(broker, devices, count, "ingest", finished)
        except Incomplete as exc:
            return Phase(consumer="ingest", note=f"INCOMPLETE (the database never reflected "
                         f"every last message): {exc}")
        phase.note = runtime.describe()
        return phase
    finally:
        await runtime.stop()
        await forget_session(broker, gateway_client_id(settings))


class Incomplete(Exception):
    """The gateway lost messages (counted drops), so the database cannot catch up."""


class Stall:
    """Gives up on the ingest phase when the gateway dropped messages and then went quiet."""

    def __init__(self, runtime: Any, quiet_seconds: float = 3.0) -> None:
        self._runtime, self._quiet = runtime, quiet_seconds
        self._started = time.monotonic()
        self._last: tuple[int, float] = (-1, self._started)
        self.gave_up = False

    @property
    def active_seconds(self) -> float:
        return self._last[1] - self._started

    async def check(self) -> bool:
        bus = self._runtime.bus
        received = bus.received if bus is not None else 0
        now = time.monotonic()
        if received != self._last[0]:
            self._last = (received, now)
        self.gave_up = bool(bus is not None and bus.dropped and now - self._last[1] > self._quiet)
        return self.gave_up


def gateway_client_id(settings: Any) -> str:
    from fleetgate.container import GATEWAY_USERNAME

    port = urlparse(settings.mqtt_url).port or 1883
    return f"{GATEWAY_USERNAME}-{port}"


async def forget_session(broker: Broker, client_id: str) -> None:
    """A persistent gateway session left by an earlier run would replay old traffic."""
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, identifier=client_id,
                                  clean_session=True, username=broker.username,
                                  password=broker.password):
            pass


# ------------------------------------------------------------------------------------- set-up


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def provision_devices(container: Any, k: int) -> list[Device]:
    from domain.access.model import Caller, Principal, PrincipalKind
    from domain.accounts.model import ADMIN

    org = await container.registration().create_organization(
        name=f"bench-{uuid.uuid4().hex[:8]}")
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org.id, user_id=None,
                                       roles=frozenset({ADMIN})))
    provisioning = container.provisioning()
    devices = []
    for i in range(k):
        issued = await provisioning.create_registration_token(admin, node_name=f"bench-{i}")
        node = await provisioning.provision_node(Caller(), token=issued.token)
        devices.append(Device(node.node_id, node.mqtt_password))
    return devices


@contextlib.asynccontextmanager
async def deployment(database_url: str, mqtt_url: str | None) -> AsyncIterator[
        tuple[Any, Any, Broker]]:
    """Settings, a migrated container, and the broker (embedded, started here, or external)."""
    from adapters.mqtt.embedded import EmbeddedBroker
    from fleetgate.bootstrap import migrate
    from fleetgate.container import GATEWAY_USERNAME, Container
    from fleetgate.settings import Settings

    settings = Settings(database_url=database_url, secret=secrets.token_urlsafe(48),
                        mqtt_url=mqtt_url, log_level="WARNING")
    embedded = None
    if mqtt_url is None:  # the embedded broker, addressed by URL so the runtime does not
        port = free_port()  # start a second one
        settings = replace(settings, mqtt_port=port, mqtt_url=f"mqtt://127.0.0.1:{port}")
    container = Container(settings=settings)
    await migrate(container)
    await container.authorizer().reload()
    if mqtt_url is None:
        embedded = EmbeddedBroker(port=settings.mqtt_port, access=container.device_access())
        await embedded.start()
        broker = Broker("embedded amqtt", "127.0.0.1", settings.mqtt_port, GATEWAY_USERNAME,
                        container.gateway_password())
    else:
        url = urlparse(mqtt_url)
        broker = Broker(f"external {url.hostname}:{url.port or 1883}", url.hostname or "127.0.0.1",
                        url.port or 1883, url.username, url.password)
    try:
        yield settings, container, broker
    finally:
        if embedded is not None:
            await embedded.stop()
        await container.engine().dispose()


# -------------------------------------------------------------------------------------- main


async def run(args: argparse.Namespace, database_url: str) -> list[Phase]:
    async with deployment(database_url, args.mqtt_url) as (settings, container, broker):
        devices = await provision_devices(container, args.devices)
        print(f"broker: {broker.name} ({broker.host}:{broker.port}); {args.devices} devices x "
              f"{args.count} params/local = {args.devices * args.count} messages per consumer",
              file=sys.stderr)
        phases = [await aiomqtt_counter(broker, devices, args.count)]
        phases.append(await mosquitto_sub(broker, devices, args.count))
        phases.append(await gateway_ingest(broker, devices, args.count, settings, container))
        return phases


def report(phases: list[Phase], total: int) -> tuple[str, dict[str, Any], bool]:
    by_name = {p.consumer: p for p in phases}
    ingest = by_name["ingest"].rate(total)
    same_lib = by_name["aiomqtt_count"].rate(total)
    c_client = by_name["mosquitto_sub"].rate(total)
    ratio_lib = ingest / same_lib if ingest and same_lib else None
    ratio_c = ingest / c_client if ingest and c_client else None
    lines = [f"{'consumer':<15} {'msgs/s':>9} {'publish s':>9}  note"]
    for p in phases:
        rate = p.rate(total)
        lines.append(f"{p.consumer:<15} {rate or 0:>9,.0f} {p.published_in or 0:>9.2f}  {p.note}")
    passed = ratio_lib is not None and ratio_lib >= TARGET
    lines.append(f"ingest / aiomqtt_count = {ratio_lib:.2f} (target >= {TARGET:.2f}: "
                 f"{'PASS' if passed else 'BELOW'})" if ratio_lib is not None
                 else "ingest / aiomqtt_count = -")
    lines.append(f"ingest / mosquitto_sub = {ratio_c:.2f}" if ratio_c is not None
                 else "ingest / mosquitto_sub = -")
    summary = {"messages": total,
               "rates": {p.consumer: (round(r, 1) if (r := p.rate(total)) else None)
                         for p in phases},
               "ratio_to_aiomqtt_count": None if ratio_lib is None else round(ratio_lib, 3),
               "ratio_to_mosquitto_sub": None if ratio_c is None else round(ratio_c, 3),
               "target": TARGET, "pass": passed}
    return "\n".join(lines), summary, passed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=20, help="simulated devices K (20)")
    parser.add_argument("--count", type=int, default=500, help="messages per device N (500)")
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL") or None,
                        help="external broker (default: MQTT_URL, else the embedded broker)")
    parser.add_argument("--database-url", default=None,
                        help="database to migrate and use (default: a fresh SQLite file)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when ingest is below the target ratio")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("amqtt", "mqtt", "fleetgate", "transitions"):  # drops are counted instead
        logging.getLogger(noisy).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-ingest-") as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'ingest.db'}"
        phases = asyncio.run(run(args, database_url))
    table, summary, passed = report(phases, args.devices * args.count)
    print(table)
    print(json.dumps(summary))
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    sys.exit(main())
