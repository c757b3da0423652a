"""A world for OTA unit tests: OtaImages, OtaDelivery and OtaJobs wired on the in-memory
store with a fixed clock."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN
from domain.devices.model import Connectivity, Node, NodeSecrets
from domain.ota.delivery import OtaDelivery
from domain.ota.images import OtaImages
from domain.ota.jobs import OtaJobs
from domain.ota.model import NodeJobStatus, NodeStatus, OtaJob
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds, Store
from tests.unit.fakes.ota import FakeOtaPublisher, InMemoryBlobs

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORG = "org-a"
ADMIN_OF_ORG = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=ORG, user_id="a1",
                                          roles=frozenset({ADMIN})))


class OtaWorld:
    """One organization's nodes, OTA images and jobs on the in-memory store."""

    def __init__(self) -> None:
        self.store, self.clock = Store(), FakeClock(T0)
        self.publisher, self.blobs = FakeOtaPublisher(), InMemoryBlobs()
        self.images = OtaImages(uow=self.uow, ids=SequentialIds(),  # type: ignore[arg-type]
                                clock=self.clock, authorizer=AllowAll(), blobs=self.blobs,
                                link_secret=b"k" * 32)
        self.delivery = self.new_delivery()
        self.jobs = OtaJobs(uow=self.uow, ids=SequentialIds(),  # type: ignore[arg-type]
                            clock=self.clock, authorizer=AllowAll(), delivery=self.delivery)

    def uow(self, org: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, org)

    def new_delivery(self) -> OtaDelivery:
        """A delivery with no memory of earlier sweeps (a gateway restart)."""
        return OtaDelivery(uow=self.uow, clock=self.clock, images=self.images,  # type: ignore[arg-type]
                           publisher=self.publisher, base_url="http://gw")

    def node(self, node_id: str, *, connected: bool = True, org: str = ORG,
             **fields: Any) -> str:
        config = {"type": "Light", "model": "bulb", "fw_version": "1.0", **fields}
        self.store.nodes[node_id] = Node(
            id=node_id, org_id=org, created_at=T0,
            connectivity=Connectivity(connected=connected, timestamp_ms=1), **config)
        self.store.node_secrets[node_id] = NodeSecrets(node_id=node_id, org_id=org,
                                                       mqtt_password_hash="x",
                                                       secret_key_hash="y")
        return node_id

    async def image(self, name: str = "fw") -> str:
        made = await self.images.create_image(
            ADMIN_OF_ORG, name=name, base64_fwimage=base64.b64encode(b"\x00" * 64).decode(),
            fw_version="2.0", model="bulb", type="Light")
        return made.id

    async def job(self, name: str, nodes: list[str], **fields: Any) -> OtaJob:
        return await self.jobs.create_job(ADMIN_OF_ORG, name=name,
                                          image_id=await self.image(f"{name}-fw"),
                                          nodes=nodes, **fields)

    async def status(self, job_id: str, node_id: str) -> NodeJobStatus:
        async with self.uow(ORG) as uow:
            found = await uow.ota.node_status(job_id, node_id)
        assert found is not None
        return found

    async def statuses(self, job_id: str, *node_ids: str) -> list[NodeStatus]:
        return [(await self.status(job_id, n)).status for n in node_ids]

    async def job_state(self, job_id: str) -> OtaJob:
        async with self.uow(ORG) as uow:
            found = await uow.ota.get_job(job_id)
        assert found is not None
        return found
