"""Every benchmark still runs: each once in smoke mode (tiny counts, no targets), through
`python -m bench.all --smoke --only NAME`, which writes its numbers to a JSON summary.

On a PostgreSQL or external-broker pass (DATABASE_URL / MQTT_URL set) the benchmarks that
take them use them, as `make bench-all` would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.ingest_report import Verdict

ROOT = Path(__file__).resolve().parents[1]


def run_smoke(name: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "results.json"
    env = {**os.environ, "BENCH_OUT": str(out)}
    env.pop("BENCH_SMOKE", None)
    done = subprocess.run([sys.executable, "-m", "bench.all", "--smoke", "--only", name],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    results: dict[str, Any] = json.loads(out.read_text())
    assert results["smoke"] is True and results["failed"] == []
    if name in results["skipped"]:
        pytest.skip(f"{name}: {results['skipped'][name]}")
    summary: dict[str, Any] = results["benchmarks"][name]
    assert summary["smoke"] is True
    assert "rate limit" in summary["limits"], summary["limits"]  # it says how it set them
    return summary


def positive(value: object) -> bool:
    return isinstance(value, int | float) and value > 0


def check_api(summary: dict[str, Any]) -> None:
    scenarios = summary["scenarios"]
    assert set(scenarios) >= {"ceiling", "graphql_me", "rest_user2", "rest_user_nodes"}
    for name, numbers in scenarios.items():
        assert numbers["errors"] == 0 and positive(numbers["rps"]), (name, numbers)
    assert positive(summary["user_nodes_vs_user2"]["rest_user_nodes"]["time_per_request"])


def check_access(summary: dict[str, Any]) -> None:
    for view in ("via groups", "direct"):
        for metric in ("for_user", "get", "list_nodes"):
            assert positive(summary["groups"]["operations"][view][metric]["ratio"])
    pages = summary["pages"]["pages"]
    assert set(pages) >= {"admin first", "admin middle", "admin tag half", "user first",
                          "user tag half"}
    small, large = (str(size) for size in summary["pages"]["sizes"])
    for name, numbers in pages.items():
        assert set(numbers["errors"].values()) == {None}, (name, numbers)
        assert positive(numbers["ratio"]) and numbers["listed"][large] > 0, (name, numbers)
        assert numbers["listed"][small] > 0, (name, numbers)


def check_authz(summary: dict[str, Any]) -> None:
    for by_decision in summary["decisions_us"].values():
        for kinds in by_decision.values():
            assert all(positive(kinds[k]) for k in ("uncached", "cached", "cold", "pycasbin"))
    assert positive(summary["denied_growth"]["authorizer_uncached"])
    assert all(positive(s["real_ms"]) and s["decisions"] >= 1
               for s in summary["graphql_share"].values())


def check_ota(summary: dict[str, Any]) -> None:
    assert summary["complete"] is True
    assert positive(summary["planning_ms"]) and positive(summary["dispatch_msgs_per_s"])
    assert positive(summary["bare_msgs_per_s"]) and positive(summary["dispatch_vs_bare"])


def check_ingest(summary: dict[str, Any]) -> None:
    assert summary["complete"] is True, summary
    assert positive(summary["ingest_rate"]) and positive(summary["generator_rate"])
    assert positive(summary["ratio_ingest_to_generator"])
    assert isinstance(summary["generator_outran_ingest"], bool)
    assert positive(summary["rates"]["aiomqtt_count"])


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "api": check_api, "access": check_access, "authz": check_authz, "ota": check_ota,
    "ingest": check_ingest, "ingest_mosquitto": check_ingest,
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CHECKS))
def test_benchmark_runs_in_smoke_mode_and_reports_its_numbers(name: str,
                                                               tmp_path: Path) -> None:
    CHECKS[name](run_smoke(name, tmp_path))


def test_ingest_ratio_is_not_meaningful_unless_the_generator_outran_ingest() -> None:
    slow = Verdict(generator_rate=1_200.0, measured_against="mosquitto_sub",
                   ingest_rate=1_000.0)
    fast = Verdict(generator_rate=30_000.0, measured_against="mosquitto_sub",
                   ingest_rate=3_000.0)

    assert not slow.meaningful and "NOT MEANINGFUL" in slow.line()
    assert fast.meaningful and "outran ingest (10.0x" in fast.line()
    assert "ingest / generator = 0.10" in fast.line()


PER_USER_LIMIT = 600  # Settings' default requests per user per minute


async def sign_in(client: Any, user_name: str, password: str) -> dict[str, str]:
    login = await client.post("/v1/login2", json={"user_name": user_name, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": login.json()["accesstoken"]}


async def statuses_of_many_requests(client: Any, headers: dict[str, str]) -> dict[int, int]:
    seen: dict[int, int] = {}
    for _ in range(PER_USER_LIMIT + 50):
        status = (await client.get("/v1/user2", headers=headers)).status_code
        seen[status] = seen.get(status, 0) + 1
    return seen


@pytest.mark.timeout(120)
async def test_authz_benchmark_app_is_not_stopped_by_the_request_rate_limit(
        tmp_path: Path) -> None:
    from bench import authz

    async with authz.running_apps(f"sqlite+aiosqlite:///{tmp_path / 'authz.db'}") as apps:
        headers = await sign_in(apps.real, "user@bench.example.com", authz.PASSWORD)

        assert await statuses_of_many_requests(apps.real, headers) == {200: PER_USER_LIMIT + 50}


@pytest.mark.timeout(120)
async def test_node_pages_benchmark_app_is_not_stopped_by_the_request_rate_limit(
        tmp_path: Path) -> None:
    from bench import node_pages

    async with node_pages.running_app(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}") as (
            container, client):
        await container.registration().provision_user(
            user_name="pages@bench.example.com", password=node_pages.PASSWORD)
        headers = await sign_in(client, "pages@bench.example.com", node_pages.PASSWORD)

        assert await statuses_of_many_requests(client, headers) == {200: PER_USER_LIMIT + 50}
