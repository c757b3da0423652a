"""API throughput benchmark: `python -m bench.api [--requests N] [--concurrency C] [--strict]
[--smoke]`.

What is measured
----------------
Requests per second and p50/p99 latency of three endpoints of a real `fleetgate serve`
(uvicorn + uvloop + httptools, SQLite via aiosqlite) running in a subprocess:

* ``ceiling``    GET /__bench/ceiling -- a bare Starlette endpoint mounted only when
  FLEETGATE_BENCH=1 that returns a fixed, user-shaped JSON document. It goes through the same
  server, middleware stack and router, so it is the most this deployment can do per request.
* ``graphql_me`` POST /graphql ``{ me { id userName name } }`` with a Bearer token.
* ``rest_user2`` GET /v1/user2 with a raw token (the ESP RainMaker style).
* ``rest_user_nodes`` GET /v1/user/nodes for the same user, who holds three nodes (primary;
  rows written into the database before the server starts); ``rest_user_nodes_details`` the
  same with ``node_details=true`` (config, params and status of each node).

Besides requests/s, the server process's CPU time (user + system, from /proc) per request is
reported, and /v1/user/nodes is compared with /v1/user2 both ways: requests/s and server CPU
per request (``user_nodes_vs_user2``).

Limits: request rate limiting stays on (its cost is part of every request) with per-IP,
per-user, per-login and plan limits the load cannot reach; FLEETGATE_RATE_LIMITS=0 in the
environment measures without it. The output says which.

Why a ratio
-----------
Absolute numbers depend on the machine, so each API scenario is also reported as a fraction
of the ceiling's requests/s measured in the same run. That fraction is the share of the
per-request budget left after authentication, authorization, data access and serialization,
and it is compared with a target (graphql_me >= 0.15, rest_user2 >= 0.40).

The load comes from a raw-socket keep-alive client (bench/loadgen.py) in this process, on
uvloop when available, so the client costs far less per request than the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import add_smoke_flag, print_summary, rounded, say_limits
from bench.loadgen import LoadResult, Request, fetch, percentile_ms, run_load

HOST = "127.0.0.1"
FLEETGATE = Path(sys.executable).with_name("fleetgate")
EMAIL = "bench@example.com"
PASSWORD = "Bench-pass1"
TARGETS: dict[str, float] = {"graphql_me": 0.15, "rest_user2": 0.40}
STARTUP_DEADLINE_S = 60.0
REQUEST_TIMEOUT_S = 10.0
USER_NODES = 3
LIMITS_RAISED = ("rate limiting on, limits raised out of reach (per IP and per user 1e9 "
                 "requests/min, logins 1e5/min, plan 1e9 requests/min, no quotas)")
LIMITS_OFF = "rate limiting off (FLEETGATE_RATE_LIMITS=0)"


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass(frozen=True)
class Row:
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    ratio: float | None
    target: float | None
    cpu_ms: float | None = None  # server CPU time per request

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "PASS" if self.ratio >= self.target else "BELOW"


# ----------------------------------------------------------------------------- server lifecycle


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(workdir: Path) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        **os.environ,
        "FLEETGATE_BENCH": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "FLEETGATE_SECRET": "".join(secrets.choice(alphabet) for _ in range(64)),
        "FLEETGATE_MQTT_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "FLEETGATE_LOGIN_LIMIT_PER_IP": "100000",
        # rate limiting stays on (its cost is part of every request), with limits the load
        # cannot reach: FLEETGATE_RATE_LIMITS=0 in the environment measures without it
        "FLEETGATE_RATE_LIMIT_PER_IP": "1000000000",
        "FLEETGATE_RATE_LIMIT_PER_USER": "1000000000",
        "FLEETGATE_PLANS_FILE": str(unlimited_plans(workdir)),
    }


def unlimited_plans(workdir: Path) -> Path:
    path = workdir / "plans.yaml"
    path.write_text("plans:\n  - {id: free, name: Free, price_cents: 0, currency: usd, "
                    "interval: month, requests_per_minute: 1000000000, quotas: {max_nodes: "
                    "null, max_ota_storage_bytes: null, max_api_requests_per_month: null, "
                    "max_users: null}}\n")
    return path


def create_user(env: dict[str, str], workdir: Path) -> str:
    done = subprocess.run([str(FLEETGATE), "user", "create", EMAIL, "--password", PASSWORD],
                          env=env, cwd=workdir, check=True, capture_output=True, timeout=120)
    return done.stdout.decode().strip().splitlines()[-1]


async def give_nodes(env: dict[str, str], user_id: str) -> None:
    """USER_NODES nodes held (primary) by the user, written into the server's database."""
    from adapters.sql.tables.devices import nodes
    from adapters.sql.tables.sharing import node_memberships
    from bench.rows import insert_rows, membership_row, node_row
    from domain.devices.model import PRIMARY
    from fleetgate.container import Container
    from fleetgate.settings import Settings
    from ports.repositories.uow import SYSTEM_SCOPE

    container = Container(settings=Settings(database_url=env["DATABASE_URL"],
                                            secret=env["FLEETGATE_SECRET"],
                                            log_level="WARNING"))
    try:
        async with container.uow()(SYSTEM_SCOPE) as uow:
            user = await uow.users.get(user_id)
            assert user is not None, user_id
            now = datetime.now(UTC)
            ids = [f"fgbenchapi{i:04d}" for i in range(USER_NODES)]
            conn = await uow.connection()
            await insert_rows(conn, nodes, [node_row(node_id, user.org_id, i, now)
                                            for i, node_id in enumerate(ids)])
            await insert_rows(conn, node_memberships, [
                membership_row(node_id, user_id, user.org_id, PRIMARY, now) for node_id in ids])
            await uow.commit()
    finally:
        await container.engine().dispose()


def start_server(env: dict[str, str], workdir: Path) -> Server:
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(FLEETGATE), "serve", "--port", str(port)], env=env,
                                   cwd=workdir, stdout=sink, stderr=subprocess.STDOUT)
    return Server(process=process, port=port, log=log)


def stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.terminate()  # SIGTERM: uvicorn shuts down gracefully (lifespan shutdown)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-") as tmp:
        workdir = Path(tmp)
        env = server_env(workdir)
        asyncio.run(give_nodes(env, create_user(env, workdir)))
        server = start_server(env, workdir)
        try:
            yield server
        except BaseException:
            tail = server.log.read_text(errors="replace")[-2000:]
            print(f"--- server log (tail) ---\n{tail}", file=sys.stderr)
            raise
        finally:
            stop_server(server)


async def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with code {server.process.returncode}")
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            async with asyncio.timeout(2.0):
                response = await fetch(HOST, server.port, Request("GET", "/healthz"))
            if response.status == 200:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"/healthz did not answer 200 within {STARTUP_DEADLINE_S:.0f}s")


async def login(server: Server) -> str:
    body = json.dumps({"user_name": EMAIL, "password": PASSWORD}).encode()
    request = Request("POST", "/v1/login2", (("Content-Type", "application/json"),), body)
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        response = await fetch(HOST, server.port, request)
    if response.status != 200:
        raise RuntimeError(f"login2 failed: {response.status} {response.body[:300]!r}")
    return str(json.loads(response.body)["accesstoken"])


# ------------------------------------------------------------------------------------ scenarios


def scenarios(token: str) -> dict[str, Request]:
    query = json.dumps({"query": "{ me { id userName name } }"}).encode()
    return {
        "ceiling": Request("GET", "/__bench/ceiling"),
        "graphql_me": Request("POST", "/graphql",
                              (("Authorization", f"Bearer {token}"),
                               ("Content-Type", "application/json")), query),
        "rest_user2": Request("GET", "/v1/user2", (("Authorization", token),)),
        "rest_user_nodes": Request("GET", "/v1/user/nodes", (("Authorization", token),)),
        "rest_user_nodes_details": Request("GET", "/v1/user/nodes?node_details=true",
                                           (("Authorization", token),)),
    }


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def check_once(port: int, name: str, request: Request) -> None:
    """Fail fast, with the body, if a scenario does not answer 200 at all (or, for the node
    list, does not list the user's nodes)."""
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        response = await fetch(HOST, port, request)
    if response.status != 200:
        raise RuntimeError(f"{name}: {response.status} {response.body[:300]!r}")
    if name.startswith("rest_user_nodes"):
        listed = json.loads(response.body)
        if len(listed.get("nodes") or listed.get("node_details") or []) != USER_NODES:
            raise RuntimeError(f"{name}: not {USER_NODES} nodes: {response.body[:300]!r}")


def to_row(name: str, result: LoadResult, ceiling_rps: float | None,
           server_cpu_s: float | None) -> Row:
    rps = result.ok / result.elapsed_s if result.elapsed_s else 0.0
    ratio = rps / ceiling_rps if ceiling_rps else None
    requests = result.ok + result.errors
    cpu_ms = server_cpu_s * 1000 / requests if server_cpu_s is not None and requests else None
    return Row(scenario=name, rps=rps, p50_ms=percentile_ms(result.latencies_ns, 50),
               p99_ms=percentile_ms(result.latencies_ns, 99), errors=result.errors,
               ratio=ratio, target=TARGETS.get(name), cpu_ms=cpu_ms)


def report_errors(name: str, result: LoadResult) -> None:
    if result.errors:
        statuses = dict(sorted(result.statuses.items()))
        print(f"  {name}: {result.errors} non-200 responses {statuses}", file=sys.stderr)
        for sample in result.error_samples:
            print(f"    {sample}", file=sys.stderr)


async def run_all(server: Server, requests: int, concurrency: int, warmup: int) -> list[Row]:
    await wait_healthy(server)
    token = await login(server)
    rows: list[Row] = []
    ceiling_rps: float | None = None
    for name, request in scenarios(token).items():
        await check_once(server.port, name, request)
        if warmup:
            await run_load(HOST, server.port, request, total=warmup, concurrency=concurrency)
        cpu_before = process_cpu_s(server.process.pid)
        result = await run_load(HOST, server.port, request, total=requests,
                                concurrency=concurrency)
        cpu_after = process_cpu_s(server.process.pid)
        report_errors(name, result)
        server_cpu = cpu_after - cpu_before if cpu_after is not None and cpu_before is not None \
            else None
        row = to_row(name, result, ceiling_rps, server_cpu)
        if name == "ceiling":
            ceiling_rps = row.rps
        rows.append(row)
        busy = result.client_cpu_s / result.elapsed_s if result.elapsed_s else 0.0
        print(f"  {name}: {row.rps:,.0f} req/s (load generator CPU {busy:.0%} of one core)",
              file=sys.stderr)
    return rows


# -------------------------------------------------------------------------------------- output


def format_table(rows: list[Row]) -> str:
    lines = [f"{'scenario':<24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms':>7} "
             f"{'errors':>7} {'ratio':>6}  target"]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        target = f">={row.target:.2f} {row.verdict}" if row.target is not None else "-"
        cpu = f"{row.cpu_ms:.3f}" if row.cpu_ms is not None else "-"
        lines.append(f"{row.scenario:<24} {row.rps:>8.0f} {row.p50_ms:>8.2f} "
                     f"{row.p99_ms:>8.2f} {cpu:>7} {row.errors:>7} {ratio:>6}  {target}")
    lines.append("cpu ms = the server process's CPU time per request; ratio = req/s / "
                 "ceiling req/s")
    return "\n".join(lines)


def user_nodes_vs_user2(rows: list[Row]) -> dict[str, dict[str, float | None]]:
    """How much more GET /v1/user/nodes costs than GET /v1/user2 (> 1: costlier)."""
    by_name = {row.scenario: row for row in rows}
    bare = by_name.get("rest_user2")
    out: dict[str, dict[str, float | None]] = {}
    for name in ("rest_user_nodes", "rest_user_nodes_details"):
        row = by_name.get(name)
        if row is None or bare is None:
            continue
        cpu = row.cpu_ms / bare.cpu_ms if row.cpu_ms and bare.cpu_ms else None
        out[name] = {"cpu_per_request": rounded(cpu, 2),
                     "time_per_request": rounded(bare.rps / row.rps if row.rps else None, 2)}
    return out


def format_comparison(comparison: dict[str, dict[str, float | None]]) -> str:
    lines = [f"GET /v1/user/nodes ({USER_NODES} nodes) / GET /v1/user2:"]
    for name, ratios in comparison.items():
        cpu, elapsed = ratios["cpu_per_request"], ratios["time_per_request"]
        lines.append(f"  {name:<24} server CPU per request {cpu if cpu is not None else '-'}x, "
                     f"time per request (1/req/s) {elapsed if elapsed is not None else '-'}x")
    return "\n".join(lines)


def summary(rows: list[Row], requests: int, concurrency: int, limits: str,
            smoke: bool) -> dict[str, Any]:
    return {
        "requests": requests, "concurrency": concurrency, "limits": limits, "smoke": smoke,
        "scenarios": {row.scenario: {"rps": round(row.rps, 1), "p50_ms": round(row.p50_ms, 3),
                                     "p99_ms": round(row.p99_ms, 3), "errors": row.errors,
                                     "server_cpu_ms": rounded(row.cpu_ms, 4),
                                     "ratio": rounded(row.ratio),
                                     "target": None if smoke else row.target,
                                     "verdict": None if smoke else row.verdict or None}
                      for row in rows},
        "user_nodes_vs_user2": user_nodes_vs_user2(rows),
    }


def failed(rows: list[Row]) -> bool:
    return any(row.verdict == "BELOW" or row.errors for row in rows)


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=None, help="per scenario (5000)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="per scenario, unmeasured (500)")
    parser.add_argument("--concurrency", type=int, default=None, help="connections (32)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if a ratio is below its target or any request failed")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    small = args.smoke
    args.requests = args.requests or (100 if small else 5000)
    args.warmup = args.warmup if args.warmup is not None else (10 if small else 500)
    args.concurrency = args.concurrency or (4 if small else 32)
    return args


def run_event_loop(work: Coroutine[Any, Any, list[Row]]) -> list[Row]:
    """Run the client on uvloop when installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Measures, prints the table, and returns the numbers."""
    args = parse_args(argv)
    limits = LIMITS_OFF if os.environ.get("FLEETGATE_RATE_LIMITS") == "0" else LIMITS_RAISED
    say_limits(limits)
    with running_server() as server:
        rows = run_event_loop(run_all(server, args.requests, args.concurrency, args.warmup))
    result = summary(rows, args.requests, args.concurrency, limits, args.smoke)
    print(f"server limits: {limits}" + ("; SMOKE run: tiny counts, no targets" if args.smoke
                                        else ""))
    print(format_table(rows))
    print(format_comparison(result["user_nodes_vs_user2"]))
    result["failed"] = failed(rows)
    return result


def main(argv: list[str] | None = None) -> int:
    result = run(argv)
    print_summary(result)
    strict = parse_args(argv).strict
    return 1 if strict and result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
