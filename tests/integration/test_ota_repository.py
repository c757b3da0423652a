"""The SQL OtaRepository on a real database (SQLite file; PostgreSQL when DATABASE_URL is
set): round trips, filters and paging, organization isolation, batched targets, summaries
and cascades."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select

from adapters.sql.engine import make_engine
from adapters.sql.tables.accounts import organizations
from adapters.sql.tables.devices import nodes
from adapters.sql.tables.ota import ota_node_status
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.accounts.model import Organization
from domain.ota.model import (
    AbortRule,
    DownloadWindow,
    ImageKind,
    ImageQuery,
    JobListQuery,
    JobQuery,
    JobStatus,
    NodeJobStatus,
    NodeStatus,
    OtaImage,
    OtaJob,
    Rollout,
)
from ports.repositories.uow import SYSTEM_SCOPE

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Db:
    uow: SqlUnitOfWorkFactory
    engine: Any

    @contextmanager
    def statements(self) -> Iterator[list[str]]:
        seen: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if "set_config('fleetgate.org_id'" not in statement:  # PostgreSQL's tenant scope
                seen.append(statement)

        sync = self.engine.sync_engine
        event.listen(sync, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(sync, "before_cursor_execute", record)


def node_ids(org: str, count: int) -> list[str]:
    return [f"{org}-n{i:05d}" for i in range(count)]


async def add_nodes(db: Db, org: str, count: int) -> list[str]:
    ids = node_ids(org, count)
    async with db.uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        await conn.execute(insert(nodes), [{
            "id": node_id, "org_id": org, "name": "Lamp", "type": "Lightbulb",
            "model": "m", "fw_version": "1.0", "config_version": "",
            "config": {"node_id": node_id, "info": {"type": "Lightbulb"}},
            "reported": {}, "desired": {}, "params_version": 1, "connected": False,
            "connection_ts": 0, "tags": [], "metadata": None, "active": True,
            "created_at": NOW} for node_id in ids])
        await tx.commit()
    return ids


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Db]:
    engine = make_engine(database_url)
    factory = SqlUnitOfWorkFactory(engine)
    async with factory(SYSTEM_SCOPE) as tx:
        for org in ("org-a", "org-b"):
            await tx.organizations.add(Organization(id=org, name=org, created_at=NOW))
        await tx.commit()
    yield Db(factory, engine)
    await engine.dispose()


def image(image_id: str, org: str = "org-a", **fields: Any) -> OtaImage:
    values: dict[str, Any] = {"name": f"image {image_id}", "kind": ImageKind.FIRMWARE,
                              "created_at": NOW, "uploaded": True}
    values.update(fields)
    return OtaImage(id=image_id, org_id=org, **values)


def job(job_id: str, image_id: str, org: str = "org-a", **fields: Any) -> OtaJob:
    values: dict[str, Any] = {"name": f"job {job_id}", "created_at": NOW}
    values.update(fields)
    return OtaJob(id=job_id, org_id=org, image_id=image_id, **values)


def target(job_id: str, node_id: str, org: str = "org-a", **fields: Any) -> NodeJobStatus:
    values: dict[str, Any] = {"updated_at": NOW}
    values.update(fields)
    return NodeJobStatus(job_id=job_id, node_id=node_id, org_id=org, **values)


async def test_an_image_round_trips_every_field(db: Db) -> None:
    full = image("i1", kind=ImageKind.PACKAGE, type="Lightbulb", model="esp32c3",
                 fw_version="2.1.0", size=5_000_000_000, md5="a" * 32, blob_key="org-a/i1",
                 uploaded=False, archived=True, expected_md5="b" * 32, created_by="u-1",
                 upload_expires_at=NOW + timedelta(hours=24))
    bare = image("i2")
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(full)
        await tx.ota.add_image(bare)
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.ota.get_image("i1") == full
        assert await tx.ota.get_image("i2") == bare
        changed = image("i1", name="renamed", kind=ImageKind.FIRMWARE, size=10, md5="c" * 32,
                        uploaded=True, archived=False, expected_md5=None, created_by=None)
        await tx.ota.save_image(changed)
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.ota.get_image("i1") == changed
        await tx.ota.delete_image("i2")
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.ota.get_image("i2") is None


async def test_a_job_round_trips_every_field(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 2)
    full = job("j1", "i1", description="spring update", priority=2, timeout_seconds=3600,
               force_push=True, user_approval=True, notify=True, nodes=ids,
               groups=["g1", "FFFF-FFFF"],
               query=JobQuery(node_type="Lightbulb", node_model=None, node_fw_version="1.0"),
               window=DownloadWindow(time(22, 30), time(5, 0)),
               valid_from=NOW, valid_until=NOW + timedelta(days=7),
               rollout=Rollout(max_per_minute=50, max_in_flight=10),
               abort=AbortRule(failure_percent=12.5, min_executed=20),
               metadata={"download_window": {"start": "22:30", "end": "05:00"}, "x": [1]},
               status=JobStatus.ABORTED, status_reason="failures crossed 12.5%",
               archived=True, created_by="u-1", ended_at=NOW + timedelta(hours=1))
    bare = job("j2", "i1")
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(full, [target("j1", n) for n in ids])
        await tx.ota.add_job(bare, [])
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.ota.get_job("j1") == full
        assert await tx.ota.get_job_by_name("job j1") == full
        loaded = await tx.ota.get_job("j2")
        assert loaded == bare and loaded is not None
        assert loaded.query is None and loaded.window is None and loaded.abort is None
        assert loaded.rollout == Rollout() and loaded.metadata is None
        # a query with only one field set is still a query
        loaded.query = JobQuery(node_model="m")
        loaded.cancel(NOW, "by admin")
        await tx.ota.save_job(loaded)
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.ota.get_job("j2") == loaded
        assert [j.id for j in await tx.ota.jobs_using_image("i1")] == ["j1", "j2"]


async def test_images_filter_and_page_with_totals(db: Db) -> None:
    async with db.uow("org-a") as tx:
        for n in range(7):
            await tx.ota.add_image(image(f"i{n}", name=f"Lamp fw {n}",
                                         type="Lightbulb" if n % 2 else "Switch",
                                         model="m1" if n < 4 else "m2", archived=n == 6))
        await tx.ota.add_image(image("i7", name="100%_done"))
        await tx.ota.add_image(image("i8", name="100x done"))
        await tx.commit()
    async with db.uow("org-a") as tx:
        page, total = await tx.ota.list_images(ImageQuery(), start_id=None, limit=3)
        assert [im.id for im in page] == ["i0", "i1", "i2"] and total == 8
        page, total = await tx.ota.list_images(ImageQuery(), start_id="i2", limit=3)
        assert [im.id for im in page] == ["i2", "i3", "i4"] and total == 8
        page, total = await tx.ota.list_images(ImageQuery(archived=None), start_id="i5",
                                               limit=10)
        assert [im.id for im in page] == ["i5", "i6", "i7", "i8"] and total == 9
        page, total = await tx.ota.list_images(ImageQuery(archived=True), start_id=None,
                                               limit=10)
        assert [im.id for im in page] == ["i6"] and total == 1
        page, total = await tx.ota.list_images(
            ImageQuery(type="Lightbulb", model="m1"), start_id=None, limit=10)
        assert [im.id for im in page] == ["i1", "i3"] and total == 2
        page, total = await tx.ota.list_images(ImageQuery(image_id="i4"), start_id=None,
                                               limit=10)
        assert [im.id for im in page] == ["i4"] and total == 1
        page, total = await tx.ota.list_images(ImageQuery(name="Lamp fw 3"), start_id=None,
                                               limit=10)
        assert [im.id for im in page] == ["i3"] and total == 1
        page, total = await tx.ota.list_images(ImageQuery(name="lamp FW", name_contains=True),
                                               start_id=None, limit=2)
        assert [im.id for im in page] == ["i0", "i1"] and total == 6
        # % and _ are matched as themselves, not as wildcards
        for pattern, expected in (("0%_", ["i7"]), ("%", ["i7"]), ("_", ["i7"]),
                                  ("100", ["i7", "i8"]), ("Lamp", [])):
            page, total = await tx.ota.list_images(
                ImageQuery(name=pattern, name_contains=pattern != "Lamp"), start_id=None,
                limit=10)
            assert [im.id for im in page] == expected and total == len(expected), pattern


async def test_jobs_filter_and_page_with_totals(db: Db) -> None:
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_image(image("i2"))
        for n in range(5):
            await tx.ota.add_job(job(f"j{n}", "i1" if n < 3 else "i2", name=f"Rollout_{n}",
                                     archived=n == 0, status=JobStatus.FINISHED if n == 0
                                     else JobStatus.ACTIVE), [])
        await tx.ota.add_job(job("j5", "i2", name="Rollout%5"), [])
        await tx.commit()
    async with db.uow("org-a") as tx:
        page, total = await tx.ota.list_jobs(JobListQuery(), start_id=None, limit=2)
        assert [j.id for j in page] == ["j1", "j2"] and total == 5
        page, total = await tx.ota.list_jobs(JobListQuery(archived=None), start_id="j4",
                                             limit=10)
        assert [j.id for j in page] == ["j4", "j5"] and total == 6
        page, total = await tx.ota.list_jobs(JobListQuery(image_id="i2"), start_id=None,
                                             limit=10)
        assert [j.id for j in page] == ["j3", "j4", "j5"] and total == 3
        page, total = await tx.ota.list_jobs(JobListQuery(job_id="j0", archived=None),
                                             start_id=None, limit=10)
        assert [j.id for j in page] == ["j0"] and total == 1
        page, total = await tx.ota.list_jobs(
            JobListQuery(name="t_", name_contains=True, archived=None), start_id=None,
            limit=10)
        assert [j.id for j in page] == ["j0", "j1", "j2", "j3", "j4"] and total == 5
        page, total = await tx.ota.list_jobs(
            JobListQuery(name="t%", name_contains=True), start_id=None, limit=10)
        assert [j.id for j in page] == ["j5"] and total == 1
        page, total = await tx.ota.list_jobs(JobListQuery(name="Rollout_2"), start_id=None,
                                             limit=10)
        assert [j.id for j in page] == ["j2"] and total == 1


async def test_another_organization_sees_nothing(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 3)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("j1", "i1", query=JobQuery(node_type="Lightbulb")),
                             [target("j1", n) for n in ids])
        await tx.commit()
    async with db.uow("org-b") as tx:
        assert await tx.ota.get_image("i1") is None
        assert await tx.ota.list_images(ImageQuery(archived=None), start_id=None,
                                        limit=10) == ([], 0)
        assert await tx.ota.jobs_using_image("i1") == []
        assert await tx.ota.get_job("j1") is None
        assert await tx.ota.get_job_by_name("job j1") is None
        assert await tx.ota.list_jobs(JobListQuery(archived=None), start_id=None,
                                      limit=10) == ([], 0)
        assert await tx.ota.active_dynamic_jobs() == []
        assert await tx.ota.node_status("j1", ids[0]) is None
        assert await tx.ota.node_statuses("j1", start_id=None, limit=10) == []
        assert await tx.ota.statuses_of_node(ids[0]) == []
        assert (await tx.ota.summary("j1")).total == 0
        assert await tx.ota.waiting_targets("j1", 10) == []
        # writes through another organization's scope change nothing
        await tx.ota.save_image(image("i1", name="stolen"))
        await tx.ota.save_job(job("j1", "i1", name="stolen"))
        await tx.ota.save_statuses([target("j1", ids[0], org="org-a",
                                           status=NodeStatus.FAILED)])
        await tx.ota.delete_image("i1")
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert (await tx.ota.get_image("i1")).name == "image i1"  # type: ignore[union-attr]
        assert (await tx.ota.get_job("j1")).name == "job j1"  # type: ignore[union-attr]
        assert (await tx.ota.summary("j1")).counts == {"triggered": 3}
        assert [j.id for j in await tx.ota.active_dynamic_jobs()] == ["j1"]
    async with db.uow(SYSTEM_SCOPE) as tx:
        assert (await tx.ota.get_job("j1")) is not None


async def test_a_job_with_1000_targets_costs_constant_statements(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 1000)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.commit()

    async def create(job_id: str, targets: list[str]) -> int:
        with db.statements() as seen:
            async with db.uow("org-a") as tx:
                await tx.ota.add_job(job(job_id, "i1", priority=3),
                                     [target(job_id, n, priority=3) for n in targets])
                await tx.commit()
        return len(seen)

    assert await create("j-small", ids[:10]) == await create("j-big", ids)
    async with db.uow("org-a") as tx:
        summary = await tx.ota.summary("j-big")
        assert summary.total == 1000 and summary.counts == {"triggered": 1000}
        page = await tx.ota.node_statuses("j-big", start_id=ids[500], limit=3)
        assert [st.node_id for st in page] == ids[500:503]
        assert all(st.priority == 3 and st.status == NodeStatus.TRIGGERED for st in page)
        assert [st.node_id for st in await tx.ota.waiting_targets("j-big", 5)] == ids[:5]

    def statuses(job_id: str, status: NodeStatus) -> list[NodeJobStatus]:
        return [target(job_id, n, status=status, priority=3, additional_info="done",
                       updated_at=NOW + timedelta(minutes=1), triggered_at=NOW, attempts=1)
                for n in ids]

    async def save(job_id: str, count: int) -> int:
        with db.statements() as seen:
            async with db.uow("org-a") as tx:
                await tx.ota.save_statuses(statuses(job_id, NodeStatus.SUCCESS)[:count])
                await tx.commit()
        return len(seen)

    assert await save("j-small", 10) == await save("j-big", 1000)
    async with db.uow("org-a") as tx:
        assert (await tx.ota.summary("j-big")).counts == {"success": 1000}
        assert await tx.ota.node_status("j-big", ids[999]) == statuses(
            "j-big", NodeStatus.SUCCESS)[999]


async def test_add_targets_adds_only_new_pairs(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 300)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("j1", "i1", query=JobQuery(node_type="Lightbulb")),
                             [target("j1", n) for n in ids[:100]])
        await tx.ota.add_job(job("j2", "i1"), [])
        await tx.commit()
    async with db.uow("org-a") as tx:
        started = target("j1", ids[0], status=NodeStatus.STARTED, triggered_at=NOW,
                           attempts=1)
        await tx.ota.save_statuses([started])
        with db.statements() as seen:
            added = await tx.ota.add_targets(
                [target("j1", n) for n in ids[:200]] + [target("j2", n) for n in ids[:5]]
                + [target("j1", ids[250]), target("j1", ids[250])])
        assert added == 100 + 5 + 1 and len(seen) <= 2
        assert await tx.ota.add_targets([target("j1", n) for n in [*ids[:200], ids[250]]]) == 0
        assert await tx.ota.add_targets([]) == 0
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert (await tx.ota.summary("j1")).counts == {"triggered": 200, "started": 1}
        assert await tx.ota.node_status("j1", ids[0]) == started  # left as it was
        assert (await tx.ota.summary("j2")).total == 5


async def test_statuses_of_node_joins_its_unarchived_jobs(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 2)
    later = NOW + timedelta(minutes=5)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("j-low", "i1", priority=8), [target("j-low", ids[0])])
        await tx.ota.add_job(job("j-high", "i1", priority=1, created_at=later),
                             [target("j-high", ids[0], priority=1), target("j-high", ids[1])])
        await tx.ota.add_job(job("j-mid", "i1", priority=5, window=DownloadWindow(
            time(1, 0), time(2, 0))), [target("j-mid", ids[0], priority=5)])
        await tx.ota.add_job(job("j-old", "i1", status=JobStatus.FINISHED, archived=True),
                             [target("j-old", ids[0], status=NodeStatus.SUCCESS)])
        await tx.commit()
    async with db.uow("org-a") as tx:
        pairs = await tx.ota.statuses_of_node(ids[0])
        assert [(j.id, st.job_id, st.node_id) for j, st in pairs] == [
            ("j-high", "j-high", ids[0]), ("j-mid", "j-mid", ids[0]),
            ("j-low", "j-low", ids[0])]
        high, high_status = pairs[0]
        assert high == await tx.ota.get_job("j-high")
        assert high_status == await tx.ota.node_status("j-high", ids[0])
        assert high_status.priority == 1 and high.created_at == later
        assert pairs[1][0].window == DownloadWindow(time(1, 0), time(2, 0))
        assert [j.id for j, _ in await tx.ota.statuses_of_node(ids[1])] == ["j-high"]
        assert await tx.ota.statuses_of_node("no-such-node") == []


async def test_summary_counts_each_status_in_one_query(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 6)
    wanted = [NodeStatus.TRIGGERED, NodeStatus.STARTED, NodeStatus.IN_PROGRESS,
              NodeStatus.SUCCESS, NodeStatus.FAILED, NodeStatus.FAILED]
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("j1", "i1", abort=AbortRule(50, 2)),
                             [target("j1", n, status=s) for n, s in zip(ids, wanted, strict=True)])
        await tx.commit()
    async with db.uow("org-a") as tx:
        with db.statements() as seen:
            summary = await tx.ota.summary("j1")
        assert len(seen) == 1
        assert summary.total == 6 and summary.counts == {
            "triggered": 1, "started": 1, "in-progress": 1, "success": 1, "failed": 2}
        assert summary.executed == 3 and summary.failed == 2 and summary.in_flight == 2
        assert not summary.finished
        assert (await tx.ota.summary("no-such-job")).total == 0


async def test_deletes_cascade(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 3)
    b_ids = await add_nodes(db, "org-b", 1)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_image(image("i2"))
        await tx.ota.add_job(job("j1", "i1"), [target("j1", n) for n in ids])
        await tx.ota.add_job(job("j2", "i2"), [target("j2", n) for n in ids])
        await tx.commit()
    async with db.uow("org-b") as tx:
        await tx.ota.add_image(image("ib", org="org-b"))
        await tx.ota.add_job(job("jb", "ib", org="org-b"), [target("jb", b_ids[0], "org-b")])
        await tx.commit()
    # a deleted node leaves its jobs
    async with db.uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        await conn.execute(delete(nodes).where(nodes.c.id == ids[0]))
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert (await tx.ota.summary("j1")).total == 2
        assert await tx.ota.statuses_of_node(ids[0]) == []
        # a deleted image (forced, after its jobs were cancelled) leaves the jobs, imageless
        cancelled = await tx.ota.get_job("j1")
        assert cancelled is not None
        cancelled.cancel(NOW, "image deleted")
        await tx.ota.save_job(cancelled)
        await tx.ota.delete_image("i1")
        await tx.commit()
    async with db.uow("org-a") as tx:
        kept = await tx.ota.get_job("j1")
        assert kept is not None and kept.image_id == "" and kept.status == JobStatus.CANCELLED
        assert (await tx.ota.summary("j1")).total == 2
        assert await tx.ota.jobs_using_image("i1") == []
        assert [j.id for j in await tx.ota.jobs_using_image("i2")] == ["j2"]
    # a deleted organization takes its images, jobs and statuses along
    async with db.uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        await conn.execute(delete(organizations).where(organizations.c.id == "org-a"))
        await tx.commit()
    async with db.uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        left = (await conn.execute(select(ota_node_status.c.job_id))).scalars().all()
        assert left == ["jb"]
        assert await tx.ota.get_job("j2") is None and await tx.ota.get_image("i2") is None
        assert await tx.ota.get_job("jb") is not None


async def test_waiting_targets_page_and_busy_nodes_in_one_query(db: Db) -> None:
    a, b, c, d = await add_nodes(db, "org-a", 4)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("urgent", "i1", priority=1), [
            target("urgent", a, priority=1),  # waiting, higher priority
            target("urgent", b, priority=1, status=NodeStatus.IN_PROGRESS)])
        await tx.ota.add_job(job("done", "i1", status=JobStatus.CANCELLED), [
            target("done", c, status=NodeStatus.STARTED)])  # in flight, but job not active
        await tx.ota.add_job(job("next", "i1", priority=5), [
            target("next", n, priority=5) for n in (a, b, c, d)])
        await tx.commit()
    async with db.uow("org-a") as tx:
        first = await tx.ota.waiting_targets("next", 2)
        rest = await tx.ota.waiting_targets("next", 10, after=first[-1].node_id)
        assert [t.node_id for t in first + rest] == sorted([a, b, c, d])
        with db.statements() as seen:
            busy = await tx.ota.busy_nodes([a, b, c, d], before_priority=5)
        assert busy == {a, b} and len(seen) == 1
        assert await tx.ota.busy_nodes([a, b, c, d], before_priority=1) == {b}
    async with db.uow("org-b") as tx:
        assert await tx.ota.busy_nodes([a, b], before_priority=5) == set()


async def test_statuses_changed_reads_on_from_a_position(db: Db) -> None:
    ids = await add_nodes(db, "org-a", 5)
    later = NOW + timedelta(seconds=1)
    moments = [later, NOW, later, NOW + timedelta(seconds=2), NOW]
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1"))
        await tx.ota.add_job(job("j1", "i1"), [target("j1", n, updated_at=m)
                                               for n, m in zip(ids, moments, strict=True)])
        await tx.commit()
    expected = [ids[1], ids[4], ids[0], ids[2], ids[3]]  # by (updated_at, node_id)
    async with db.uow("org-a") as tx:
        everything = await tx.ota.statuses_changed("j1", after=None, limit=10)
        assert [s.node_id for s in everything] == expected
        first = await tx.ota.statuses_changed("j1", after=None, limit=2)
        rest = await tx.ota.statuses_changed(
            "j1", after=(first[-1].updated_at, first[-1].node_id), limit=10)
        assert [s.node_id for s in [*first, *rest]] == expected
        since = await tx.ota.statuses_changed("j1", after=(later, ""), limit=10)
        assert [s.node_id for s in since] == [ids[0], ids[2], ids[3]]
        assert await tx.ota.statuses_changed(
            "j1", after=(NOW + timedelta(seconds=2), ids[3]), limit=10) == []
    async with db.uow("org-b") as tx:  # another organization reads nothing of it
        assert await tx.ota.statuses_changed("j1", after=None, limit=10) == []
