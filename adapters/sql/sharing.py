"""SQL repository of node memberships: who reaches which node, directly and through shared
groups (SqlMembershipRepository); it never commits. Sharing requests:
adapters/sql/sharing_requests.py."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    union_all,
)

from adapters.sql import node_queries
from adapters.sql.kit import Scope, _Scoped, aware, prepared
from adapters.sql.tables.accounts import users
from adapters.sql.tables.groups import node_group_members, node_groups
from adapters.sql.tables.sharing import node_group_shares, node_memberships
from domain.devices.model import PRIMARY, SECONDARY
from domain.sharing.model import NodeMembership, strongest


def _membership(row: Any) -> NodeMembership:
    return NodeMembership(node_id=row.node_id, org_id=row.org_id, user_id=row.user_id,
                          role=row.role, source=row.source,
                          created_at=aware(row.created_at))  # type: ignore[arg-type]


class SqlMembershipRepository(_Scoped):
    """Direct memberships are rows of node_memberships; access through a shared group is
    derived when read (never stored), so it follows the group's members, its shares and its
    owner's own access on every request."""

    def _direct(self, *where: Any, scope: Scope | None = None) -> Any:
        m = node_memberships
        return select(m.c.node_id, m.c.user_id, m.c.org_id, m.c.role, m.c.source,
                      m.c.created_at).where(*where, (scope or self._in_scope)(m.c.org_id))

    def _through_groups(self, *where: Any, scope: Scope | None = None) -> Any:
        """(node, user) pairs reached through a shared group: the node is a member of the
        group and its owner holds the node directly; primary only when both the share and
        the owner's own access are primary. (A sub-group's nodes are all in its parent, so a
        share of a parent covers its sub-groups' nodes.)"""
        m, s, g = node_group_members, node_group_shares, node_groups
        own = node_memberships.alias("owner_access")
        role = case((and_(s.c.role == PRIMARY, own.c.role == PRIMARY), PRIMARY),
                    else_=SECONDARY)
        return (select(m.c.node_id, s.c.user_id, s.c.org_id, role.label("role"),
                       s.c.group_id.label("source"), s.c.created_at)
                .select_from(s.join(g, g.c.id == s.c.group_id)
                             .join(m, m.c.group_id == s.c.group_id)
                             .join(own, and_(own.c.node_id == m.c.node_id,
                                             own.c.user_id == g.c.user_id)))
                .where(*where, (scope or self._in_scope)(s.c.org_id)))

    @staticmethod
    def _ordered(direct: Any, derived: Any) -> Any:
        both = union_all(direct, derived).subquery()
        return select(both).order_by(both.c.node_id, both.c.user_id, both.c.source)

    async def _effective(self, direct: Any, derived: Any) -> list[NodeMembership]:
        rows = (await self._exec(self._ordered(direct, derived))).all()
        return [_membership(r) for r in rows]

    async def add(self, membership: NodeMembership) -> None:
        await self._exec(insert(node_memberships).values(
            node_id=membership.node_id, user_id=membership.user_id, org_id=membership.org_id,
            role=membership.role, source=membership.source, created_at=membership.created_at))

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        m, gm, s = node_memberships, node_group_members, node_group_shares
        return strongest(await self._effective(
            self._direct(m.c.node_id == node_id, m.c.user_id == user_id),
            self._through_groups(gm.c.node_id == node_id, s.c.user_id == user_id)))

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None:
        m = node_memberships
        row = (await self._exec(self._direct(m.c.node_id == node_id,
                                             m.c.user_id == user_id))).first()
        return _membership(row) if row else None

    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        m = node_memberships
        rows = (await self._exec(self._direct(m.c.node_id == node_id))).all()
        return [_membership(r) for r in rows]

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        m, s = node_memberships, node_group_shares
        user = bindparam("b_user")
        statement, params = prepared("memberships.for_user", self._org, lambda scope: (
            self._ordered(self._direct(m.c.user_id == user, scope=scope),
                          self._through_groups(s.c.user_id == user, scope=scope))))
        rows = (await self._exec(statement, {**params, "b_user": user_id})).all()
        found = [_membership(r) for r in rows]
        by_node: dict[str, list[NodeMembership]] = {}
        for membership in found:
            by_node.setdefault(membership.node_id, []).append(membership)
        return [m for m in (strongest(ms) for ms in by_node.values()) if m is not None]

    def _reached_ids(self, scope: Scope, dialect: str, *, from_start: bool,
                     tagged: bool) -> tuple[Any, Any]:
        """Ids of the nodes the user b_user reaches, as two disjoint selects of a `node_id`
        column: direct memberships, and nodes reached only through shared groups (distinct);
        from b_start (byte order: COLLATE "C" on PostgreSQL) and with any of b_tags when
        asked."""
        m, gm, s, g = node_memberships, node_group_members, node_group_shares, node_groups
        own, mine = node_memberships.alias("owner_access"), node_memberships.alias("mine")
        user = bindparam("b_user")

        def ids(node_id: Any, query: Any) -> Any:
            query = query.add_columns(node_queries.byte_order(node_id, dialect).label("node_id"))
            if from_start:
                query = query.where(node_queries.byte_order(node_id, dialect)
                                    >= bindparam("b_start"))
            if tagged:
                query = query.where(node_queries.tagged(
                    node_id, bindparam("b_tags", expanding=True)))
            return query

        direct = ids(m.c.node_id, select().select_from(m).where(
            m.c.user_id == user, scope(m.c.org_id)))
        derived = ids(gm.c.node_id, select().select_from(
            s.join(g, g.c.id == s.c.group_id).join(gm, gm.c.group_id == s.c.group_id)
            .join(own, and_(own.c.node_id == gm.c.node_id, own.c.user_id == g.c.user_id)))
            .where(s.c.user_id == user, scope(s.c.org_id), ~exists().where(
                mine.c.node_id == gm.c.node_id, mine.c.user_id == user))).distinct()
        return direct, derived

    def _page_statement(self, scope: Scope, dialect: str, *, from_start: bool,
                        tagged: bool) -> Any:
        """The page's memberships: the first ids of each part (the direct ones walked from
        ix_node_memberships_user_node), merged, computed once (a MATERIALIZED CTE, with the
        page size rendered as a literal), so no plan PostgreSQL caches for the prepared
        statement can re-run the page per row of a big user's memberships."""
        m, gm, s = node_memberships, node_group_members, node_group_shares
        size = bindparam("b_size", type_=Integer(), literal_execute=True)

        def first(part: Any) -> Any:
            return select(part.order_by(part.selected_columns.node_id).limit(size)
                          .subquery().c.node_id)

        direct, derived = self._reached_ids(scope, dialect, from_start=from_start,
                                            tagged=tagged)
        both = union_all(first(direct), first(derived)).subquery()
        page = select(both.c.node_id).order_by(node_queries.byte_order(
            both.c.node_id, dialect)).limit(size).cte("page_ids").prefix_with("MATERIALIZED")
        user = bindparam("b_user")
        return self._ordered(
            self._direct(m.c.user_id == user, m.c.node_id.in_(select(page.c.node_id)),
                         scope=scope),
            self._through_groups(s.c.user_id == user,
                                 gm.c.node_id.in_(select(page.c.node_id)), scope=scope))

    def _count_statement(self, scope: Scope, dialect: str, *, tagged: bool) -> Any:
        counts = [select(func.count()).select_from(part.subquery()).scalar_subquery()
                  for part in self._reached_ids(scope, dialect, from_start=False,
                                                tagged=tagged)]
        return select(counts[0] + counts[1])

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        """One query for the page; a count (of index entries) only when the page is not
        the whole list. Statements are built once per shape."""
        dialect = (await self._tx.connection()).dialect.name
        shape = f"{dialect}:{start_id is not None}:{bool(tags)}"
        statement, params = prepared(f"memberships.page:{shape}", self._org, lambda scope: (
            self._page_statement(scope, dialect, from_start=start_id is not None,
                                 tagged=bool(tags))))
        binds: dict[str, Any] = {**params, "b_user": user_id, "b_size": int(limit) + 1}
        if start_id is not None:
            binds["b_start"] = start_id
        if tags:
            binds["b_tags"] = sorted(set(tags))
        by_node: dict[str, list[NodeMembership]] = {}
        for row in (await self._exec(statement, binds)).all():
            by_node.setdefault(row.node_id, []).append(_membership(row))
        ids = sorted(by_node)  # code-point order: the byte order of the ids' UTF-8
        following = ids[limit] if len(ids) > limit else None
        if start_id is None and following is None:
            total = len(ids)  # the whole list is this page
        else:
            count, _ = prepared(f"memberships.count:{dialect}:{bool(tags)}", self._org,
                                lambda scope: self._count_statement(scope, dialect,
                                                                    tagged=bool(tags)))
            binds.pop("b_start", None)
            binds.pop("b_size", None)
            total = int((await self._exec(count, binds)).scalar_one())
        page = (strongest(by_node[node_id]) for node_id in ids[:limit])
        return [membership for membership in page if membership is not None], following, total

    async def remove(self, node_id: str, user_id: str) -> None:
        m = node_memberships
        await self._exec(delete(m).where(m.c.node_id == node_id, m.c.user_id == user_id,
                                         self._in_scope(m.c.org_id)))

    async def remove_all(self, node_id: str) -> int:
        m = node_memberships
        result = await self._exec(delete(m).where(m.c.node_id == node_id,
                                                  self._in_scope(m.c.org_id)))
        return int(result.rowcount or 0)

    async def _named(self, direct: Any, derived: Any) -> list[tuple[NodeMembership, str]]:
        both = union_all(direct, derived).subquery()
        rows = (await self._exec(
            select(both, users.c.user_name).join(users, users.c.id == both.c.user_id)
            .order_by(both.c.node_id, both.c.user_id, both.c.source))).all()
        return [(_membership(r), r.user_name) for r in rows]

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        return await self.members_of_many([node_id])

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        m, gm = node_memberships, node_group_members
        return await self._named(self._direct(m.c.node_id.in_(list(node_ids))),
                                 self._through_groups(gm.c.node_id.in_(list(node_ids))))
