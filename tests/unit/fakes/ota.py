"""In-memory OtaRepository: images, jobs and per-node job statuses (state lives in
fakes.Store.ota; everything handed out or stored is a deep copy)."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from domain.blobs.model import StoredBlob
from domain.errors import NotFound, ValidationFailed
from domain.ota.model import (
    IN_FLIGHT,
    ImageQuery,
    JobListQuery,
    JobStatus,
    JobSummary,
    NodeJobStatus,
    NodeStatus,
    OtaImage,
    OtaJob,
)
from ports.repositories.uow import SYSTEM_SCOPE

T = TypeVar("T", OtaImage, OtaJob)


@dataclass
class OtaState:
    images: dict[str, OtaImage] = field(default_factory=dict)
    jobs: dict[str, OtaJob] = field(default_factory=dict)
    statuses: dict[tuple[str, str], NodeJobStatus] = field(default_factory=dict)  # job, node


def _name_matches(have: str, wanted: str | None, contains: bool) -> bool:
    if wanted is None:
        return True
    return wanted.lower() in have.lower() if contains else have == wanted


def _page(found: list[T], start_id: str | None, limit: int) -> tuple[list[T], int]:
    found.sort(key=lambda x: x.id)
    page = [x for x in found if start_id is None or x.id >= start_id][:limit]
    return [copy.deepcopy(x) for x in page], len(found)


class InMemoryOta:
    def __init__(self, store: Any, org: str) -> None:
        self.s, self.org = store, org
        self.calls = 0  # repository calls, for tests that bound them

    @property
    def _o(self) -> OtaState:
        self.calls += 1
        return self.s.ota  # type: ignore[no-any-return]

    def _mine(self, org_id: str) -> bool:
        return self.org == SYSTEM_SCOPE or org_id == self.org

    # images

    async def add_image(self, image: OtaImage) -> None:
        assert image.id not in self._o.images
        self._o.images[image.id] = copy.deepcopy(image)

    async def get_image(self, image_id: str) -> OtaImage | None:
        image = self._o.images.get(image_id)
        return copy.deepcopy(image) if image and self._mine(image.org_id) else None

    async def save_image(self, image: OtaImage) -> None:
        stored = self._o.images.get(image.id)
        if stored is not None and self._mine(stored.org_id):
            self._o.images[image.id] = copy.deepcopy(image)

    async def delete_image(self, image_id: str) -> None:
        image = self._o.images.get(image_id)
        if image is None or not self._mine(image.org_id):
            return
        del self._o.images[image_id]
        for job in self._o.jobs.values():  # like the foreign key's ON DELETE SET NULL
            if job.image_id == image_id:
                job.image_id = ""

    async def list_images(self, query: ImageQuery, *, start_id: str | None, limit: int
                          ) -> tuple[Sequence[OtaImage], int]:
        found = [im for im in self._o.images.values() if self._mine(im.org_id)
                 and (query.image_id is None or im.id == query.image_id)
                 and _name_matches(im.name, query.name, query.name_contains)
                 and (query.type is None or im.type == query.type)
                 and (query.model is None or im.model == query.model)
                 and (query.archived is None or im.archived == query.archived)]
        return _page(found, start_id, limit)

    async def jobs_using_image(self, image_id: str) -> Sequence[OtaJob]:
        return [copy.deepcopy(job) for _, job in sorted(self._o.jobs.items())
                if job.image_id == image_id and self._mine(job.org_id)]

    # jobs

    async def add_job(self, job: OtaJob, targets: Sequence[NodeJobStatus]) -> None:
        state = self._o
        assert job.id not in state.jobs
        assert not any(j.org_id == job.org_id and j.name == job.name
                       for j in state.jobs.values()), "unique (org_id, name)"
        state.jobs[job.id] = copy.deepcopy(job)
        for target in targets:
            key = (target.job_id, target.node_id)
            assert key not in state.statuses
            state.statuses[key] = copy.deepcopy(target)

    async def get_job(self, job_id: str) -> OtaJob | None:
        job = self._o.jobs.get(job_id)
        return copy.deepcopy(job) if job and self._mine(job.org_id) else None

    async def get_job_by_name(self, name: str) -> OtaJob | None:
        for job in self._o.jobs.values():
            if job.name == name and self._mine(job.org_id):
                return copy.deepcopy(job)
        return None

    async def save_job(self, job: OtaJob) -> None:
        stored = self._o.jobs.get(job.id)
        if stored is not None and self._mine(stored.org_id):
            self._o.jobs[job.id] = copy.deepcopy(job)

    async def list_jobs(self, query: JobListQuery, *, start_id: str | None, limit: int
                        ) -> tuple[Sequence[OtaJob], int]:
        found = [job for job in self._o.jobs.values() if self._mine(job.org_id)
                 and (query.job_id is None or job.id == query.job_id)
                 and _name_matches(job.name, query.name, query.name_contains)
                 and (query.image_id is None or job.image_id == query.image_id)
                 and (query.archived is None or job.archived == query.archived)]
        return _page(found, start_id, limit)

    async def active_dynamic_jobs(self) -> Sequence[OtaJob]:
        return [copy.deepcopy(job) for _, job in sorted(self._o.jobs.items())
                if self._mine(job.org_id) and job.status == JobStatus.ACTIVE
                and not job.archived and job.dynamic]

    # per-node statuses

    async def add_targets(self, targets: Sequence[NodeJobStatus]) -> int:
        state, added = self._o, 0
        for target in targets:
            key = (target.job_id, target.node_id)
            if key not in state.statuses:
                state.statuses[key] = copy.deepcopy(target)
                added += 1
        return added

    def _statuses(self, job_id: str) -> list[NodeJobStatus]:
        return sorted((st for (j, _), st in self._o.statuses.items()
                       if j == job_id and self._mine(st.org_id)), key=lambda st: st.node_id)

    async def node_status(self, job_id: str, node_id: str) -> NodeJobStatus | None:
        st = self._o.statuses.get((job_id, node_id))
        return copy.deepcopy(st) if st and self._mine(st.org_id) else None

    async def node_statuses(self, job_id: str, *, start_id: str | None, limit: int
                            ) -> Sequence[NodeJobStatus]:
        return [copy.deepcopy(st) for st in self._statuses(job_id)
                if start_id is None or st.node_id >= start_id][:limit]

    async def statuses_changed(self, job_id: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> Sequence[NodeJobStatus]:
        ordered = sorted(self._statuses(job_id), key=lambda st: (st.updated_at, st.node_id))
        return [copy.deepcopy(st) for st in ordered
                if after is None or (st.updated_at, st.node_id) > after][:limit]

    async def statuses_of_node(self, node_id: str) -> Sequence[tuple[OtaJob, NodeJobStatus]]:
        state = self._o
        pairs = [(copy.deepcopy(state.jobs[j]), copy.deepcopy(st))
                 for (j, n), st in state.statuses.items()
                 if n == node_id and self._mine(st.org_id) and j in state.jobs
                 and not state.jobs[j].archived]
        pairs.sort(key=lambda js: (js[0].priority, js[0].created_at, js[0].id))
        return pairs

    async def save_statuses(self, statuses: Sequence[NodeJobStatus]) -> None:
        state = self._o
        for st in statuses:
            stored = state.statuses.get((st.job_id, st.node_id))
            if stored is not None and self._mine(stored.org_id):
                stored.status, stored.additional_info = st.status, st.additional_info
                stored.updated_at, stored.triggered_at = st.updated_at, st.triggered_at
                stored.attempts = st.attempts

    async def summary(self, job_id: str) -> JobSummary:
        counts = Counter(st.status.value for st in self._statuses(job_id))
        return JobSummary(total=sum(counts.values()), counts=dict(counts))

    async def summaries(self, job_ids: Sequence[str]) -> dict[str, JobSummary]:
        return {job_id: await self.summary(job_id) for job_id in job_ids}

    async def waiting_targets(self, job_id: str, limit: int, *, after: str | None = None
                              ) -> Sequence[NodeJobStatus]:
        return [copy.deepcopy(st) for st in self._statuses(job_id)
                if st.status == NodeStatus.TRIGGERED
                and (after is None or st.node_id > after)][:limit]

    async def busy_nodes(self, node_ids: Sequence[str], *, before_priority: int
                         ) -> set[str]:
        wanted, state = set(node_ids), self._o
        return {st.node_id for (job_id, node_id), st in state.statuses.items()
                if node_id in wanted and self._mine(st.org_id)
                and state.jobs[job_id].status == JobStatus.ACTIVE
                and not state.jobs[job_id].user_approval
                and (st.status in IN_FLIGHT or (st.status == NodeStatus.TRIGGERED
                                                and st.priority < before_priority))}


class FakeOtaPublisher:
    """Records the offers sent on otaurl."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def offer(self, node_id: str, payload: dict[str, Any]) -> None:
        self.sent.append((node_id, payload))

    def offered(self) -> list[tuple[str, str]]:
        """(node id, job id) of every offer, in order."""
        return [(node_id, payload["ota_job_id"]) for node_id, payload in self.sent]


class InMemoryBlobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int
                  ) -> StoredBlob:
        body = b"".join([c async for c in chunks])
        if len(body) > max_bytes:
            raise ValidationFailed("too large", reason="blob_too_large")
        self.data[key] = body
        return StoredBlob(key=key, size=len(body), md5=hashlib.md5(body).hexdigest())

    async def open(self, key: str) -> AsyncIterator[bytes]:
        if key not in self.data:
            raise NotFound("no blob", reason="blob_not_found")
        body = self.data[key]

        async def stream() -> AsyncIterator[bytes]:
            yield body
        return stream()

    async def head(self, key: str) -> StoredBlob | None:
        body = self.data.get(key)
        return None if body is None else StoredBlob(key, len(body),
                                                    hashlib.md5(body).hexdigest())

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)
