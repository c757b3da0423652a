"""OTA rules on their own: statuses only move forward, one job at a time per node by
priority, download windows, expiry, abort thresholds, archiving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import Conflict, ValidationFailed
from domain.ota.model import (
    AbortRule,
    DownloadWindow,
    ImageKind,
    JobStatus,
    JobSummary,
    NodeJobStatus,
    NodeStatus,
    OtaImage,
    OtaJob,
    can_move,
    check_priority,
    check_timeout,
    next_job,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
S = NodeStatus


def job(job_id: str, priority: int = 5, minutes_ago: int = 0, **kw: object) -> OtaJob:
    return OtaJob(id=job_id, org_id="o", name=job_id, image_id="img", priority=priority,
                  created_at=T0 - timedelta(minutes=minutes_ago), **kw)  # type: ignore[arg-type]


def status(job_id: str, state: NodeStatus = S.TRIGGERED) -> NodeJobStatus:
    return NodeJobStatus(job_id=job_id, node_id="n1", org_id="o", status=state, updated_at=T0)


@pytest.mark.parametrize(("current", "wanted", "ok"), [
    (S.TRIGGERED, S.STARTED, True),
    (S.TRIGGERED, S.SUCCESS, False),  # never offered: a report is not believed
    (S.STARTED, S.IN_PROGRESS, True),
    (S.STARTED, S.SUCCESS, True),
    (S.STARTED, S.DELAYED, True),
    (S.DELAYED, S.STARTED, True),  # offered again later
    (S.IN_PROGRESS, S.IN_PROGRESS, True),  # progress information
    (S.IN_PROGRESS, S.STARTED, False),
    (S.IN_PROGRESS, S.DELAYED, False),
    (S.SUCCESS, S.SUCCESS, False),  # a second success changes nothing
    (S.SUCCESS, S.FAILED, False),
    (S.FAILED, S.IN_PROGRESS, False),
    (S.IN_PROGRESS, S.TIMED_OUT, True),
    (S.TRIGGERED, S.CANCELLED, True),
])
def test_statuses_only_move_forward(current: NodeStatus, wanted: NodeStatus, ok: bool) -> None:
    assert can_move(current, wanted) is ok
    st = status("j", current)
    assert st.move(wanted, T0 + timedelta(seconds=1), "info") is ok
    assert st.status == (wanted if ok else current)


def test_starting_counts_attempts() -> None:
    st = status("j")
    st.move(S.STARTED, T0)
    st.move(S.DELAYED, T0)
    st.move(S.STARTED, T0 + timedelta(minutes=5))
    assert (st.attempts, st.triggered_at) == (2, T0 + timedelta(minutes=5))


def test_a_node_gets_one_job_at_a_time_highest_priority_then_oldest() -> None:
    low, high, older_high = job("low", 9), job("high", 2), job("older", 2, minutes_ago=5)
    chosen = next_job([(low, status("low")), (high, status("high")),
                       (older_high, status("older"))], T0)
    assert chosen is not None and chosen[0].id == "older"
    # while one is in flight, that one is offered again, not another
    chosen = next_job([(low, status("low", S.IN_PROGRESS)), (high, status("high"))], T0)
    assert chosen is not None and chosen[0].id == "low"
    # finished ones are skipped; nothing left: None
    assert next_job([(high, status("high", S.SUCCESS))], T0) is None


def test_jobs_outside_their_window_validity_or_timeout_are_not_due() -> None:
    night = DownloadWindow.parse({"start": "22:00", "end": "06:00"})
    assert night is not None and night.open_at(T0.replace(hour=23)) \
        and night.open_at(T0.replace(hour=5)) and not night.open_at(T0)
    assert not job("w", window=night).due(T0)
    assert job("w", window=night).due(T0.replace(hour=1))
    later = job("v", valid_from=T0 + timedelta(hours=1))
    assert not later.due(T0) and later.due(T0 + timedelta(hours=2))
    timed = job("t", timeout_seconds=600, minutes_ago=5)
    assert timed.due(T0) and not timed.expired(T0)
    assert timed.expired(T0 + timedelta(minutes=6)) and not timed.due(T0 + timedelta(minutes=6))
    assert job("c", status=JobStatus.CANCELLED).due(T0) is False


@pytest.mark.parametrize("raw", [{"start": "25:00", "end": "06:00"}, {"start": "06:00"},
                                 {"start": "06:00", "end": "06:00"}, "22-06"])
def test_bad_windows_are_refused(raw: object) -> None:
    with pytest.raises(ValidationFailed):
        DownloadWindow.parse(raw)


def test_abort_rule_trips_once_enough_nodes_ran() -> None:
    rule = AbortRule(failure_percent=20, min_executed=10)
    assert not rule.trips(failed=5, executed=9)
    assert rule.trips(failed=2, executed=10)
    assert not rule.trips(failed=1, executed=10)
    summary = JobSummary(total=4, counts={"success": 2, "failed": 1, "rejected": 1})
    assert (summary.finished, summary.executed, summary.failed) == (True, 4, 2)
    assert not JobSummary(total=2, counts={"success": 1, "started": 1}).finished


def test_archiving_needs_a_job_that_ended_and_images_toggle() -> None:
    active = job("a")
    with pytest.raises(Conflict):
        active.archive()
    active.cancel(T0)
    active.archive()
    assert active.archived and active.status == JobStatus.CANCELLED
    with pytest.raises(Conflict):
        job("b", status=JobStatus.FINISHED).cancel(T0)
    image = OtaImage(id="i", org_id="o", name="fw", kind=ImageKind.FIRMWARE, created_at=T0)
    with pytest.raises(ValidationFailed):
        image.ensure_usable()  # not uploaded
    image.uploaded = True
    image.archive(True)
    with pytest.raises(Conflict):
        image.archive(True)
    with pytest.raises(ValidationFailed):
        image.ensure_usable()


@pytest.mark.parametrize("raw", [0, 11, "5", True, 2.5])
def test_priority_is_1_to_10(raw: object) -> None:
    with pytest.raises(ValidationFailed):
        check_priority(raw)
    assert check_priority(None) == 5 and check_priority(1) == 1


def test_timeouts() -> None:
    assert check_timeout(None) is None and check_timeout(3600) == 3600
    for raw in (59, -1, "60", 10**9):
        with pytest.raises(ValidationFailed):
            check_timeout(raw)
