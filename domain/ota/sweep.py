"""The OTA sweep's rules: what one periodic pass over the active jobs does (expiry, gated
jobs that just became due, paced rollouts' allowance), decided from the jobs, the time and
what the last pass saw. OtaDelivery.sweep applies the plan."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.ota.model import OtaJob


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPlan:
    """What one sweep does, decided from the active jobs, the time and the last sweep."""

    expire: tuple[str, ...]
    """Organizations holding a job past its timeout or validity (sorted)."""
    offer: tuple[OtaJob, ...]
    """Gated jobs that just became due: offered to their waiting, connected targets."""
    dispatch: tuple[tuple[OtaJob, int | None], ...]
    """Paced force-pushed jobs and their allowance now (None: no per-minute limit)."""
    due: dict[str, bool]
    """Whether each job not expired is due now: what the next sweep compares with."""


def paced_budget(job: OtaJob, sweep_seconds: float) -> int | None:
    """A paced rollout's allowance for one sweep period: max_per_minute prorated, at least
    one node; None (no limit) without max_per_minute."""
    pace = job.rollout.max_per_minute
    return None if pace is None else max(1, round(pace * sweep_seconds / 60))


def plan_sweep(jobs: Sequence[OtaJob], now: datetime, due_before: Mapping[str, bool], *,
               sweep_seconds: float) -> SweepPlan:
    """The decisions of one sweep over the active jobs.

    - a job past its timeout or validity is expired (its organization's expiry runs once);
    - a gated job (a download window, or a validity start) that is due is offered to its
      waiting, connected targets when it was not due at the last sweep, or when no sweep
      saw it yet (a restart: offered once); not again while it stays due;
    - a force-pushed job without user approval, not expired, with a rollout pace, gets its
      next allowance (paced_budget; max_in_flight is enforced by the dispatch itself).
    """
    live = [job for job in jobs if not job.expired(now)]
    due = {job.id: job.due(now) for job in live}
    return SweepPlan(
        expire=tuple(sorted({job.org_id for job in jobs if job.expired(now)})),
        offer=tuple(job for job in live if due[job.id] and (
            job.window is not None or job.valid_from is not None)
            and due_before.get(job.id) is not True),
        dispatch=tuple((job, paced_budget(job, sweep_seconds)) for job in live
                       if job.force_push and not job.user_approval and (
                           job.rollout.max_per_minute is not None
                           or job.rollout.max_in_flight is not None)),
        due=due)
