"""SQL repository of sharing requests (of nodes and of groups) and its row mapper; it never
commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.sharing import node_sharing_requests
from domain.sharing.model import SharingRequest


def _sharing_request(row: Any) -> SharingRequest:
    return SharingRequest(id=row.id, org_id=row.org_id, from_user_id=row.from_user_id,
                          to_user_id=row.to_user_id, node_ids=list(row.node_ids),
                          kind=row.kind, group_ids=list(row.group_ids or []),
                          created_at=aware(row.created_at),  # type: ignore[arg-type]
                          expires_at=aware(row.expires_at), primary=row.primary_role,
                          transfer=row.transfer, new_role=row.new_role,
                          metadata=row.request_metadata, status=row.status,
                          settled_at=aware(row.settled_at))


class SqlSharingRequestRepository(_Scoped):
    async def add(self, request: SharingRequest) -> None:
        await self._exec(insert(node_sharing_requests).values(
            id=request.id, org_id=request.org_id, from_user_id=request.from_user_id,
            to_user_id=request.to_user_id, node_ids=request.node_ids,
            primary_role=request.primary, transfer=request.transfer,
            new_role=request.new_role, request_metadata=request.metadata,
            status=request.status, kind=request.kind, group_ids=request.group_ids or None,
            created_at=request.created_at, expires_at=request.expires_at,
            settled_at=request.settled_at))

    async def get(self, request_id: str) -> SharingRequest | None:
        r = node_sharing_requests
        row = (await self._exec(select(r).where(r.c.id == request_id,
                                                self._in_scope(r.c.org_id)))).first()
        return _sharing_request(row) if row else None

    async def save(self, request: SharingRequest) -> None:
        r = node_sharing_requests
        await self._exec(update(r).where(r.c.id == request.id, self._in_scope(r.c.org_id))
                         .values(status=request.status, settled_at=request.settled_at))

    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        r = node_sharing_requests
        owner = r.c.from_user_id if sent else r.c.to_user_id
        query = select(r).where(owner == user_id, self._in_scope(r.c.org_id))
        if kind is not None:
            query = query.where(r.c.kind == kind)
        if start_id is not None:
            query = query.where(r.c.id >= start_id)
        rows = (await self._exec(query.order_by(r.c.id).limit(limit))).all()
        return [_sharing_request(row) for row in rows]
