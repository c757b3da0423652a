"""OTA: images, jobs and per-node job statuses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.ota.model import (
    ImageQuery,
    JobListQuery,
    JobSummary,
    NodeJobStatus,
    OtaImage,
    OtaJob,
)


class OtaRepository(Protocol):
    """OTA images, jobs and the per-node status of each job, of the scoped organization."""

    async def add_image(self, image: OtaImage) -> None: ...
    async def get_image(self, image_id: str) -> OtaImage | None: ...
    async def save_image(self, image: OtaImage) -> None: ...
    async def delete_image(self, image_id: str) -> None: ...
    async def list_images(self, query: ImageQuery, *, start_id: str | None, limit: int
                          ) -> tuple[Sequence[OtaImage], int]:
        """Images matching the query ordered by id from start_id on, at most limit; and how
        many match in all."""
        ...

    async def jobs_using_image(self, image_id: str) -> Sequence[OtaJob]: ...

    async def add_job(self, job: OtaJob, targets: Sequence[NodeJobStatus]) -> None:
        """The job and one "triggered" status per target node (batched)."""
        ...

    async def get_job(self, job_id: str) -> OtaJob | None: ...
    async def get_job_by_name(self, name: str) -> OtaJob | None: ...
    async def save_job(self, job: OtaJob) -> None: ...
    async def list_jobs(self, query: JobListQuery, *, start_id: str | None, limit: int
                        ) -> tuple[Sequence[OtaJob], int]: ...
    async def active_dynamic_jobs(self) -> Sequence[OtaJob]: ...

    async def add_targets(self, targets: Sequence[NodeJobStatus]) -> int:
        """Adds statuses for (job, node) pairs not there yet (a dynamic job picking up a
        node); returns how many were new."""
        ...

    async def node_status(self, job_id: str, node_id: str) -> NodeJobStatus | None: ...
    async def node_statuses(self, job_id: str, *, start_id: str | None, limit: int
                            ) -> Sequence[NodeJobStatus]:
        """A job's target statuses ordered by node id, from start_id on."""
        ...

    async def statuses_changed(self, job_id: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> Sequence[NodeJobStatus]:
        """A job's target statuses ordered by (updated_at, node_id), strictly after that
        pair when given: what changed since a reader last looked."""
        ...

    async def statuses_of_node(self, node_id: str) -> Sequence[tuple[OtaJob, NodeJobStatus]]:
        """Every job the node is a target of (not archived), with its status there."""
        ...

    async def save_statuses(self, statuses: Sequence[NodeJobStatus]) -> None:
        """Writes status, additional_info, updated_at, triggered_at and attempts (batched)."""
        ...

    async def summary(self, job_id: str) -> JobSummary:
        """How many targets are in each status (one query)."""
        ...

    async def summaries(self, job_ids: Sequence[str]) -> dict[str, JobSummary]:
        """summary() of several jobs in one query (every id gets one, empty if unknown)."""
        ...

    async def waiting_targets(self, job_id: str, limit: int, *, after: str | None = None
                              ) -> Sequence[NodeJobStatus]:
        """Targets not offered yet (status "triggered"), by node id, those strictly after
        the node id `after` (for dispatch)."""
        ...

    async def busy_nodes(self, node_ids: Sequence[str], *, before_priority: int
                         ) -> set[str]:
        """The nodes among these that must not be offered a job of that priority now: one
        with a job in flight (started, delayed or in-progress in an active job), or a job of
        a strictly higher priority (lower number) still waiting; in one query."""
        ...
