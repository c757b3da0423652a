"""An admin's queries over an organization's nodes (SqlNodeRepository delegates here): a
NodeFilter as WHERE clauses, so filtering, paging and counting run in the database.

A page walks ix_nodes_org_page (org_id, id) in id order and stops at its limit: it costs the
same at 50 nodes and 50,000, and nothing sorts the organization. Ids are compared byte-wise on
both databases (COLLATE "C" on PostgreSQL, as that index is), so pages follow the same order
as Python's sorted(). A tag condition reads node_tags (one row per node and tag, kept by
triggers) instead of expanding every node's JSON: the ids having the tag, from
ix_node_tags_org_tag in id order, each looked up in ix_nodes_org_page (SQLite walks that list
in order, so a rare tag costs its few matches and a common one stops at the page).

Every function takes scope: a column's organization condition (SqlNodeRepository._in_scope).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter

from adapters.sql.tables.devices import node_tags, nodes
from domain.access.rbac.model import NodeReach
from domain.devices.model import (
    DEACTIVATED,
    NOT_ACTIVATED,
    OFFLINE,
    ONLINE,
    Node,
    NodeFilter,
)

c = nodes.c
Scope = Callable[[Any], Any]


def has_tag(tags: Iterable[str], scope: Scope) -> Any:
    """The node is one of the organization's nodes having one of these tags."""
    return c.id.in_(select(node_tags.c.node_id).where(
        scope(node_tags.c.org_id), node_tags.c.tag.in_(sorted(set(tags)))))


def tagged(node_id: Any, tags: Iterable[str] | BindParameter[Any]) -> Any:
    """The node whose id is the column node_id has one of these tags (or of an expanding
    parameter's): a probe of node_tags' primary key per node."""
    wanted = tags if isinstance(tags, BindParameter) else sorted(set(tags))
    return exists(select(1).select_from(node_tags).where(
        node_tags.c.node_id == node_id, node_tags.c.tag.in_(wanted)))


def byte_order(column: Any, dialect: str) -> Any:
    """The column compared byte-wise, as Python's sorted() orders ids (an index matches)."""
    return column.collate("C") if dialect == "postgresql" else column


def id_order(dialect: str) -> Any:
    return byte_order(c.id, dialect)


def _info(name: str) -> Any:
    """config.info.<name> as text ("" when absent), like Node.info_field."""
    return func.coalesce(c.config[("info", name)].as_string(), "")


def activity_conditions(since_ms: int) -> dict[str, Any]:
    """domain.devices.model.activity, as three conditions that partition the nodes."""
    connected, offline, ts = c.connected.is_(True), c.connected.is_(False), c.connection_ts
    return {"active": or_(connected, and_(ts > 0, ts >= since_ms)),
            "inactive": and_(offline, ts > 0, ts < since_ms),
            NOT_ACTIVATED: and_(offline, ts == 0)}


def _status(status: str, since_ms: int) -> Any:
    """Node.node_status (deactivated first) or activity, as a condition."""
    active, connected = c.active.is_(True), c.connected.is_(True)
    offline = c.connected.is_(False)
    by_status = {DEACTIVATED: c.active.is_(False), ONLINE: and_(active, connected),
                 OFFLINE: and_(active, offline, c.connection_ts > 0),
                 NOT_ACTIVATED: and_(active, offline, c.connection_ts == 0)}
    return by_status.get(status) if status in by_status \
        else activity_conditions(since_ms).get(status, false())


def filter_clauses(node_filter: NodeFilter, scope: Scope) -> list[Any]:
    """NodeFilter.matches, stated in SQL."""
    where: list[Any] = []
    for attr in ("type", "model", "fw_version"):
        wanted = getattr(node_filter, attr)
        if wanted is not None:
            where.append(c[attr] == wanted)
    for attr in ("subtype", "project_name"):
        wanted = getattr(node_filter, attr)
        if wanted is not None:
            where.append(_info(attr) == wanted)
    if node_filter.tags and node_filter.tags_all:
        where.extend(has_tag([tag], scope) for tag in node_filter.tags)
    elif node_filter.tags:
        where.append(has_tag(node_filter.tags, scope))
    if node_filter.status is not None:
        where.append(_status(node_filter.status, node_filter.active_since_ms))
    if node_filter.reach is not None:
        where.append(or_(*[_reach(r, scope) for r in node_filter.reach])
                     if node_filter.reach else false())
    return where


def _reach(reach: NodeReach, scope: Scope) -> Any:
    """NodeReach.matches: any of its tags (if named) and one of its types (if named)."""
    parts: list[Any] = []
    if reach.tags:
        parts.append(has_tag(reach.tags, scope))
    if reach.types:
        parts.append(c.type.in_(list(reach.types)))
    return and_(*parts) if parts else true()


def page_query(scope: Scope, node_filter: NodeFilter, dialect: str, *,
               start_id: str | None, limit: int) -> Select[Any]:
    """The page: matching nodes from start_id on, in id order (an index range, no sort)."""
    query = select(nodes).where(scope(c.org_id), *filter_clauses(node_filter, scope))
    if start_id is not None:
        query = query.where(id_order(dialect) >= start_id)
    return query.order_by(id_order(dialect)).limit(limit)


def count_query(scope: Scope, node_filter: NodeFilter) -> Select[Any]:
    """How many nodes match; a filter on tags alone is counted in ix_node_tags_org_tag."""
    # (active_since_ms only matters with a status)
    only_tags = replace(node_filter, tags=(), tags_all=False, active_since_ms=0) == NodeFilter()
    if node_filter.tags and only_tags and (len(node_filter.tags) == 1
                                           or not node_filter.tags_all):
        return select(func.count(node_tags.c.node_id.distinct())).where(
            scope(node_tags.c.org_id), node_tags.c.tag.in_(sorted(set(node_filter.tags))))
    return select(func.count()).select_from(nodes).where(
        scope(c.org_id), *filter_clauses(node_filter, scope))


async def search(conn: AsyncConnection, scope: Scope, node_filter: NodeFilter, *,
                 start_id: str | None, limit: int) -> tuple[list[Any], int]:
    """(rows of the page, total matching): two queries."""
    dialect = conn.dialect.name
    total = (await conn.execute(count_query(scope, node_filter))).scalar_one()
    rows = (await conn.execute(page_query(scope, node_filter, dialect, start_id=start_id,
                                          limit=limit))).all()
    return list(rows), int(total)


async def activity_counts(conn: AsyncConnection, scope: Scope, node_filter: NodeFilter,
                          since_ms: int) -> dict[str, int]:
    columns = [func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(name)
               for name, condition in activity_conditions(since_ms).items()]
    where = [scope(c.org_id), *filter_clauses(node_filter, scope)]
    row = (await conn.execute(select(*columns).select_from(nodes).where(*where))).one()
    return {name: int(value) for name, value in row._mapping.items()}


async def tag_values(conn: AsyncConnection, scope: Scope) -> list[str]:
    """Every tag of the organization's nodes."""
    query = select(node_tags.c.tag).distinct().where(scope(node_tags.c.org_id))
    return sorted(str(v) for v in (await conn.execute(query)).scalars().all())


async def set_active_many(conn: AsyncConnection, scope: Scope, node_ids: Sequence[str],
                          active: bool) -> None:
    if node_ids:
        await conn.execute(update(nodes).where(c.id.in_(list(node_ids)), scope(c.org_id))
                           .values(active=active))


async def save_tags_many(conn: AsyncConnection, scope: Scope, changed: Sequence[Node]) -> None:
    """Only the tags column, so a concurrent params or connectivity write is not undone."""
    if changed:
        statement = update(nodes).where(c.id == bindparam("b_id"), scope(c.org_id)).values(
            tags=bindparam("b_tags", type_=c.tags.type))
        await conn.execute(statement, [{"b_id": n.id, "b_tags": n.tags} for n in changed])
