"""SQL repository of user-node mapping requests and their row mapper; it never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.devices import (
    node_mapping_requests,
)
from domain.devices.model import MappingRequest


def _mapping_request(row: Any) -> MappingRequest:
    extras = row.extras or {}
    return MappingRequest(id=row.id, org_id=row.org_id, user_id=row.user_id,
                          node_id=row.node_id, operation=row.operation, status=row.status,
                          created_at=aware(row.created_at),  # type: ignore[arg-type]
                          kind=row.kind, secret_hash=row.secret_hash or "",
                          challenge=row.challenge or "", expires_at=aware(row.expires_at),
                          tags=list(extras.get("tags", [])), metadata=extras.get("metadata"),
                          reset=bool(extras.get("reset", False)),
                          group_id=extras.get("group_id"))


def _mapping_values(request: MappingRequest) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if request.tags:
        extras["tags"] = request.tags
    if request.metadata is not None:
        extras["metadata"] = request.metadata
    if request.reset:
        extras["reset"] = True
    if request.group_id is not None:
        extras["group_id"] = request.group_id
    return {"user_id": request.user_id, "node_id": request.node_id,
            "operation": request.operation, "status": request.status, "kind": request.kind,
            "secret_hash": request.secret_hash or None, "challenge": request.challenge or None,
            "expires_at": request.expires_at, "extras": extras or None}


class SqlMappingRequestRepository(_Scoped):
    async def add(self, request: MappingRequest) -> None:
        await self._exec(insert(node_mapping_requests).values(
            id=request.id, org_id=request.org_id, created_at=request.created_at,
            **_mapping_values(request)))

    async def get(self, request_id: str) -> MappingRequest | None:
        r = node_mapping_requests
        row = (await self._exec(select(r).where(r.c.id == request_id,
                                                self._in_scope(r.c.org_id)))).first()
        return _mapping_request(row) if row else None

    async def save(self, request: MappingRequest) -> None:
        r = node_mapping_requests
        await self._exec(update(r).where(r.c.id == request.id, self._in_scope(r.c.org_id))
                         .values(**_mapping_values(request)))

    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        r = node_mapping_requests
        rows = (await self._exec(select(r).where(
            r.c.node_id == node_id, r.c.status == "requested", r.c.kind == kind,
            self._in_scope(r.c.org_id)).order_by(r.c.created_at, r.c.id).limit(100))).all()
        return [_mapping_request(row) for row in rows]

    async def delete_for_node(self, node_id: str) -> int:
        r = node_mapping_requests
        result = await self._exec(delete(r).where(r.c.node_id == node_id,
                                                  self._in_scope(r.c.org_id)))
        return int(result.rowcount or 0)
