"""API throughput benchmark: `python -m bench.api [--requests N] [--concurrency C] [--strict]`.

What is measured
----------------
Requests per second and p50/p99 latency of three endpoints of a real `fleetgate serve`
(uvicorn + uvloop + httptools, SQLite via aiosqlite) running in a subprocess:

* ``ceiling``    GET /__bench/ceiling -- a bare Starlette endpoint mounted only when
  FLEETGATE_BENCH=1 that returns a fixed, user-shaped JSON document. It goes through the same
  server, middleware stack and router, so it is the most this deployment can do per request.
* ``graphql_me`` POST /graphql ``{ me { id userName name } }`` with a Bearer token.
* ``rest_user2`` GET /v1/user2 with a raw token (the ESP RainMaker style).

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
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, Request, fetch, percentile_ms, run_load

HOST = "127.0.0.1"
FLEETGATE = Path(sys.executable).with_name("fleetgate")
EMAIL = "bench@example.com"
PASSWORD = "Bench-pass1"
TARGETS: dict[str, float] = {"graphql_me": 0.15, "rest_user2": 0.40}
STARTUP_DEADLINE_S = 60.0
REQUEST_TIMEOUT_S = 10.0


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


def create_user(env: dict[str, str], workdir: Path) -> None:
    subprocess.run([str(FLEETGATE), "user", "create", EMAIL, "--password", PASSWORD],
                   env=env, cwd=workdir, check=True, capture_output=True, timeout=120)


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
        create_user(env, workdir)
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
    }


async def check_once(port: int, name: str, request: Request) -> None:
    """Fail fast, with the body, if a scenario does not answer 200 at all."""
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        response = await fetch(HOST, port, request)
    if response.status != 200:
        raise RuntimeError(f"{name}: {response.status} {response.body[:300]!r}")


async def measure(port: int, request: Request, requests: int, concurrency: int,
                  warmup: int) -> LoadResult:
    if warmup:
        await run_load(HOST, port, request, total=warmup, concurrency=concurrency)
    return await run_load(HOST, port, request, total=requests, concurrency=concurrency)


def to_row(name: str, result: LoadResult, ceiling_rps: float | None) -> Row:
    rps = result.ok / result.elapsed_s if result.elapsed_s else 0.0
    ratio = rps / ceiling_rps if ceiling_rps else None
    return Row(scenario=name, rps=rps, p50_ms=percentile_ms(result.latencies_ns, 50),
               p99_ms=percentile_ms(result.latencies_ns, 99), errors=result.errors,
               ratio=ratio, target=TARGETS.get(name))


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
        result = await measure(server.port, request, requests, concurrency, warmup)
        report_errors(name, result)
        row = to_row(name, result, ceiling_rps)
        if name == "ceiling":
            ceiling_rps = row.rps
        rows.append(row)
        busy = result.client_cpu_s / result.elapsed_s if result.elapsed_s else 0.0
        print(f"  {name}: {row.rps:,.0f} req/s (load generator CPU {busy:.0%} of one core)",
              file=sys.stderr)
    return rows


# -------------------------------------------------------------------------------------- output


def format_table(rows: list[Row]) -> str:
    lines = [f"{'scenario':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
             f"{'ratio':>6}  target"]
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        target = f">={row.target:.2f} {row.verdict}" if row.target is not None else "-"
        lines.append(f"{row.scenario:<12} {row.rps:>8.0f} {row.p50_ms:>8.2f} "
                     f"{row.p99_ms:>8.2f} {row.errors:>7} {ratio:>6}  {target}")
    return "\n".join(lines)


def to_json(rows: list[Row], requests: int, concurrency: int) -> str:
    return json.dumps({
        "requests": requests, "concurrency": concurrency,
        "scenarios": {row.scenario: {"rps": round(row.rps, 1), "p50_ms": round(row.p50_ms, 3),
                                     "p99_ms": round(row.p99_ms, 3), "errors": row.errors,
                                     "ratio": None if row.ratio is None else round(row.ratio, 3),
                                     "target": row.target, "verdict": row.verdict or None}
                      for row in rows},
    })


def failed(rows: list[Row]) -> bool:
    return any(row.verdict == "BELOW" or row.errors for row in rows)


# ---------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="per scenario (5000)")
    parser.add_argument("--warmup", type=int, default=500, help="per scenario, unmeasured (500)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (32)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if a ratio is below its target or any request failed")
    return parser.parse_args(argv)


def run_event_loop(work: Coroutine[Any, Any, list[Row]]) -> list[Row]:
    """Run the client on uvloop when installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with running_server() as server:
        rows = run_event_loop(run_all(server, args.requests, args.concurrency, args.warmup))
    print(format_table(rows))
    print(to_json(rows, args.requests, args.concurrency))
    return 1 if args.strict and failed(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
