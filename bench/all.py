"""Every benchmark, one after the other, into one JSON summary: `python -m bench.all
[--smoke] [--only NAME ...] [--out PATH]`.

Each benchmark's ``run()`` prints its own tables (as `python -m bench.<name>` does) and
returns its numbers; this collects them under ``benchmarks.<name>`` in BENCH_OUT, --out or
bench/results.json (not committed: bench/.gitignore), with when, where and how long. A
benchmark that fails is recorded with its error (``failed`` lists them) and the others still
run; the exit status is 1 when any failed. ``ingest_mosquitto`` runs bench.ingest against a
private Mosquitto of its own and is skipped when mosquitto is not installed or MQTT_URL names
an external broker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import add_smoke_flag

DEFAULT_OUT = Path(__file__).with_name("results.json")


def _runner(module: str, *extra: str) -> Callable[[list[str]], dict[str, Any]]:
    def run(argv: list[str]) -> dict[str, Any]:
        import importlib

        found: dict[str, Any] = importlib.import_module(f"bench.{module}").run([*argv, *extra])
        return found

    return run


BENCHMARKS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "api": _runner("api"),
    "access": _runner("access"),
    "authz": _runner("authz"),
    "ota": _runner("ota"),
    "ingest": _runner("ingest"),
    "ingest_mosquitto": _runner("ingest", "--private-mosquitto"),
}


def skipped(name: str) -> str | None:
    """Why a benchmark cannot run here, or None."""
    if name == "ingest_mosquitto":
        if os.environ.get("MQTT_URL"):
            return "MQTT_URL names an external broker (bench ingest uses it)"
        if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
            return "mosquitto is not installed"
    return None


def out_path(given: str | None) -> Path:
    return Path(given or os.environ.get("BENCH_OUT") or DEFAULT_OUT)


def run_all(names: Sequence[str], smoke: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"), "smoke": smoke,
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "environment": {"DATABASE_URL": "set" if os.environ.get("DATABASE_URL") else None,
                        "MQTT_URL": "set" if os.environ.get("MQTT_URL") else None},
        "benchmarks": {}, "seconds": {}, "failed": [], "skipped": {}}
    argv = ["--smoke"] if smoke else []
    for name in names:
        reason = skipped(name)
        if reason is not None:
            results["skipped"][name] = reason
            print(f"=== {name}: skipped ({reason})", flush=True)
            continue
        print(f"=== {name}", flush=True)
        started = time.perf_counter()
        try:
            results["benchmarks"][name] = BENCHMARKS[name](argv)
        except Exception as exc:  # noqa: BLE001 - recorded, and the others still run
            traceback.print_exc()
            results["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            results["failed"].append(name)
        results["seconds"][name] = round(time.perf_counter() - started, 1)
        sys.stdout.flush()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=None,
                        help="run these benchmarks only")
    parser.add_argument("--out", default=None,
                        help=f"where to write the summary (BENCH_OUT, else {DEFAULT_OUT})")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    results = run_all(args.only or list(BENCHMARKS), args.smoke)
    path = out_path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"=== summary written to {path}; failed: {', '.join(results['failed']) or 'none'}")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
