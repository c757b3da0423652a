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
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sql.kit import Transaction, _Scoped, aware
from adapters.sql.tables.ota import ota_images, ota_jobs, ota_node_status
from domain.errors import Conflict
from domain.ota.model import (
    IN_FLIGHT,
    AbortRule,
    DownloadWindow,
    ImageKind,
    ImageQuery,
    JobListQuery,
    JobQuery,
    JobStatus,
    JobSummary,
    NodeJobStatus,
    NodeStatus,
    OtaImage,
    OtaJob,
    Rollout,
)

i, j, s = ota_images.c, ota_jobs.c, ota_node_status.c
_STATUS_FIELDS = ("status", "additional_info", "updated_at", "triggered_at", "attempts")


def _hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def _image_values(image: OtaImage) -> dict[str, Any]:
    return {"name": image.name, "kind": image.kind.value, "type": image.type,
            "model": image.model, "fw_version": image.fw_version, "size": image.size,
            "md5": image.md5, "blob_key": image.blob_key, "uploaded": image.uploaded,
            "archived": image.archived, "expected_md5": image.expected_md5,
            "created_by": image.created_by, "upload_expires_at": image.upload_expires_at}


def _image(row: Any) -> OtaImage:
    return OtaImage(id=row.id, org_id=row.org_id, name=row.name, kind=ImageKind(row.kind),
                    type=row.type, model=row.model, fw_version=row.fw_version,
                    size=int(row.size), md5=row.md5, blob_key=row.blob_key,
                    uploaded=row.uploaded, archived=row.archived,
                    expected_md5=row.expected_md5, created_by=row.created_by,
                    created_at=aware(row.created_at),  # type: ignore[arg-type]
                    upload_expires_at=aware(row.upload_expires_at))


def _job_values(job: OtaJob) -> dict[str, Any]:
    query, window, abort = job.query, job.window, job.abort
    return {"name": job.name, "image_id": job.image_id or None,
            "description": job.description, "priority": job.priority,
            "timeout_seconds": job.timeout_seconds, "force_push": job.force_push,
            "user_approval": job.user_approval, "notify": job.notify,
            "nodes": list(job.nodes), "groups": list(job.groups),
            "query_node_type": query.node_type if query else None,
            "query_node_model": query.node_model if query else None,
            "query_node_fw_version": query.node_fw_version if query else None,
            "window_start": _hhmm(window.start) if window else None,
            "window_end": _hhmm(window.end) if window else None,
            "valid_from": job.valid_from, "valid_until": job.valid_until,
            "rollout_max_per_minute": job.rollout.max_per_minute,
            "rollout_max_in_flight": job.rollout.max_in_flight,
            "abort_failure_percent": abort.failure_percent if abort else None,
            "abort_min_executed": abort.min_executed if abort else None,
            "metadata": job.metadata, "status": job.status.value,
            "status_reason": job.status_reason, "archived": job.archived,
            "created_by": job.created_by, "ended_at": job.ended_at}


def _job(row: Any) -> OtaJob:
    values = (row.query_node_type, row.query_node_model, row.query_node_fw_version)
    query = None if all(v is None for v in values) else JobQuery(
        node_type=values[0], node_model=values[1], node_fw_version=values[2])
    window = None if row.window_start is None or row.window_end is None else DownloadWindow(
        time.fromisoformat(row.window_start), time.fromisoformat(row.window_end))
    abort = None if row.abort_failure_percent is None or row.abort_min_executed is None \
        else AbortRule(float(row.abort_failure_percent), int(row.abort_min_executed))
    return OtaJob(id=row.id, org_id=row.org_id, name=row.name, image_id=row.image_id or "",
                  description=row.description, priority=row.priority,
                  timeout_seconds=row.timeout_seconds, force_push=row.force_push,
                  user_approval=row.user_approval, notify=row.notify,
                  nodes=list(row.nodes or []), groups=list(row.groups or []), query=query,
                  window=window, valid_from=aware(row.valid_from),
                  valid_until=aware(row.valid_until),
                  rollout=Rollout(max_per_minute=row.rollout_max_per_minute,
                                  max_in_flight=row.rollout_max_in_flight),
                  abort=abort, metadata=row.metadata, status=JobStatus(row.status),
                  status_reason=row.status_reason, archived=row.archived,
                  created_by=row.created_by,
                  created_at=aware(row.created_at),  # type: ignore[arg-type]
                  ended_at=aware(row.ended_at))


def _status_row(status: NodeJobStatus) -> dict[str, Any]:
    return {"job_id": status.job_id, "node_id": status.node_id, "org_id": status.org_id,
            "status": status.status.value, "priority": status.priority,
            "additional_info": status.additional_info, "updated_at": status.updated_at,
            "triggered_at": status.triggered_at, "attempts": status.attempts}


def _status(row: Any, prefix: str = "") -> NodeJobStatus:
    """A status from a row; prefix: its columns' label prefix in a joined row."""
    m = {name: row._mapping[prefix + name] for name in ota_node_status.c.keys()}
    return NodeJobStatus(job_id=m["job_id"], node_id=m["node_id"], org_id=m["org_id"],
                         status=NodeStatus(m["status"]), priority=m["priority"],
                         additional_info=m["additional_info"],
                         updated_at=aware(m["updated_at"]),  # type: ignore[arg-type]
                         triggered_at=aware(m["triggered_at"]), attempts=m["attempts"])


def _name_clause(column: Any, name: str, contains: bool) -> Any:
    if contains:
        return func.lower(column).contains(name.lower(), autoescape=True)
    return column == name


class SqlOtaRepository(_Scoped):
    def __init__(self, tx: Transaction, org_id: str) -> None:
        super().__init__(tx, org_id)
        self._revisions: dict[str, int] = {}  # image id -> the revision this transaction read

    def _read_image(self, row: Any) -> OtaImage:
        self._revisions[row.id] = int(row.revision)
        return _image(row)

    async def _dialect(self) -> str:
        return str((await self._tx.connection()).dialect.name)

    async def _ordered(self, column: Any) -> Any:
        """The column compared byte-wise (COLLATE "C" on PostgreSQL)."""
        return column.collate("C") if await self._dialect() == "postgresql" else column

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
            **_image_values(image)))
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
            revision=i.revision + 1, **_image_values(image)))
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
        return [_job(row) for row in sorted(rows, key=lambda r: str(r.id))]

    # jobs

    async def add_job(self, job: OtaJob, targets: Sequence[NodeJobStatus]) -> None:
        await self._exec(insert(ota_jobs).values(
            id=job.id, org_id=job.org_id, created_at=job.created_at, **_job_values(job)))
        if targets:
            await self._exec(insert(ota_node_status), [_status_row(t) for t in targets])

    async def _one_job(self, *where: Any) -> OtaJob | None:
        row = (await self._exec(select(ota_jobs).where(
            self._in_scope(j.org_id), *where))).first()
        return _job(row) if row else None

    async def get_job(self, job_id: str) -> OtaJob | None:
        return await self._one_job(j.id == job_id)

    async def get_job_by_name(self, name: str) -> OtaJob | None:
        return await self._one_job(j.name == name)

    async def save_job(self, job: OtaJob) -> None:
        await self._exec(update(ota_jobs).where(
            j.id == job.id, self._in_scope(j.org_id)).values(**_job_values(job)))

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
        return await self._page(ota_jobs, where, _job, start_id=start_id, limit=limit)

    async def active_dynamic_jobs(self) -> Sequence[OtaJob]:
        rows = (await self._exec(select(ota_jobs).where(
            self._in_scope(j.org_id), j.status == JobStatus.ACTIVE.value,
            j.archived.is_(False),
            or_(j.query_node_type.is_not(None), j.query_node_model.is_not(None),
                j.query_node_fw_version.is_not(None))))).all()
        return [_job(row) for row in sorted(rows, key=lambda r: str(r.id))]

    # per-node statuses

    async def add_targets(self, targets: Sequence[NodeJobStatus]) -> int:
        unique = {(t.job_id, t.node_id): t for t in targets}
        if not unique:
            return 0
        dialect_insert = pg_insert if await self._dialect() == "postgresql" else sqlite_insert
        # one executemany; RETURNING yields only the rows actually inserted
        statement = dialect_insert(ota_node_status).on_conflict_do_nothing(
            index_elements=["job_id", "node_id"]).returning(s.node_id)
        result = await self._exec(statement, [_status_row(t) for t in unique.values()])
        return len(result.all())

    async def node_status(self, job_id: str, node_id: str) -> NodeJobStatus | None:
        row = (await self._exec(select(ota_node_status).where(
            s.job_id == job_id, s.node_id == node_id, self._in_scope(s.org_id)))).first()
        return _status(row) if row else None

    async def node_statuses(self, job_id: str, *, start_id: str | None, limit: int
                            ) -> Sequence[NodeJobStatus]:
        order = await self._ordered(s.node_id)
        query = select(ota_node_status).where(s.job_id == job_id, self._in_scope(s.org_id))
        if start_id is not None:
            query = query.where(order >= start_id)
        rows = (await self._exec(query.order_by(order).limit(limit))).all()
        return [_status(row) for row in rows]

    async def statuses_changed(self, job_id: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> Sequence[NodeJobStatus]:
        node = await self._ordered(s.node_id)
        query = select(ota_node_status).where(s.job_id == job_id, self._in_scope(s.org_id))
        if after is not None:
            moment, node_id = after
            query = query.where(or_(s.updated_at > moment,
                                    and_(s.updated_at == moment, node > node_id)))
        rows = (await self._exec(query.order_by(s.updated_at, node).limit(limit))).all()
        return [_status(row) for row in rows]

    async def statuses_of_node(self, node_id: str) -> Sequence[tuple[OtaJob, NodeJobStatus]]:
        status_columns = [column.label(f"st_{column.name}") for column in ota_node_status.c]
        rows = (await self._exec(
            select(ota_jobs, *status_columns)
            .join_from(ota_node_status, ota_jobs, s.job_id == j.id)
            .where(s.node_id == node_id, self._in_scope(s.org_id), self._in_scope(j.org_id),
                   j.archived.is_(False)))).all()
        pairs = [(_job(row), _status(row, "st_")) for row in rows]
        pairs.sort(key=lambda js: (js[0].priority, js[0].created_at, js[0].id))
        return pairs

    async def save_statuses(self, statuses: Sequence[NodeJobStatus]) -> None:
        if not statuses:
            return
        await self._exec(
            update(ota_node_status).where(
                and_(s.job_id == bindparam("b_job_id"), s.node_id == bindparam("b_node_id")),
                self._in_scope(s.org_id))
            .values({name: bindparam(f"b_{name}") for name in _STATUS_FIELDS}),
            [{"b_job_id": st.job_id, "b_node_id": st.node_id,
              **{f"b_{k}": v for k, v in _status_row(st).items() if k in _STATUS_FIELDS}}
             for st in statuses])

    async def summary(self, job_id: str) -> JobSummary:
        return (await self.summaries([job_id]))[job_id]

    async def summaries(self, job_ids: Sequence[str]) -> dict[str, JobSummary]:
        counts: dict[str, dict[str, int]] = {job_id: {} for job_id in job_ids}
        if job_ids:
            rows = (await self._exec(select(s.job_id, s.status, func.count()).where(
                s.job_id.in_(list(job_ids)), self._in_scope(s.org_id))
                .group_by(s.job_id, s.status))).all()
            for job_id, status, count in rows:
                counts[job_id][str(status)] = int(count)
        return {job_id: JobSummary(total=sum(c.values()), counts=c)
                for job_id, c in counts.items()}

    async def waiting_targets(self, job_id: str, limit: int, *, after: str | None = None
                              ) -> Sequence[NodeJobStatus]:
        order = await self._ordered(s.node_id)
        q = select(ota_node_status).where(
            s.job_id == job_id, s.status == NodeStatus.TRIGGERED.value,
            self._in_scope(s.org_id))
        if after is not None:
            q = q.where(order > after)
        rows = (await self._exec(q.order_by(order).limit(limit))).all()
        return [_status(row) for row in rows]

    async def busy_nodes(self, node_ids: Sequence[str], *, before_priority: int
                         ) -> set[str]:
        if not node_ids:
            return set()
        busy = [st.value for st in IN_FLIGHT]
        rows = (await self._exec(
            select(s.node_id).distinct()
            .select_from(ota_node_status.join(ota_jobs, ota_jobs.c.id == s.job_id))
            .where(s.node_id.in_(list(node_ids)),
                   ota_jobs.c.status == JobStatus.ACTIVE.value,
                   ota_jobs.c.user_approval.is_(False),
                   or_(s.status.in_(busy), and_(s.status == NodeStatus.TRIGGERED.value,
                                                s.priority < before_priority)),
                   self._in_scope(s.org_id))
        )).scalars().all()
        return set(rows)

