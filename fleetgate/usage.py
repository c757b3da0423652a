"""API requests counted per organization and month for billing usage: counted in memory as
requests pass the rate limiter, added to billing_api_usage every few seconds (one batched
upsert) and when the app stops. A crash loses at most one interval's counts: usage is a
report, never a reason to refuse a request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime

from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Clock

log = logging.getLogger("fleetgate.usage")


class ApiRequestCounter:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, interval: float = 5.0) -> None:
        self._uow, self._clock, self.interval = uow, clock, interval
        self._pending: Counter[tuple[str, datetime]] = Counter()
        self._task: asyncio.Task[None] | None = None

    def count(self, org_id: str) -> None:
        now = self._clock.now()
        self._pending[(org_id, now.replace(day=1, hour=0, minute=0, second=0,
                                           microsecond=0))] += 1

    async def flush(self) -> None:
        pending, self._pending = dict(self._pending), Counter()
        if not pending:
            return
        try:
            async with self._uow(SYSTEM_SCOPE) as uow:
                await uow.billing.add_api_requests(pending)
                await uow.commit()
        except Exception:  # the database is away: keep the counts for the next try
            self._pending.update(pending)
            log.exception("could not record API request counts; retrying")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="api-usage-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
