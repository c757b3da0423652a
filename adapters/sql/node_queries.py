"""An admin's queries over an organization's nodes (SqlNodeRepository delegates here): a
NodeFilter as WHERE clauses, so filtering, paging and counting run in the database.

Tags are a JSON array per node; its elements are read with json_each on SQLite and
json_array_elements_text on PostgreSQL. Ids are compared byte-wise on both (COLLATE "C" on
PostgreSQL), so pages follow the same order as Python's sorted().
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import nodes
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


def tag_rows(dialect: str) -> Any:
    """The elements of nodes.tags as rows with one `value` column (correlated to nodes)."""
    if dialect == "postgresql":
        return func.json_array_elements_text(c.tags).table_valued("value").render_derived()
    return func.json_each(c.tags).table_valued("value")


def id_order(dialect: str) -> Any:
    return c.id.collate("C") if dialect == "postgresql" else c.id


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


def filter_clauses(node_filter: NodeFilter, dialect: str) -> list[Any]:
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
        for tag in node_filter.tags:
            rows = tag_rows(dialect)
            where.append(exists(select(1).select_from(rows).where(rows.c.value == tag)))
    elif node_filter.tags:
        rows = tag_rows(dialect)
        where.append(exists(select(1).select_from(rows).where(
            rows.c.value.in_(list(node_filter.tags)))))
    if node_filter.status is not None:
        where.append(_status(node_filter.status, node_filter.active_since_ms))
    if node_filter.reach is not None:
        where.append(or_(*[_reach(r, dialect) for r in node_filter.reach])
                     if node_filter.reach else false())
    return where


def _reach(reach: NodeReach, dialect: str) -> Any:
    """NodeReach.matches: any of its tags (if named) and one of its types (if named)."""
    parts: list[Any] = []
    if reach.tags:
        rows = tag_rows(dialect)
        parts.append(exists(select(1).select_from(rows).where(rows.c.value.in_(
            list(reach.tags)))))
    if reach.types:
        parts.append(c.type.in_(list(reach.types)))
    return and_(*parts) if parts else true()


async def search(conn: AsyncConnection, scope: Any, node_filter: NodeFilter, *,
                 start_id: str | None, limit: int) -> tuple[list[Any], int]:
    """(rows of the page, total matching): two queries."""
    dialect = conn.dialect.name
    where = [scope, *filter_clauses(node_filter, dialect)]
    total = (await conn.execute(select(func.count()).select_from(nodes).where(*where))
             ).scalar_one()
    query = select(nodes).where(*where)
    if start_id is not None:
        query = query.where(id_order(dialect) >= start_id)
    rows = (await conn.execute(query.order_by(id_order(dialect)).limit(limit))).all()
    return list(rows), int(total)


async def activity_counts(conn: AsyncConnection, scope: Any, node_filter: NodeFilter,
                          since_ms: int) -> dict[str, int]:
    columns = [func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(name)
               for name, condition in activity_conditions(since_ms).items()]
    where = [scope, *filter_clauses(node_filter, conn.dialect.name)]
    row = (await conn.execute(select(*columns).select_from(nodes).where(*where))).one()
    return {name: int(value) for name, value in row._mapping.items()}


async def tag_values(conn: AsyncConnection, scope: Any) -> list[str]:
    rows = tag_rows(conn.dialect.name)
    query = select(rows.c.value).distinct().select_from(nodes).join(rows, true()).where(scope)
    return sorted(str(v) for v in (await conn.execute(query)).scalars().all())


async def set_active_many(conn: AsyncConnection, scope: Any, node_ids: Sequence[str],
                          active: bool) -> None:
    if node_ids:
        await conn.execute(update(nodes).where(c.id.in_(list(node_ids)), scope)
                           .values(active=active))


async def save_tags_many(conn: AsyncConnection, scope: Any, changed: Sequence[Node]) -> None:
    """Only the tags column, so a concurrent params or connectivity write is not undone."""
    if changed:
        statement = update(nodes).where(c.id == bindparam("b_id"), scope).values(
            tags=bindparam("b_tags", type_=c.tags.type))
        await conn.execute(statement, [{"b_id": n.id, "b_tags": n.tags} for n in changed])
