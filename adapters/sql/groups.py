"""SQL repository of users' device groups: a group row plus its member rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    delete,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
    union_all,
    update,
)

from adapters.sql.group_rows import GroupRows
from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.accounts import users
from adapters.sql.tables.groups import node_group_members, node_groups
from adapters.sql.tables.sharing import node_group_shares
from domain.devices.model import PRIMARY
from domain.groups.model import MAX_DEPTH, NodeGroup
from domain.sharing.model import GroupShare


def _values(group: NodeGroup) -> dict[str, Any]:
    return {"user_id": group.owner_id, "name": group.name, "parent_id": group.parent_id,
            "type": group.type,
            "description": group.description, "mutually_exclusive": group.mutually_exclusive,
            "metadata": group.metadata, "custom_data": group.custom_data}


def _group(row: Any, nodes: list[str]) -> NodeGroup:
    return NodeGroup(id=row.id, org_id=row.org_id, owner_id=row.user_id, name=row.name,
                     created_at=aware(row.created_at),  # type: ignore[arg-type]
                     parent_id=row.parent_id, type=row.type, description=row.description,
                     mutually_exclusive=row.mutually_exclusive, metadata=row.metadata,
                     custom_data=row.custom_data, nodes=nodes)


class SqlGroupRepository(GroupRows):
    groups, members = node_groups, node_group_members

    async def _members(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        m = node_group_members
        found: dict[str, list[str]] = {gid: [] for gid in group_ids}
        if group_ids:
            rows = (await self._exec(select(m.c.group_id, m.c.node_id).where(
                m.c.group_id.in_(list(group_ids)), self._in_scope(m.c.org_id))
                .order_by(m.c.group_id, m.c.position, m.c.node_id))).all()
            for row in rows:
                found[row.group_id].append(row.node_id)
        return found

    async def _insert_members(self, group: NodeGroup, node_ids: Sequence[str],
                              start: int) -> None:
        if node_ids:
            await self._exec(insert(node_group_members), [
                {"group_id": group.id, "node_id": node_id, "org_id": group.org_id,
                 "position": start + i} for i, node_id in enumerate(node_ids)])

    async def add(self, group: NodeGroup) -> None:
        await self._exec(insert(node_groups).values(
            id=group.id, org_id=group.org_id, created_at=group.created_at,
            **_values(group)))
        await self._insert_members(group, group.nodes, 0)

    async def get(self, group_id: str) -> NodeGroup | None:
        g = node_groups
        row = (await self._exec(select(g).where(g.c.id == group_id,
                                                self._in_scope(g.c.org_id)))).first()
        return _group(row, (await self._members([row.id]))[row.id]) if row else None

    async def get_many(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        g = node_groups
        if not group_ids:
            return []
        rows = (await self._exec(select(g).where(g.c.id.in_(list(group_ids)),
                                                 self._in_scope(g.c.org_id))
                                 .order_by(g.c.id))).all()
        members = await self._members([row.id for row in rows])
        return [_group(row, members[row.id]) for row in rows]

    async def subtrees(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        g = node_groups
        found: dict[str, Any] = {}
        level = list(dict.fromkeys(group_ids))
        query = select(g).where(g.c.id.in_(level), self._in_scope(g.c.org_id))
        for _ in range(MAX_DEPTH):  # one query per level of the hierarchy, at most three
            if not level:
                break
            rows = [row for row in (await self._exec(query)).all() if row.id not in found]
            found.update((row.id, row) for row in rows)
            level = [row.id for row in rows]
            query = select(g).where(g.c.parent_id.in_(level), self._in_scope(g.c.org_id))
        members = await self._members(sorted(found))
        return [_group(found[gid], members[gid]) for gid in sorted(found)]

    async def for_owner(self, owner_id: str) -> Sequence[NodeGroup]:
        g, m = node_groups, node_group_members
        rows = (await self._exec(select(g).where(g.c.user_id == owner_id,
                                                 self._in_scope(g.c.org_id))
                                 .order_by(g.c.id))).all()
        members: dict[str, list[str]] = {row.id: [] for row in rows}
        if rows:
            owned = select(g.c.id).where(g.c.user_id == owner_id, self._in_scope(g.c.org_id))
            for member in (await self._exec(select(m.c.group_id, m.c.node_id).where(
                    m.c.group_id.in_(owned), self._in_scope(m.c.org_id))
                    .order_by(m.c.group_id, m.c.position, m.c.node_id))).all():
                members[member.group_id].append(member.node_id)
        return [_group(row, members[row.id]) for row in rows]

    async def save(self, group: NodeGroup) -> None:
        g, m = node_groups, node_group_members
        await self._exec(update(g).where(g.c.id == group.id, self._in_scope(g.c.org_id))
                         .values(**_values(group)))
        stored = (await self._members([group.id]))[group.id]
        gone = [n for n in stored if n not in set(group.nodes)]
        if gone:
            await self._exec(delete(m).where(m.c.group_id == group.id, m.c.node_id.in_(gone),
                                             self._in_scope(m.c.org_id)))
        have = set(stored)
        fresh = [n for n in group.nodes if n not in have]
        if fresh:  # after every stored member, so the order of adding is kept
            last = (await self._exec(select(func.max(m.c.position)).where(
                m.c.group_id == group.id, self._in_scope(m.c.org_id)))).scalar()
            await self._insert_members(group, fresh, 0 if last is None else last + 1)

    async def remove_node_everywhere(self, node_id: str) -> None:
        m = node_group_members
        await self._exec(delete(m).where(m.c.node_id == node_id, self._in_scope(m.c.org_id)))


def _share(row: Any) -> GroupShare:
    return GroupShare(group_id=row.group_id, org_id=row.org_id, user_id=row.user_id,
                      role=row.role, created_at=aware(row.created_at),  # type: ignore[arg-type]
                      metadata=row.share_metadata, owner=bool(row.owner))


class SqlGroupShareRepository(_Scoped):
    def _shares(self, *where: Any) -> Any:
        s = node_group_shares
        return select(s.c.group_id, s.c.user_id, s.c.org_id, s.c.role, s.c.share_metadata,
                      s.c.created_at, literal(False).label("owner")
                      ).where(*where, self._in_scope(s.c.org_id))

    async def add(self, share: GroupShare) -> None:
        await self._exec(insert(node_group_shares).values(
            group_id=share.group_id, user_id=share.user_id, org_id=share.org_id,
            role=share.role, share_metadata=share.metadata, created_at=share.created_at))

    async def get(self, group_id: str, user_id: str) -> GroupShare | None:
        s = node_group_shares
        row = (await self._exec(self._shares(s.c.group_id == group_id,
                                             s.c.user_id == user_id))).first()
        return _share(row) if row else None

    async def for_user(self, user_id: str) -> Sequence[GroupShare]:
        s = node_group_shares
        rows = (await self._exec(self._shares(s.c.user_id == user_id)
                                 .order_by(s.c.group_id))).all()
        return [_share(row) for row in rows]

    async def people(self, group_ids: Sequence[str]) -> Sequence[tuple[GroupShare, str]]:
        if not group_ids:
            return []
        s, g = node_group_shares, node_groups
        owners = select(g.c.id.label("group_id"), g.c.user_id, g.c.org_id,
                        literal(PRIMARY).label("role"),
                        type_coerce(null(), s.c.share_metadata.type).label("share_metadata"),
                        g.c.created_at, literal(True).label("owner")
                        ).where(g.c.id.in_(list(group_ids)), self._in_scope(g.c.org_id))
        both = union_all(owners, self._shares(s.c.group_id.in_(list(group_ids)))).subquery()
        rows = (await self._exec(
            select(both, users.c.user_name).join(users, users.c.id == both.c.user_id)
            .order_by(both.c.group_id, both.c.user_id))).all()
        return [(_share(row), row.user_name) for row in rows]

    async def remove(self, group_id: str, user_id: str) -> None:
        s = node_group_shares
        await self._exec(delete(s).where(s.c.group_id == group_id, s.c.user_id == user_id,
                                         self._in_scope(s.c.org_id)))
