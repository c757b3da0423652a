"""What every benchmark shares: the smoke switch, the server's limits, the summary line.

Smoke mode (``--smoke`` or BENCH_SMOKE=1) runs a benchmark with tiny counts and asserts no
target, so a test can run each one in seconds and catch a benchmark that no longer runs. Its
numbers say nothing about performance.

Every benchmark measures a server configured for it: Fleetgate's request rate limits (600
requests per user per minute by default) would otherwise answer 429 long before a benchmark
ends. Each one states in its output and in its summary how it set them (``limits``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

SMOKE_ENV = "BENCH_SMOKE"

# the in-process benchmarks (Settings): no request rate limiting at all
LIMITS_OFF = "rate limits off (Settings(rate_limits=False))"


def smoke_default() -> bool:
    return os.environ.get(SMOKE_ENV, "") not in ("", "0")


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true", default=smoke_default(),
                        help=f"tiny counts, no targets: checks that the benchmark runs "
                             f"(also {SMOKE_ENV}=1); its numbers mean nothing")


def say_limits(limits: str) -> None:
    print(f"server limits: {limits}", file=sys.stderr)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def print_summary(summary: dict[str, Any]) -> None:
    """The benchmark's numbers as one JSON line, last on stdout (bench.all and CI read it)."""
    print(json.dumps(summary, sort_keys=True))


def read_summary(stdout: str) -> dict[str, Any]:
    """The summary a benchmark printed (the inverse of print_summary)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            found: dict[str, Any] = json.loads(line)
            return found
    raise ValueError("no benchmark summary in the output")
