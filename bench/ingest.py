"""Device ingest benchmark: `python -m bench.ingest [--devices K] [--count N] [--mqtt-url URL]
[--private-mosquitto] [--generator auto|mosquitto_pub|processes] [--processes P] [--smoke]`.

What is measured
----------------
K devices, provisioned through the real use cases (registration token, then provisioning)
and connecting with their own broker credentials, each publish N `params/local` messages
(QoS 1) as fast as the broker takes them, from a load generator outside this process
(bench/generator.py): one Mosquitto C client (``mosquitto_pub``) per device when installed,
else P spawned Python publisher processes. Three consumers take turns on the same broker,
each with the same fresh traffic:

* ``mosquitto_sub``  the C client, counting lines (skipped when not installed);
* ``aiomqtt_count``  a subscriber written with the gateway's MQTT library (aiomqtt) that only
  counts messages: the most this process can receive with that library;
* ``ingest``         the real gateway (`DeviceRuntime`: bus, bounded queue, batched ingest,
  events), timed until the database reflects the last message of every device.

Each consumer's rate is total messages / (time from "go" to the consumer having everything).
The generator's own rate is total messages / (time from "go" to its last PUBACK), measured
in the first phase, against a counting subscriber and without ingest. The ingest rate is
given as a ratio to the generator's (ingest / generator) and to both baselines; the old
target stays: ingest >= 0.50 of ``aiomqtt_count``. ingest / generator is only meaningful
when the generator outran ingest (its rate at least OUTRUN x ingest's): otherwise the
generator, not ingest, set the pace, and the output says the ratio is not meaningful.

Brokers: the embedded amqtt broker (started here, in this process, exactly as `fleetgate
serve` starts it: device authentication and topic checks included) unless `--mqtt-url` or
MQTT_URL names an external one, or `--private-mosquitto` starts a Mosquitto of our own on a
free port (anonymous, unbounded queues; never the shared one). The database is a fresh
SQLite file unless `--database-url` or DATABASE_URL names another (it is migrated, and rows
are added).

Limits: no HTTP request is made and Fleetgate has no per-device message rate limit; the
settings turn request rate limiting off all the same (Settings(rate_limits=False)). A broker
may have its own (Mosquitto's max_queued_messages): a consumer that stops receiving is
reported INCOMPLETE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiomqtt

from bench.common import LIMITS_OFF, add_smoke_flag, print_summary, say_limits
from bench.generator import KINDS, Device, Generator, Target, resolve_kind
from bench.ingest_report import Phase, report
from bench.mosquitto import free_port, private_mosquitto

TOPIC_FILTER = "node/+/params/local"
PROBE_NODE = "fgbenchprobe"
PHASE_DEADLINE_S = 300.0
QUIET_S = 5.0


@dataclass(frozen=True)
class Broker:
    name: str
    host: str
    port: int
    username: str | None
    password: str | None
    authenticated: bool = True  # False: our private, anonymous Mosquitto
    # the embedded broker takes the gateway's credential only with a client id carrying the
    # installation's prefix (it holds a secret): every bench client with that credential does
    client_prefix: str = "fgbench"

    def client_id(self, role: str) -> str:
        return f"{self.client_prefix}-bench-{role}-{uuid.uuid4().hex[:12]}"

    def target(self) -> Target:
        return Target(host=self.host, port=self.port, authenticated=self.authenticated)


@dataclass(frozen=True)
class Options:
    generator: str  # a generator KIND
    processes: int


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
                finished: Callable[[], Awaitable[None]], progress: Callable[[], int],
                options: Options, quiet_s: float = QUIET_S) -> Phase:
    """One phase: the generator connects, goes, and the consumer is timed until finished().

    A consumer that stops receiving for quiet_s after the generator is done (the broker
    dropped messages: Mosquitto's default max_queued_messages is 1000) is stopped and
    reported INCOMPLETE, with the rate of what it did receive."""
    generator = Generator(options.generator, options.processes, broker.target(), devices,
                          count, phase)
    total = len(devices) * count
    try:
        await generator.connect()
        generator.go()
        started = time.perf_counter()
        publishing = asyncio.ensure_future(generator.finished())
        consuming = asyncio.ensure_future(finished())
        last = (progress(), time.perf_counter())
        while not consuming.done():
            await asyncio.wait([consuming], timeout=0.1)
            if publishing.done() and publishing.exception() is not None:
                consuming.cancel()
                await asyncio.gather(consuming, return_exceptions=True)
                await publishing  # raises what went wrong
            now, seen = time.perf_counter(), progress()
            if seen != last[0]:
                last = (seen, now)
            elif publishing.done() and now - last[1] > quiet_s and not consuming.done():
                consuming.cancel()
                await asyncio.gather(consuming, return_exceptions=True)
                return Phase(consumer=phase, seconds=last[1] - started,
                             published_in=await publishing, received=last[0],
                             note=f"INCOMPLETE: received {last[0]} of {total} (the broker "
                                  f"dropped messages?)")
            if now - started > PHASE_DEADLINE_S:
                raise TimeoutError(f"{phase}: not done within {PHASE_DEADLINE_S:.0f}s")
        await consuming  # raises what went wrong
        seconds = time.perf_counter() - started
        return Phase(consumer=phase, seconds=seconds, published_in=await publishing,
                     received=total)
    finally:
        await generator.stop()


async def aiomqtt_counter(broker: Broker, devices: list[Device], count: int,
                          options: Options) -> Phase:
    total = len(devices) * count
    received = 0
    async with aiomqtt.Client(broker.host, broker.port, identifier=broker.client_id("count"),
                              username=broker.username, password=broker.password) as client:
        await client.subscribe(TOPIC_FILTER, qos=1)

        async def finished() -> None:
            nonlocal received
            async for _message in client.messages:
                received += 1
                if received >= total:
                    return

        return await timed(broker, devices, count, "aiomqtt_count", finished, lambda: received,
                           options)


async def mosquitto_sub(broker: Broker, devices: list[Device], count: int,
                        options: Options) -> Phase:
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        return Phase(consumer="mosquitto_sub", note="not installed (apt-get install "
                     "mosquitto-clients)")
    total = len(devices) * count
    args = [binary, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-F", "%t",
            "-i", broker.client_id("c"), "-t", TOPIC_FILTER]
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

        return await timed(broker, devices, count, "mosquitto_sub", finished, lambda: lines,
                           options)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        await process.wait()


async def probe_until_subscribed(broker: Broker, stdout: asyncio.StreamReader) -> None:
    """mosquitto_sub says nothing when subscribed: publish probes until one comes out."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=broker.client_id("probe"),
                              username=broker.username, password=broker.password) as client:
        for _ in range(100):
            await client.publish(f"node/{PROBE_NODE}/params/local", b"{}", qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    if PROBE_NODE.encode() in await stdout.readline():
                        return
    raise TimeoutError("mosquitto_sub never received a probe")


async def gateway_ingest(broker: Broker, devices: list[Device], count: int,
                         settings: Any, container: Any, options: Options) -> Phase:
    from fleetgate.device_runtime import DeviceRuntime
    from ports.repositories.uow import SYSTEM_SCOPE

    await forget_session(broker, gateway_client_id(settings, broker))
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
                                 f"{stalled.active_seconds:.1f}s", handled=handled,
                                 seconds=stalled.active_seconds)

        try:
            def progress() -> int:  # what the bus took and handed on to ingest
                bus = runtime.bus
                return bus.received + bus.handled if bus is not None else 0

            # a longer quiet: ingest may still be writing a full inbox to the database
            phase = await timed(broker, devices, count, "ingest", finished, progress, options,
                                quiet_s=6 * QUIET_S)
        except Incomplete as exc:  # the rate is then that of what the gateway handled
            return Phase(consumer="ingest", seconds=exc.seconds or None, received=exc.handled,
                         note=f"INCOMPLETE (the gateway dropped messages, so the database "
                              f"never reflected every last one): {exc}")
        phase.note = runtime.describe()
        return phase
    finally:
        await runtime.stop()
        await forget_session(broker, gateway_client_id(settings, broker))


class Incomplete(Exception):
    """The gateway lost messages (counted drops), so the database cannot catch up."""

    def __init__(self, message: str, *, handled: int, seconds: float) -> None:
        super().__init__(message)
        self.handled, self.seconds = handled, seconds


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


def gateway_prefix(container: Any) -> str:
    """The gateway's client-id prefix (older versions: its user name)."""
    from fleetgate.container import GATEWAY_USERNAME

    prefix = getattr(container, "gateway_client_prefix", None)
    return str(prefix()) if prefix is not None else GATEWAY_USERNAME


def gateway_client_id(settings: Any, broker: Broker) -> str:
    """The client id DeviceRuntime gives the gateway's bus (its persistent session)."""
    port = urlparse(settings.mqtt_url).port or 1883
    return f"{broker.client_prefix}-{port}"


async def forget_session(broker: Broker, client_id: str) -> None:
    """A persistent gateway session left by an earlier run would replay old traffic."""
    with contextlib.suppress(aiomqtt.MqttError):
        async with aiomqtt.Client(broker.host, broker.port, identifier=client_id,
                                  clean_session=True, username=broker.username,
                                  password=broker.password):
            pass


# ------------------------------------------------------------------------------------- set-up


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
async def deployment(database_url: str, mqtt_url: str | None, private: bool = False
                     ) -> AsyncIterator[tuple[Any, Any, Broker]]:
    """Settings, a migrated container, and the broker (embedded, started here, or external:
    `private` when it is our own Mosquitto)."""
    from adapters.mqtt.embedded import EmbeddedBroker
    from fleetgate.bootstrap import migrate
    from fleetgate.container import GATEWAY_USERNAME, Container
    from fleetgate.settings import Settings

    settings = Settings(database_url=database_url, secret=secrets.token_urlsafe(48),
                        mqtt_url=mqtt_url, log_level="WARNING", rate_limits=False)
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
                        container.gateway_password(), client_prefix=gateway_prefix(container))
    else:
        url = urlparse(mqtt_url)
        name = "private Mosquitto (ours: anonymous, unbounded queues)" if private \
            else f"external {url.hostname}:{url.port or 1883}"
        broker = Broker(name, url.hostname or "127.0.0.1", url.port or 1883, url.username,
                        url.password, authenticated=not private,
                        client_prefix=gateway_prefix(container))
    try:
        yield settings, container, broker
    finally:
        if embedded is not None:
            await embedded.stop()
        await container.engine().dispose()


# -------------------------------------------------------------------------------------- main


async def measure(args: argparse.Namespace, database_url: str, mqtt_url: str | None
                  ) -> tuple[list[Phase], str]:
    options = Options(generator=args.generator, processes=args.processes)
    async with deployment(database_url, mqtt_url, args.private_mosquitto) as (
            settings, container, broker):
        devices = await provision_devices(container, args.devices)
        print(f"broker: {broker.name} ({broker.host}:{broker.port}); {args.devices} devices x "
              f"{args.count} params/local = {args.devices * args.count} messages per consumer;"
              f" generator: {describe_generator(options)}", file=sys.stderr)
        phases = [await mosquitto_sub(broker, devices, args.count, options)]
        phases.append(await aiomqtt_counter(broker, devices, args.count, options))
        phases.append(await gateway_ingest(broker, devices, args.count, settings, container,
                                           options))
        return phases, broker.name


def describe_generator(options: Options) -> str:
    if options.generator == "mosquitto_pub":
        return "one mosquitto_pub (C) per device"
    return f"{options.processes} aiomqtt publisher processes"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=None,
                        help="simulated devices K (20; smoke 4)")
    parser.add_argument("--count", type=int, default=None,
                        help="messages per device N (500; smoke 25)")
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL") or None,
                        help="external broker (default: MQTT_URL, else the embedded broker)")
    parser.add_argument("--private-mosquitto", action="store_true",
                        help="start a Mosquitto of our own on a free port and use it")
    parser.add_argument("--generator", choices=("auto", *KINDS), default="auto",
                        help="load generator: mosquitto_pub per device, or Python processes "
                             "(auto: mosquitto_pub when installed)")
    parser.add_argument("--processes", type=int, default=2,
                        help="publisher processes for --generator processes (2)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None,
                        help="database to migrate and use (default: DATABASE_URL, else a "
                             "fresh SQLite file)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when ingest is below the target ratio")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    args.devices = args.devices or (4 if args.smoke else 20)
    args.count = args.count or (25 if args.smoke else 500)
    args.generator = resolve_kind(args.generator)
    if args.private_mosquitto and args.mqtt_url:
        parser.error("--private-mosquitto and an external broker (--mqtt-url / MQTT_URL) "
                     "exclude each other")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Measures, prints the table, and returns the numbers."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("amqtt", "mqtt", "fleetgate", "transitions"):  # drops are counted instead
        logging.getLogger(noisy).setLevel(logging.ERROR)
    say_limits(LIMITS_OFF)
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-ingest-") as tmp:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'ingest.db'}"
        with contextlib.ExitStack() as stack:
            mqtt_url = stack.enter_context(private_mosquitto(Path(tmp))) \
                if args.private_mosquitto else args.mqtt_url
            phases, broker = asyncio.run(measure(args, database_url, mqtt_url))
    generator = describe_generator(Options(args.generator, args.processes))
    table, summary, passed = report(phases, args.devices * args.count, broker=broker,
                                    generator=generator, smoke=args.smoke)
    print(table)
    summary["strict_failed"] = not passed
    return summary


def main(argv: list[str] | None = None) -> int:
    summary = run(argv)
    print_summary(summary)
    return 1 if parse_args(argv).strict and summary["strict_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
