"""SQL repository of an organization's admin device groups: a group row (with its query
columns, null for a static group) plus its member rows. Every method is a fixed number of
statements; lists are sorted in Python so the order is byte-wise on every database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from adapters.sql.group_rows import GroupRows
from adapters.sql.kit import aware
from adapters.sql.tables.devices import nodes
from adapters.sql.tables.groups import admin_node_group_members, admin_node_groups
from domain.groups.admin.model import AdminGroup, GroupQuery

_FIELDS = ("name", "parent_id", "type", "description", "mutually_exclusive", "custom_data")


def _values(group: AdminGroup) -> dict[str, Any]:
    query = group.query
    return {"name": group.name, "parent_id": group.parent_id, "type": group.type,
            "description": group.description, "mutually_exclusive": group.mutually_exclusive,
            "custom_data": group.custom_data,
            "query_node_type": query.node_type if query else None,
            "query_node_model": query.node_model if query else None,
            "query_node_fw_version": query.node_fw_version if query else None}


def _group(row: Any, members: list[str]) -> AdminGroup:
    values = (row.query_node_type, row.query_node_model, row.query_node_fw_version)
    query = None if all(v is None for v in values) else GroupQuery(
        node_type=values[0], node_model=values[1], node_fw_version=values[2])
    return AdminGroup(id=row.id, org_id=row.org_id, name=row.name,
                      created_at=aware(row.created_at),  # type: ignore[arg-type]
                      created_by=row.created_by, parent_id=row.parent_id, type=row.type,
                      description=row.description, mutually_exclusive=row.mutually_exclusive,
                      custom_data=row.custom_data, query=query, nodes=members)


class SqlAdminGroupRepository(GroupRows):
    groups, members = admin_node_groups, admin_node_group_members

    def _member_rows(self, groups: Sequence[AdminGroup]) -> list[dict[str, Any]]:
        return [{"group_id": g.id, "node_id": node_id, "org_id": g.org_id, "position": i}
                for g in groups for i, node_id in enumerate(g.nodes)]

    async def add(self, group: AdminGroup) -> None:
        await self._exec(insert(admin_node_groups).values(
            id=group.id, org_id=group.org_id, created_by=group.created_by,
            created_at=group.created_at, **_values(group)))
        if group.nodes:
            await self._exec(insert(admin_node_group_members), self._member_rows([group]))

    async def all(self) -> Sequence[AdminGroup]:
        g, m = admin_node_groups, admin_node_group_members
        rows = (await self._exec(select(g).where(self._in_scope(g.c.org_id)))).all()
        members: dict[str, list[tuple[int, str]]] = {row.id: [] for row in rows}
        if rows:
            for member in (await self._exec(select(m.c.group_id, m.c.node_id, m.c.position)
                                            .where(self._in_scope(m.c.org_id)))).all():
                if member.group_id in members:
                    members[member.group_id].append((member.position, member.node_id))
        return [_group(row, [n for _, n in sorted(members[row.id])])
                for row in sorted(rows, key=lambda r: str(r.id))]

    async def save_many(self, groups: Sequence[AdminGroup]) -> None:
        if not groups:
            return
        g, m = admin_node_groups, admin_node_group_members
        ids = [group.id for group in groups]
        # one executemany for the fields; the members are rewritten (positions renumbered)
        await self._exec(
            update(g).where(g.c.id == bindparam("b_id"), self._in_scope(g.c.org_id))
            .values({name: bindparam(f"b_{name}") for name in _FIELDS}),
            [{"b_id": group.id, **{f"b_{k}": v for k, v in _values(group).items()
                                   if k in _FIELDS}} for group in groups])
        await self._exec(delete(m).where(m.c.group_id.in_(ids), self._in_scope(m.c.org_id)))
        rows = self._member_rows(groups)
        if rows:
            await self._exec(insert(m), rows)

    async def matching_node_ids(self, query: GroupQuery) -> Sequence[str]:
        n = nodes.c
        conditions = [self._in_scope(n.org_id)]
        for column, wanted in ((n.type, query.node_type), (n.model, query.node_model),
                               (n.fw_version, query.node_fw_version)):
            if wanted is not None:
                conditions.append(column == wanted)
        return sorted((await self._exec(select(n.id).where(*conditions))).scalars().all())

    async def all_node_ids(self) -> Sequence[str]:
        return sorted((await self._exec(select(nodes.c.id).where(
            self._in_scope(nodes.c.org_id)))).scalars().all())

    async def member_ids(self, group_ids: Sequence[str]) -> Sequence[str]:
        if not group_ids:
            return []
        m = admin_node_group_members
        return sorted((await self._exec(select(m.c.node_id).distinct().where(
            m.c.group_id.in_(list(group_ids)), self._in_scope(m.c.org_id)))).scalars().all())
