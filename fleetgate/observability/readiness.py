"""GET /readyz: may this replica take traffic? Four checks, run concurrently, each within
CHECK_SECONDS (so the probe answers in about that long even when the database hangs):

- database: a query answers; on PostgreSQL, row-level security applies to the app's role;
- migrations: the schema is at the head of the migrations this code ships;
- broker: the gateway's MQTT client is connected and still receives its own heartbeat;
- workers: the device runtime's background tasks are alive.

200 with status "ready" when every check passes, else 503 with status "unready"; the body
names each check with `ok` and a `detail`. (/healthz is the liveness probe: the process
answers at all.)"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.sql.health import HealthCheck, check_database, check_migrations, migration_heads
from fleetgate.observability.deadline import within

log = logging.getLogger("fleetgate.observability")

CHECK_SECONDS = 1.5
HEARTBEAT_MISSES = 3  # heartbeats a broker connection may miss before it counts as broken


class Readiness:
    def __init__(self, *, engine: Callable[[], AsyncEngine], runtime: Callable[[], Any],
                 check_seconds: float = CHECK_SECONDS) -> None:
        self._engine, self._runtime, self.check_seconds = engine, runtime, check_seconds
        self._heads: frozenset[str] | None = None

    async def _heads_of_code(self) -> frozenset[str]:
        if self._heads is None:  # reading the migration scripts takes a moment: once
            self._heads = await asyncio.to_thread(migration_heads)
        return self._heads

    async def _database(self) -> HealthCheck:
        return await check_database(self._engine(), timeout_ms=int(self.check_seconds * 1000))

    async def _migrations(self) -> HealthCheck:
        return await check_migrations(self._engine(), await self._heads_of_code(),
                                      timeout_ms=int(self.check_seconds * 1000))

    async def _broker(self) -> HealthCheck:
        runtime = self._runtime()
        bus = getattr(runtime, "bus", None)
        if runtime is None or bus is None:
            return HealthCheck(ok=True, detail="no device runtime in this process")
        where = f"{getattr(bus, 'host', '?')}:{getattr(bus, 'port', '?')}"
        if not bus.connected:
            return HealthCheck(ok=False, detail=f"not connected to the MQTT broker at {where}")
        heartbeat_age = getattr(bus, "heartbeat_age", None)
        interval = getattr(bus, "heartbeat_interval", None)
        if not callable(heartbeat_age) or not isinstance(interval, int | float):
            return HealthCheck(ok=True, detail=f"connected to {where}")
        age = heartbeat_age()
        facts: dict[str, object] = {"heartbeat_age_seconds": age,
                                    "heartbeat_interval_seconds": interval}
        if age is None:
            return HealthCheck(ok=False, facts=facts, detail=(
                f"connected to {where}, but its own heartbeat has not come back yet"))
        if age >= HEARTBEAT_MISSES * interval:
            return HealthCheck(ok=False, facts=facts, detail=(
                f"connected to {where}, but its last heartbeat came back {age:.1f}s ago "
                f"(every {interval:g}s expected): its subscriptions are not delivering"))
        return HealthCheck(ok=True, facts=facts, detail=f"connected to {where}, heartbeat "
                                                          f"received {age:.1f}s ago")

    async def _workers(self) -> HealthCheck:
        runtime = self._runtime()
        workers = getattr(runtime, "workers", None)
        if runtime is None or not callable(workers):
            return HealthCheck(ok=True, detail="no device runtime in this process")
        alive: dict[str, bool] = workers()
        stopped = sorted(name for name, up in alive.items() if not up)
        facts: dict[str, object] = {"workers": alive}
        if stopped:
            return HealthCheck(ok=False, facts=facts,
                               detail=f"stopped: {', '.join(stopped)}")
        return HealthCheck(ok=True, facts=facts, detail="all running")

    async def _timed(self, name: str, check: Callable[[], Coroutine[Any, Any, HealthCheck]]
                     ) -> dict[str, object]:
        started = time.perf_counter()
        try:
            result = await within(check(), self.check_seconds)
        except TimeoutError:
            result = HealthCheck(ok=False, detail=f"no answer within {self.check_seconds:g}s")
        except Exception as exc:  # a check must report, never turn the probe into a 500
            log.warning("readiness check %s failed", name, exc_info=True)
            result = HealthCheck(ok=False, detail=f"check failed ({type(exc).__name__})")
        if not result.ok:
            log.warning("not ready: %s: %s", name, result.detail)
        return {"ok": result.ok, "detail": result.detail, **result.facts,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)}

    async def report(self) -> tuple[bool, dict[str, object]]:
        checks = {"database": self._database, "migrations": self._migrations,
                  "broker": self._broker, "workers": self._workers}
        results = await asyncio.gather(*(self._timed(n, c) for n, c in checks.items()))
        named = dict(zip(checks, results, strict=True))
        ready = all(r["ok"] for r in results)
        return ready, {"status": "ready" if ready else "unready", "checks": named}

    async def endpoint(self, _request: Request) -> Response:
        ready, body = await self.report()
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers={"Cache-Control": "no-store"})
