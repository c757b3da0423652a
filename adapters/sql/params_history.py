"""SQL repository of nodes' params history (added in one executemany, pruned per node); it
never commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import bindparam, delete, insert, select

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.devices import (
    node_params_history,
)
from domain.devices.model import ParamsHistoryEntry


class SqlParamsHistoryRepository(_Scoped):
    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None:
        if entries:
            await self._exec(insert(node_params_history), [
                {"org_id": e.org_id, "node_id": e.node_id, "version": e.version, "at": e.at,
                 "params": e.params} for e in entries])

    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        h = node_params_history
        rows = (await self._exec(select(h).where(
            h.c.node_id == node_id, self._in_scope(h.c.org_id))
            .order_by(h.c.version.desc()).limit(limit))).all()
        return [ParamsHistoryEntry(org_id=r.org_id, node_id=r.node_id, version=r.version,
                                   at=aware(r.at), params=r.params)  # type: ignore[arg-type]
                for r in rows]

    async def delete_for_node(self, node_id: str) -> int:
        h = node_params_history
        result = await self._exec(delete(h).where(h.c.node_id == node_id,
                                                  self._in_scope(h.c.org_id)))
        return int(result.rowcount or 0)

    async def prune(self, below: Mapping[str, int]) -> None:
        if below:
            h = node_params_history
            await self._exec(delete(h).where(
                h.c.node_id == bindparam("b_node"), h.c.version < bindparam("b_below"),
                self._in_scope(h.c.org_id)),
                [{"b_node": node_id, "b_below": version} for node_id, version in below.items()])
