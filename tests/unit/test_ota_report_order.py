"""SECURITY.md M3: any permutation of a node's otastatus reports, duplicates included,
leaves a monotonic status (it never goes back) and a final status is never overwritten;
Hypothesis draws the reports and their order, the use case runs on the in-memory fakes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.ota.model import FINAL, JobStatus, NodeJobStatus, NodeStatus
from tests.unit.fakes import InMemoryUnitOfWork
from tests.unit.test_ota_jobs import ADMIN_CALLER, T0, World

RANK = {NodeStatus.TRIGGERED: 0, NodeStatus.STARTED: 1, NodeStatus.DELAYED: 2,
        NodeStatus.IN_PROGRESS: 3}
REPORTS = st.tuples(st.sampled_from(["in-progress", "delayed", "success", "failed",
                                     "rejected", "started", "bogus"]),
                    st.sampled_from(["", "10%", "50%", "done", "flash error"]))


def rank(status: NodeStatus) -> int:
    return 4 if status in FINAL else RANK[status]


async def _status(world: World, job_id: str, node_id: str) -> NodeJobStatus:
    async with InMemoryUnitOfWork(world.store, "org-a") as uow:
        found = await uow.ota.node_status(job_id, node_id)
    assert found is not None
    return found


async def _replay(reports: list[tuple[str, str]], offered: bool) -> None:
    world = World()
    for node in ("n1", "n2"):
        world.node(node, type="Light", model="bulb", fw_version="1.0")
    image = await world.image()
    job = await world.jobs.create_job(ADMIN_CALLER, name="j", image_id=image,
                                      nodes=["n1", "n2"])
    if offered:
        assert await world.delivery.offer_next("org-a", "n1") is not None
    before = await _status(world, job.id, "n1")
    final_seen: NodeJobStatus | None = None
    first_final = next((NodeStatus(s) for s, _ in reports
                        if s in ("success", "failed", "rejected")), None)
    for step, (status, info) in enumerate(reports):
        world.clock.current = T0 + timedelta(seconds=step + 1)
        applied = await world.delivery.report("org-a", "n1", {"ota_job_id": job.id,
                                                          "status": status,
                                                          "additional_info": info})
        after = await _status(world, job.id, "n1")
        assert rank(after.status) >= rank(before.status), (before.status, after.status)
        if final_seen is not None:  # a final status is never overwritten, not even its info
            assert not applied
            assert (after.status, after.additional_info, after.updated_at) == (
                final_seen.status, final_seen.additional_info, final_seen.updated_at)
        changed = (after.status, after.additional_info, after.updated_at) != (
            before.status, before.additional_info, before.updated_at)
        assert applied == changed  # reported as applied exactly when the row moved
        if after.status in FINAL and final_seen is None:
            final_seen = after
        before = after
    # whichever order they came in, the first final report delivered is the one that stays
    end = await _status(world, job.id, "n1")
    if not offered:  # never offered the job: nothing the node says about it counts
        assert end.status == NodeStatus.TRIGGERED
    elif first_final is not None:
        assert end.status == first_final
    else:
        assert end.status not in FINAL
    async with InMemoryUnitOfWork(world.store, "org-a") as uow:
        stored = await uow.ota.get_job(job.id)
    assert stored is not None and stored.status == JobStatus.ACTIVE  # n2 has not finished
    assert (await _status(world, job.id, "n2")).status == NodeStatus.TRIGGERED


@settings(max_examples=150, deadline=None)
@given(reports=st.lists(REPORTS, min_size=1, max_size=12).flatmap(st.permutations),
       offered=st.booleans())
def test_any_order_of_reports_keeps_the_status_monotonic(reports: list[tuple[str, str]],
                                                         offered: bool) -> None:
    asyncio.run(_replay(reports, offered))


@settings(max_examples=60, deadline=None)
@given(base=st.lists(REPORTS, min_size=1, max_size=6), copies=st.integers(2, 3),
       data=st.data())
def test_every_report_delivered_several_times_in_any_order(
        base: list[tuple[str, str]], copies: int, data: st.DataObject) -> None:
    """SECURITY.md M2's duplicates, for OTA: each report delivered 2-3 times, shuffled."""
    delivered = data.draw(st.permutations(base * copies))
    asyncio.run(_replay(delivered, offered=True))
