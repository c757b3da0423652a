"""SQL repository of an organization's OTA images, jobs and per-node job statuses
(OtaRepository). Every method is a fixed number of statements, however many targets: targets
are written with one executemany, a summary is one GROUP BY, a node's jobs one join.

Ids are compared byte-wise on both databases (COLLATE "C" on PostgreSQL), so pages follow the
same order as Python's sorted(). A name search ("contains") is case-insensitive on both, with
% and _ in the searched text matched literally. A job whose image was deleted (with force)
keeps its row; its image_id is null in the table and "" in the domain.

Image writes are optimistic: every write bumps the row's revision, and save_image of an image
this unit of work read applies only if the row still has the revision it read, else
Conflict(image_changed). So two transactions that read an image and then write it cannot both
win (two PUTs racing on one upload link, an upload racing a confirm or a new upload request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from adapters.sql.kit import Transaction
from adapters.sql.ota_rows import (
    image_of,
    image_values,
    job_of,
    job_values,
    status_values,
)
from adapters.sql.ota_statuses import SqlOtaStatuses
from adapters.sql.tables.ota import ota_images, ota_jobs, ota_node_status
from domain.errors import Conflict
from domain.ota.model import (
    ImageQuery,
    JobListQuery,
    JobStatus,
    NodeJobStatus,
    OtaImage,
    OtaJob,
)

i, j, s = ota_images.c, ota_jobs.c, ota_node_status.c


def _name_clause(column: Any, name: str, contains: bool) -> Any:
    if contains:
        return func.lower(column).contains(name.lower(), autoescape=True)
    return column == name


class SqlOtaRepository(SqlOtaStatuses):
    """OtaRepository: images and jobs here, per-node statuses in SqlOtaStatuses."""

    def __init__(self, tx: Transaction, org_id: str) -> None:
        super().__init__(tx, org_id)
        self._revisions: dict[str, int] = {}  # image id -> the revision this transaction read

    def _read_image(self, row: Any) -> OtaImage:
        self._revisions[row.id] = int(row.revision)
        return image_of(row)

    async def _page(self, table: Any, where: list[Any], convert: Any, *,
                    start_id: str | None, limit: int) -> tuple[list[Any], int]:
        total = (await self._exec(select(func.count()).select_from(table).where(*where))
                 ).scalar_one()
        order = await self._ordered(table.c.id)
        query = select(table).where(*where)
        if start_id is not None:
            query = query.where(order >= start_id)
        rows = (await self._exec(query.order_by(order).limit(limit))).all()
        return [convert(row) for row in rows], int(total)

    # images

    async def add_image(self, image: OtaImage) -> None:
        await self._exec(insert(ota_images).values(
            id=image.id, org_id=image.org_id, created_at=image.created_at, revision=0,
            **image_values(image)))
        self._revisions[image.id] = 0

    async def get_image(self, image_id: str) -> OtaImage | None:
        row = (await self._exec(select(ota_images).where(
            i.id == image_id, self._in_scope(i.org_id)))).first()
        return self._read_image(row) if row else None

    async def save_image(self, image: OtaImage) -> None:
        where = [i.id == image.id, self._in_scope(i.org_id)]
        read = self._revisions.get(image.id)
        if read is not None:
            where.append(i.revision == read)
        result = await self._exec(update(ota_images).where(*where).values(
            revision=i.revision + 1, **image_values(image)))
        if read is None:
            return
        if result.rowcount != 1:
            raise Conflict("The OTA image was changed meanwhile; read it again",
                           reason="image_changed")
        self._revisions[image.id] = read + 1

    async def delete_image(self, image_id: str) -> None:
        # the jobs that used it keep their rows: image_id is set null by the foreign key
        await self._exec(delete(ota_images).where(i.id == image_id,
                                                  self._in_scope(i.org_id)))

    async def list_images(self, query: ImageQuery, *, start_id: str | None, limit: int
                          ) -> tuple[Sequence[OtaImage], int]:
        where = [self._in_scope(i.org_id)]
        if query.image_id is not None:
            where.append(i.id == query.image_id)
        if query.name is not None:
            where.append(_name_clause(i.name, query.name, query.name_contains))
        if query.type is not None:
            where.append(i.type == query.type)
        if query.model is not None:
            where.append(i.model == query.model)
        if query.archived is not None:
            where.append(i.archived.is_(query.archived))
        return await self._page(ota_images, where, self._read_image, start_id=start_id,
                                limit=limit)

    async def jobs_using_image(self, image_id: str) -> Sequence[OtaJob]:
        rows = (await self._exec(select(ota_jobs).where(
            j.image_id == image_id, self._in_scope(j.org_id)))).all()
        return [job_of(row) for row in sorted(rows, key=lambda r: str(r.id))]

    # jobs

    async def add_job(self, job: OtaJob, targets: Sequence[NodeJobStatus]) -> None:
        await self._exec(insert(ota_jobs).values(
            id=job.id, org_id=job.org_id, created_at=job.created_at, **job_values(job)))
        if targets:
            await self._exec(insert(ota_node_status), [status_values(t) for t in targets])

    async def _one_job(self, *where: Any) -> OtaJob | None:
        row = (await self._exec(select(ota_jobs).where(
            self._in_scope(j.org_id), *where))).first()
        return job_of(row) if row else None

    async def get_job(self, job_id: str) -> OtaJob | None:
        return await self._one_job(j.id == job_id)

    async def get_job_by_name(self, name: str) -> OtaJob | None:
        return await self._one_job(j.name == name)

    async def save_job(self, job: OtaJob) -> None:
        await self._exec(update(ota_jobs).where(
            j.id == job.id, self._in_scope(j.org_id)).values(**job_values(job)))

    async def list_jobs(self, query: JobListQuery, *, start_id: str | None, limit: int
                        ) -> tuple[Sequence[OtaJob], int]:
        where = [self._in_scope(j.org_id)]
        if query.job_id is not None:
            where.append(j.id == query.job_id)
        if query.name is not None:
            where.append(_name_clause(j.name, query.name, query.name_contains))
        if query.image_id is not None:
            where.append(j.image_id == query.image_id)
        if query.archived is not None:
            where.append(j.archived.is_(query.archived))
        return await self._page(ota_jobs, where, job_of, start_id=start_id, limit=limit)

    async def active_dynamic_jobs(self) -> Sequence[OtaJob]:
        rows = (await self._exec(select(ota_jobs).where(
            self._in_scope(j.org_id), j.status == JobStatus.ACTIVE.value,
            j.archived.is_(False),
            or_(j.query_node_type.is_not(None), j.query_node_model.is_not(None),
                j.query_node_fw_version.is_not(None))))).all()
        return [job_of(row) for row in sorted(rows, key=lambda r: str(r.id))]
