"""OTA images and jobs with in-memory fakes: targets (nodes, admin groups, FFFF-FFFF,
dynamic), one job at a time per node by priority, reports that only move forward, finishing,
aborting past the failure threshold, expiry, forced image deletion, user-approved updates."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN, END_USER
from domain.devices.model import Node, NodeSecrets
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.ota.delivery import OtaDelivery
from domain.ota.images import OtaImages
from domain.ota.jobs import OtaJobs
from domain.ota.model import JobStatus, NodeStatus
from domain.ota.user_updates import OtaUpdates
from domain.sharing.model import NodeMembership
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.ota import FakeOtaPublisher, InMemoryBlobs
from tests.unit.fakes.store import Store

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def who(*roles: str, uid: str = "a1", org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=uid,
                                      roles=frozenset(roles)))


ADMIN_CALLER = who(ADMIN)


class World:
    def __init__(self) -> None:
        self.store, self.clock, self.blobs, self.publisher = Store(), FakeClock(T0), \
            InMemoryBlobs(), FakeOtaPublisher()

        def uow(org: str) -> InMemoryUnitOfWork:
            return InMemoryUnitOfWork(self.store, org)

        self.images = OtaImages(uow=uow, ids=SequentialIds(), clock=self.clock,  # type: ignore[arg-type]
                                authorizer=AllowAll(), blobs=self.blobs, link_secret=b"k" * 32)
        self.delivery = OtaDelivery(uow=uow, clock=self.clock, images=self.images,  # type: ignore[arg-type]
                                    publisher=self.publisher, base_url="http://gw")
        self.jobs = OtaJobs(uow=uow, ids=SequentialIds(), clock=self.clock,  # type: ignore[arg-type]
                            authorizer=AllowAll(), delivery=self.delivery)
        self.updates = OtaUpdates(uow=uow, clock=self.clock,  # type: ignore[arg-type]
                                  authorizer=AllowAll(), delivery=self.delivery)

    def node(self, node_id: str, org: str = "org-a", **fields: str) -> str:
        self.store.nodes[node_id] = Node(id=node_id, org_id=org, created_at=T0, **fields)
        self.store.node_secrets[node_id] = NodeSecrets(node_id=node_id, org_id=org,
                                                       mqtt_password_hash="x",
                                                       secret_key_hash="y")
        return node_id

    async def image(self, name: str = "fw") -> str:
        made = await self.images.create_image(
            ADMIN_CALLER, name=name, base64_fwimage=base64.b64encode(b"\x00" * 64).decode(),
            fw_version="2.0", model="bulb", type="Light")
        return made.id

    async def status(self, job_id: str, node_id: str) -> NodeStatus:
        async with InMemoryUnitOfWork(self.store, "org-a") as uow:
            found = await uow.ota.node_status(job_id, node_id)
        assert found is not None
        return found.status


@pytest.fixture
def world() -> World:
    w = World()
    for i in range(1, 4):
        w.node(f"n{i}", type="Light", model="bulb", fw_version="1.0")
    w.node("foreign", org="org-b", type="Light", model="bulb", fw_version="1.0")
    return w


async def test_one_job_at_a_time_by_priority_and_reports_only_move_forward(world: World) -> None:
    image = await world.image()
    low = await world.jobs.create_job(ADMIN_CALLER, name="low", image_id=image, nodes=["n1"],
                                      priority=9)
    high = await world.jobs.create_job(ADMIN_CALLER, name="high", image_id=image,
                                       nodes=["n1", "n2"], priority=1)
    offer = await world.delivery.offer_next("org-a", "n1")
    assert offer is not None and offer.job.id == high.id
    payload = world.publisher.sent[-1][1]
    assert payload["ota_job_id"] == high.id and payload["url"].startswith(
        "http://gw/v1/ota/download/") and payload["filesize"] == 64
    # asking again re-offers the job in flight, never a second one
    again = await world.delivery.offer_next("org-a", "n1")
    assert again is not None and again.job.id == high.id
    assert await world.status(low.id, "n1") == NodeStatus.TRIGGERED
    report = {"ota_job_id": high.id, "status": "in-progress"}
    assert await world.delivery.report("org-a", "n1", report)
    assert not await world.delivery.report("org-a", "n1", {**report, "status": "bogus"})
    assert not await world.delivery.report("org-a", "n3", report)  # not a target
    assert not await world.delivery.report("org-a", "n1", {"ota_job_id": low.id,
                                                       "status": "success"})  # not offered
    assert await world.delivery.report("org-a", "n1", {**report, "status": "success"})
    assert not await world.delivery.report("org-a", "n1", {**report, "status": "success"})
    assert not await world.delivery.report("org-a", "n1", {**report, "status": "in-progress"})
    # once final, the node is offered its next job
    assert world.publisher.sent[-1] == ("n1", world.publisher.sent[-1][1])
    assert world.publisher.sent[-1][1]["ota_job_id"] == low.id
    assert await world.status(low.id, "n1") == NodeStatus.STARTED
    # the job finishes when every target is final
    await world.delivery.offer_next("org-a", "n2")
    await world.delivery.report("org-a", "n2", {"ota_job_id": high.id, "status": "rejected"})
    listed = (await world.jobs.list_jobs(ADMIN_CALLER, job_id=high.id)).jobs[0]
    assert listed[0].status == JobStatus.FINISHED
    assert listed[1].counts == {"success": 1, "rejected": 1}


async def test_targets_from_groups_all_nodes_and_dynamic_queries(world: World) -> None:
    image = await world.image()
    every = await world.jobs.create_job(ADMIN_CALLER, name="all", image_id=image,
                                        groups=["FFFF-FFFF"])
    page = await world.jobs.job_status(ADMIN_CALLER, job_id=every.id)
    assert [s.node_id for s in page[1]] == ["n1", "n2", "n3"]  # not the other org's node
    dynamic = await world.jobs.create_job(ADMIN_CALLER, name="dyn", image_id=image,
                                          node_type="Light", node_fw_version="1.0")
    assert dynamic.dynamic
    world.node("n4", type="Light", model="bulb", fw_version="0.9")
    assert await world.delivery.node_matches("org-a", "n4", "Light", "bulb", "0.9") == 0
    assert await world.delivery.node_matches("org-a", "n4", "Light", "bulb", "1.0") == 1
    assert await world.delivery.node_matches("org-a", "n4", "Light", "bulb", "1.0") == 0
    with pytest.raises(NotFound):
        await world.jobs.create_job(ADMIN_CALLER, name="x", image_id=image, nodes=["foreign"])
    with pytest.raises(ValidationFailed):
        await world.jobs.create_job(ADMIN_CALLER, name="x", image_id=image)
    with pytest.raises(ValidationFailed):
        await world.jobs.create_job(ADMIN_CALLER, name="x", image_id=image, nodes=["n1"],
                                    node_type="Light")
    with pytest.raises(Conflict):
        await world.jobs.create_job(ADMIN_CALLER, name="all", image_id=image, nodes=["n1"])
    with pytest.raises(ValidationFailed):
        await world.jobs.create_job(ADMIN_CALLER, name="y", image_id=image,
                                    nodes=[f"n{i}" for i in range(101)])


async def test_force_push_abort_threshold_and_cancel(world: World) -> None:
    image = await world.image()
    job = await world.jobs.create_job(ADMIN_CALLER, name="push", image_id=image,
                                      nodes=["n1", "n2", "n3"], force_push=True,
                                      rollout={"abort": {"failure_percent": 50,
                                                         "min_executed": 2}})
    assert sorted(n for n, _ in world.publisher.sent) == ["n1", "n2", "n3"]
    await world.delivery.report("org-a", "n1", {"ota_job_id": job.id, "status": "failed",
                                            "additional_info": "bad flash"})
    assert (await world.jobs.list_jobs(ADMIN_CALLER, job_id=job.id)).jobs[0][0].status \
        == JobStatus.ACTIVE  # one executed: below min_executed
    await world.delivery.report("org-a", "n2", {"ota_job_id": job.id, "status": "success"})
    ended = (await world.jobs.list_jobs(ADMIN_CALLER, job_id=job.id)).jobs[0][0]
    assert ended.status == JobStatus.ABORTED and "1 of 2" in ended.status_reason
    assert await world.status(job.id, "n3") == NodeStatus.CANCELLED
    assert not await world.delivery.report("org-a", "n3", {"ota_job_id": job.id,
                                                       "status": "success"})
    with pytest.raises(Conflict):
        await world.jobs.cancel_or_archive(ADMIN_CALLER, job_id=job.id)
    archived, _ = await world.jobs.cancel_or_archive(ADMIN_CALLER, job_id=job.id, archive=True)
    assert archived.archived


async def test_expiry_times_nodes_out_and_forced_image_deletion_cancels(world: World) -> None:
    image = await world.image()
    job = await world.jobs.create_job(ADMIN_CALLER, name="t", image_id=image,
                                      nodes=["n1", "n3"], timeout_seconds=600)
    await world.delivery.offer_next("org-a", "n1")
    world.clock.advance(minutes=11)
    assert await world.delivery.offer_next("org-a", "n1") is None  # expired: not offered
    assert await world.delivery.expire("org-a") == [job.id]
    assert await world.status(job.id, "n1") == NodeStatus.FAILED  # offered, never finished
    assert await world.status(job.id, "n3") == NodeStatus.TIMED_OUT  # never offered
    other = await world.jobs.create_job(ADMIN_CALLER, name="u", image_id=image, nodes=["n2"])
    with pytest.raises(Conflict):
        await world.images.delete_image(ADMIN_CALLER, image_id=image)
    assert await world.images.delete_image(ADMIN_CALLER, image_id=image, force=True) == [
        other.id]
    assert world.blobs.data == {}


async def test_user_approved_updates(world: World) -> None:
    image = await world.image()
    world.store.memberships[("n1", "u1")] = NodeMembership(
        node_id="n1", user_id="u1", org_id="org-a", role="primary", created_at=T0)
    job = await world.jobs.create_job(ADMIN_CALLER, name="ask", image_id=image,
                                      nodes=["n1", "n2"], user_approval=True,
                                      description="New colours")
    assert await world.delivery.offer_next("org-a", "n1") is None  # waits for the user
    user = who(END_USER, uid="u1")
    found = await world.updates.available_update(user, node_id="n1")
    assert found is not None and found[0].id == job.id and found[1].fw_version == "2.0"
    with pytest.raises(NotFound):
        await world.updates.available_update(user, node_id="n2")  # not the user's node
    offer = await world.updates.push_update(user, node_id="n1", job_id=job.id)
    assert offer.job.id == job.id and world.publisher.sent[-1][0] == "n1"
    assert (await world.updates.user_status(user, node_id="n1", job_id=job.id)).status \
        == NodeStatus.STARTED
    with pytest.raises(ValidationFailed):
        await world.jobs.retrigger(ADMIN_CALLER, job_id=job.id)


async def test_archived_and_unknown_images_take_no_job(world: World) -> None:
    image = await world.image()
    await world.images.archive_image(ADMIN_CALLER, image_id=image, archive=True)
    with pytest.raises(ValidationFailed):
        await world.jobs.create_job(ADMIN_CALLER, name="a", image_id=image, nodes=["n1"])
    with pytest.raises(NotFound):
        await world.jobs.create_job(ADMIN_CALLER, name="a", image_id="nope", nodes=["n1"])
    other_org = who(ADMIN, org="org-b")
    with pytest.raises(NotFound):
        await world.images.archive_image(other_org, image_id=image, archive=False)


async def test_dispatch_is_paced_and_keeps_priorities(world: World) -> None:
    for i in range(4, 11):
        world.node(f"n{i}", type="Light", model="bulb", fw_version="1.0")
    image = await world.image()
    urgent = await world.jobs.create_job(ADMIN_CALLER, name="urgent", image_id=image,
                                         nodes=["n2"], priority=1)
    job = await world.jobs.create_job(
        ADMIN_CALLER, name="paced", image_id=image, nodes=[f"n{i}" for i in range(1, 11)],
        force_push=True, rollout={"rollout": {"max_per_minute": 4, "max_in_flight": 3}})
    # the first allowance: 4 a minute, but at most 3 in flight; n2 waits for its urgent job
    first = sorted(n for n, _ in world.publisher.sent)
    assert first == ["n1", "n10", "n3"]  # by node id
    assert await world.delivery.dispatch("org-a", job.id) == 0  # 3 in flight already
    await world.delivery.report("org-a", "n1", {"ota_job_id": job.id, "status": "success"})
    assert await world.delivery.dispatch("org-a", job.id, budget=5) == 1
    assert await world.status(job.id, "n2") == NodeStatus.TRIGGERED
    await world.delivery.offer_next("org-a", "n2")  # its urgent job first
    assert await world.status(urgent.id, "n2") == NodeStatus.STARTED
