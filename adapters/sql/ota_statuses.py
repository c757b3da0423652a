"""SQL of the per-node statuses of an organization's OTA jobs: targets added in one
executemany, pages and changes by node, a node's jobs in one join, summaries in one GROUP BY,
and the nodes busy with another update. The base of adapters.sql.ota.SqlOtaRepository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sql.kit import _Scoped
from adapters.sql.ota_rows import job_of, status_of, status_values
from adapters.sql.tables.ota import ota_jobs, ota_node_status
from domain.ota.model import IN_FLIGHT, JobStatus, JobSummary, NodeJobStatus, NodeStatus, OtaJob

j, s = ota_jobs.c, ota_node_status.c
_STATUS_FIELDS = ("status", "additional_info", "updated_at", "triggered_at", "attempts")


class SqlOtaStatuses(_Scoped):
    """The ota_node_status half of OtaRepository, and the dialect checks both halves use."""

    async def _dialect(self) -> str:
        return str((await self._tx.connection()).dialect.name)

    async def _ordered(self, column: Any) -> Any:
        """The column compared byte-wise (COLLATE "C" on PostgreSQL)."""
        return column.collate("C") if await self._dialect() == "postgresql" else column


    async def add_targets(self, targets: Sequence[NodeJobStatus]) -> int:
        unique = {(t.job_id, t.node_id): t for t in targets}
        if not unique:
            return 0
        dialect_insert = pg_insert if await self._dialect() == "postgresql" else sqlite_insert
        # one executemany; RETURNING yields only the rows actually inserted
        statement = dialect_insert(ota_node_status).on_conflict_do_nothing(
            index_elements=["job_id", "node_id"]).returning(s.node_id)
        result = await self._exec(statement, [status_values(t) for t in unique.values()])
        return len(result.all())

    async def node_status(self, job_id: str, node_id: str) -> NodeJobStatus | None:
        row = (await self._exec(select(ota_node_status).where(
            s.job_id == job_id, s.node_id == node_id, self._in_scope(s.org_id)))).first()
        return status_of(row) if row else None

    async def node_statuses(self, job_id: str, *, start_id: str | None, limit: int
                            ) -> Sequence[NodeJobStatus]:
        order = await self._ordered(s.node_id)
        query = select(ota_node_status).where(s.job_id == job_id, self._in_scope(s.org_id))
        if start_id is not None:
            query = query.where(order >= start_id)
        rows = (await self._exec(query.order_by(order).limit(limit))).all()
        return [status_of(row) for row in rows]

    async def statuses_changed(self, job_id: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> Sequence[NodeJobStatus]:
        node = await self._ordered(s.node_id)
        query = select(ota_node_status).where(s.job_id == job_id, self._in_scope(s.org_id))
        if after is not None:
            moment, node_id = after
            query = query.where(or_(s.updated_at > moment,
                                    and_(s.updated_at == moment, node > node_id)))
        rows = (await self._exec(query.order_by(s.updated_at, node).limit(limit))).all()
        return [status_of(row) for row in rows]

    async def statuses_of_node(self, node_id: str) -> Sequence[tuple[OtaJob, NodeJobStatus]]:
        status_columns = [column.label(f"st_{column.name}") for column in ota_node_status.c]
        rows = (await self._exec(
            select(ota_jobs, *status_columns)
            .join_from(ota_node_status, ota_jobs, s.job_id == j.id)
            .where(s.node_id == node_id, self._in_scope(s.org_id), self._in_scope(j.org_id),
                   j.archived.is_(False)))).all()
        pairs = [(job_of(row), status_of(row, "st_")) for row in rows]
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
              **{f"b_{k}": v for k, v in status_values(st).items() if k in _STATUS_FIELDS}}
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
        return [status_of(row) for row in rows]

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

