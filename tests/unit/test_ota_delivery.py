"""OTA delivery on in-memory fakes with a fixed clock: the sweep's rules (expiry, a gated job
offered when it just became due and not again while it stays due, once after a restart,
paced rollout budgets for force-pushed jobs only) as a pure plan and applied; and what the
gateway's OTA lane hands over (otastatus, otafetch, connected, config)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from domain.ota.delivery import (
    CONFIG,
    CONNECTED,
    HANDLED,
    OTAFETCH,
    OTASTATUS,
    OtaOutcome,
)
from domain.ota.model import DownloadWindow, JobStatus, NodeStatus, OtaJob, Rollout
from domain.ota.sweep import paced_budget, plan_sweep
from tests.unit.fakes.ota_world import ADMIN_OF_ORG, ORG, T0, OtaWorld

SWEEP = 30.0


def a_job(job_id: str = "j1", org: str = ORG, **fields: object) -> OtaJob:
    return OtaJob(id=job_id, org_id=org, name=job_id, image_id="i1", created_at=T0,
                  **fields)  # type: ignore[arg-type]


def j(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.fixture
def world() -> OtaWorld:
    w = OtaWorld()
    for name in ("n1", "n2", "n3"):
        w.node(name)
    return w


# --- the sweep's plan ------------------------------------------------------------------


def test_expired_jobs_get_their_organization_expired_once_and_nothing_else() -> None:
    now = T0 + timedelta(seconds=61)
    jobs = [a_job("a1", timeout_seconds=60, force_push=True, rollout=Rollout(max_in_flight=1),
                  valid_from=T0),
            a_job("a2", timeout_seconds=60), a_job("b1", org="org-b", timeout_seconds=60),
            a_job("live", org="org-c", timeout_seconds=3600)]
    plan = plan_sweep(jobs, now, {}, sweep_seconds=SWEEP)
    assert plan.expire == (ORG, "org-b")
    assert plan.offer == () and plan.dispatch == ()
    assert plan.due == {"live": True}


def test_a_gated_job_that_just_opened_is_offered() -> None:
    window = DownloadWindow.parse({"start": "10:00", "end": "11:00"})
    job = a_job(window=window)
    closed = plan_sweep([job], T0 - timedelta(minutes=5), {}, sweep_seconds=SWEEP)
    assert closed.offer == () and closed.due == {"j1": False}
    opened = plan_sweep([job], T0 + timedelta(minutes=5), closed.due, sweep_seconds=SWEEP)
    assert opened.offer == (job,) and opened.due == {"j1": True}


def test_a_gated_job_is_not_offered_again_while_it_stays_due() -> None:
    job = a_job(valid_from=T0)
    first = plan_sweep([job], T0 + timedelta(minutes=1), {"j1": False}, sweep_seconds=SWEEP)
    later = plan_sweep([job], T0 + timedelta(minutes=2), first.due, sweep_seconds=SWEEP)
    assert first.offer == (job,) and later.offer == ()


def test_after_a_restart_a_due_gated_job_is_offered_once() -> None:
    job = a_job(valid_from=T0)
    restarted = plan_sweep([job], T0 + timedelta(hours=1), {}, sweep_seconds=SWEEP)
    again = plan_sweep([job], T0 + timedelta(hours=1, seconds=30), restarted.due,
                       sweep_seconds=SWEEP)
    assert restarted.offer == (job,) and again.offer == ()


def test_a_job_without_window_or_validity_start_is_never_offered_by_the_sweep() -> None:
    plan = plan_sweep([a_job()], T0, {}, sweep_seconds=SWEEP)
    assert plan.offer == () and plan.due == {"j1": True}


@pytest.mark.parametrize(("per_minute", "sweep_seconds", "budget"), [
    (10, 30.0, 5), (1, 30.0, 1), (1, 1.0, 1), (100, 45.0, 75), (7, 60.0, 7), (None, 30.0, None)])
def test_a_paced_budget_is_max_per_minute_prorated_to_the_sweep_at_least_one(
        per_minute: int | None, sweep_seconds: float, budget: int | None) -> None:
    job = a_job(force_push=True, rollout=Rollout(max_per_minute=per_minute, max_in_flight=3))
    assert paced_budget(job, sweep_seconds) == budget
    plan = plan_sweep([job], T0, {}, sweep_seconds=sweep_seconds)
    assert plan.dispatch == ((job, budget),)


def test_only_force_pushed_paced_jobs_without_user_approval_are_dispatched() -> None:
    pace = Rollout(max_per_minute=60)
    jobs = [a_job("push", force_push=True, rollout=pace),
            a_job("approval", force_push=True, user_approval=True, rollout=pace),
            a_job("not-pushed", rollout=pace),
            a_job("unpaced", force_push=True),
            a_job("in-flight-only", force_push=True, rollout=Rollout(max_in_flight=2))]
    plan = plan_sweep(jobs, T0, {}, sweep_seconds=SWEEP)
    assert [(job.id, budget) for job, budget in plan.dispatch] == [
        ("push", 30), ("in-flight-only", None)]


# --- the sweep applied -----------------------------------------------------------------


async def test_the_sweep_expires_a_job_timing_out_its_unfinished_nodes(world: OtaWorld) -> None:
    job = await world.job("expiring", ["n1", "n2"], timeout_seconds=60)
    await world.delivery.offer_next(ORG, "n1")
    await world.delivery.sweep(sweep_seconds=SWEEP)
    assert (await world.job_state(job.id)).status == JobStatus.ACTIVE
    world.clock.advance(seconds=61)
    plan = await world.delivery.sweep(sweep_seconds=SWEEP)
    assert plan.expire == (ORG,)
    ended = await world.job_state(job.id)
    assert ended.status == JobStatus.FINISHED and ended.status_reason == "expired"
    assert await world.statuses(job.id, "n1", "n2") == [NodeStatus.FAILED,
                                                         NodeStatus.TIMED_OUT]


async def test_a_job_whose_validity_starts_is_offered_to_connected_nodes_once(
        world: OtaWorld) -> None:
    world.node("away", connected=False)
    start = int((T0 + timedelta(minutes=10)).timestamp())
    job = await world.job("later", ["n1", "away"], metadata={"validity": {"start": start}})
    await world.delivery.sweep(sweep_seconds=SWEEP)
    assert world.publisher.sent == []  # not valid yet
    world.clock.advance(minutes=11)
    await world.delivery.sweep(sweep_seconds=SWEEP)
    assert world.publisher.offered() == [("n1", job.id)]
    world.store.nodes["away"].connectivity.connected = True  # back, but it did not ask
    await world.delivery.sweep(sweep_seconds=SWEEP)
    assert world.publisher.offered() == [("n1", job.id)]  # still due: not offered again
    restarted = world.new_delivery()
    await restarted.sweep(sweep_seconds=SWEEP)
    await restarted.sweep(sweep_seconds=SWEEP)
    assert world.publisher.offered() == [("n1", job.id), ("away", job.id)]


async def test_a_paced_rollout_gets_its_budget_each_sweep(world: OtaWorld) -> None:
    for i in range(4, 8):
        world.node(f"n{i}")
    nodes = [f"n{i}" for i in range(1, 8)]
    job = await world.job("paced", nodes, force_push=True,
                          rollout={"rollout": {"max_per_minute": 2}})
    assert len(world.publisher.sent) == 2  # created: its first minute's allowance
    await world.delivery.sweep(sweep_seconds=SWEEP)  # 2 a minute: 1 per 30 s sweep
    assert len(world.publisher.sent) == 3
    await world.delivery.sweep(sweep_seconds=60.0)
    assert len(world.publisher.sent) == 5
    assert {n for n, _ in world.publisher.offered()} <= set(nodes)
    assert (await world.job_state(job.id)).status == JobStatus.ACTIVE


async def test_a_force_pushed_user_approval_job_is_never_dispatched(world: OtaWorld) -> None:
    await world.job("ask", ["n1", "n2"], force_push=True, user_approval=True,
                    rollout={"rollout": {"max_per_minute": 60}})
    await world.delivery.sweep(sweep_seconds=SWEEP)
    assert world.publisher.sent == []


# --- the OTA lane: otastatus, otafetch, connected, config ------------------------------


async def test_otastatus_advances_the_node_and_a_final_one_offers_the_next_job(
        world: OtaWorld) -> None:
    first = await world.job("first", ["n1"], priority=1)
    second = await world.job("second", ["n1"], priority=2)
    assert await world.delivery.handle(OTAFETCH, "n1", None, j({})) == HANDLED
    outcome = await world.delivery.handle(
        OTASTATUS, "n1", None, j({"ota_job_id": first.id, "status": "success"}))
    assert outcome == HANDLED
    assert await world.statuses(first.id, "n1") == [NodeStatus.SUCCESS]
    assert world.publisher.offered() == [("n1", first.id), ("n1", second.id)]


@pytest.mark.parametrize(("node_id", "payload", "why"), [
    ("bad/id", b"{}", "invalid node id"),
    ("n1", b"{not json", "malformed payload"),
    ("n1", b"x" * (64 * 1024 + 1), "malformed payload: payload too large"),
    ("n1", b"[1, 2]", "payload is not a JSON object"),
    ("ghost", b"{}", "unknown or inactive node"),
    ("n1", j({"ota_job_id": "nope", "status": "success"}), "not applicable"),
    ("n1", j({"ota_job_id": "j", "status": "triggered"}), "not applicable"),
])
async def test_an_otastatus_that_does_not_apply_is_ignored_with_its_reason(
        world: OtaWorld, node_id: str, payload: bytes, why: str) -> None:
    outcome = await world.delivery.handle(OTASTATUS, node_id, None, payload)
    assert not outcome.handled and outcome.ignored is not None
    assert outcome.ignored.startswith(why)


async def test_a_backwards_report_is_ignored(world: OtaWorld) -> None:
    job = await world.job("one", ["n1"])
    await world.delivery.handle(OTAFETCH, "n1", None, b"{}")
    done = {"ota_job_id": job.id, "status": "success"}
    assert await world.delivery.handle(OTASTATUS, "n1", None, j(done)) == HANDLED
    back = await world.delivery.handle(OTASTATUS, "n1", None, j({**done, "status": "in-progress"}))
    assert back.ignored is not None and back.ignored.startswith("not applicable")


async def test_otafetch_and_connected_offer_the_job_in_flight_again(world: OtaWorld) -> None:
    job = await world.job("one", ["n1"])
    assert await world.delivery.handle(CONNECTED, "n1", ORG) == HANDLED
    assert await world.delivery.handle(OTAFETCH, "n1", None, b"{}") == HANDLED
    assert await world.delivery.handle(CONNECTED, "n1", None) == HANDLED  # org looked up
    assert world.publisher.offered() == [("n1", job.id)] * 3
    assert await world.statuses(job.id, "n1") == [NodeStatus.STARTED]


async def test_a_config_change_joins_matching_dynamic_jobs_and_offers_a_new_job_only(
        world: OtaWorld) -> None:
    pinned = await world.job("pinned", ["n1"])
    await world.delivery.handle(OTAFETCH, "n1", None, b"{}")  # pinned in flight
    dynamic = await world.jobs.create_job(
        ADMIN_OF_ORG, name="dyn", image_id=await world.image("dyn-fw"), node_fw_version="1.1")
    world.node("n4", fw_version="1.1")
    assert await world.delivery.handle(CONFIG, "n4", ORG) == HANDLED
    assert await world.statuses(dynamic.id, "n4") == [NodeStatus.STARTED]
    assert await world.delivery.handle(CONFIG, "n1", ORG) == HANDLED  # matches nothing new
    assert world.publisher.offered() == [("n1", pinned.id), ("n4", dynamic.id)]


async def test_a_config_change_of_a_node_gone_meanwhile_does_nothing(world: OtaWorld) -> None:
    await world.job("one", ["n1"])
    del world.store.nodes["n1"]
    assert await world.delivery.handle(CONFIG, "n1", ORG) == OtaOutcome()
    assert world.publisher.sent == []
