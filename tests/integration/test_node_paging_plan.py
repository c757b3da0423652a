"""A page of an organization's nodes (and of a user's) is an index range, not a sort of the
organization: the database's own plan shows it (EXPLAIN QUERY PLAN on SQLite, EXPLAIN on
PostgreSQL), with and without filters; tag filters probe node_tags, which triggers keep equal
to nodes.tags."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import product
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql import node_queries
from adapters.sql.engine import make_engine
from adapters.sql.tables.accounts import organizations, users
from adapters.sql.tables.devices import node_tags, nodes
from adapters.sql.tables.groups import node_group_members, node_groups
from adapters.sql.tables.sharing import node_group_shares, node_memberships
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.access.rbac.model import NodeReach
from domain.devices.model import NodeFilter

ORG, OTHER = "org-a", "org-b"
NODES_PER_ORG = 10_000
PAGE = 26  # a page of 25 and the first id of the next
MIDDLE = f"az{NODES_PER_ORG // 2:05d}"  # a start_id half way through the organization


def node_id(i: int) -> str:
    # mixed case, digits, "-" and "_": byte order differs from a locale's order
    return f"{'aB_-z'[i % 5]}{i:05d}{'xY'[i % 2]}"


def tags_of(i: int) -> list[str]:
    return [f"site:s{i % 10}", *(["rare:yes"] if i % 1000 == 7 else [])]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database holding two organizations of NODES_PER_ORG nodes each, analyzed."""
    engine = make_engine(database_url, app_role=False)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(organizations), [
            {"id": org, "name": org, "created_at": now} for org in (ORG, OTHER)])
        await conn.execute(insert(nodes), [
            {"id": f"{org[-1]}{node_id(i)}", "org_id": org, "reported": {}, "desired": {},
             "tags": tags_of(i), "type": "Lamp" if i % 2 else "Switch",
             "connection_ts": i, "created_at": now}
            for org in (ORG, OTHER) for i in range(NODES_PER_ORG)])
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    yield engine
    await engine.dispose()


FILTERS = {
    "no filter": NodeFilter(),
    "any of two tags": NodeFilter(tags=("site:s3", "site:s4")),
    "all of two tags": NodeFilter(tags=("site:s7", "rare:yes"), tags_all=True),
    "a rare tag": NodeFilter(tags=("rare:yes",)),
    "type and status": NodeFilter(type="Lamp", status="offline"),
    "a role's reach": NodeFilter(reach=(NodeReach(tags=("site:s1",), types=("Lamp",)),)),
}


def sql(conn: AsyncConnection, query: Any) -> str:
    return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


async def plan(conn: AsyncConnection, query: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql(conn, query)}"))
                ).scalar_one()
    rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql(conn, query)}"))).all()
    return [row[-1] for row in rows]


def pg_nodes(plan_node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan_node]
    for child in plan_node.get("Plans", []):
        found.extend(pg_nodes(child))
    return found


def in_org(column: Any) -> Any:
    return column == ORG


def page_query(conn: AsyncConnection, node_filter: NodeFilter, start_id: str | None) -> Any:
    """The query SqlNodeRepository.search runs for a page of ORG."""
    return node_queries.page_query(in_org, node_filter, conn.dialect.name,
                                   start_id=start_id, limit=PAGE)


async def test_a_page_walks_the_index_in_id_order_and_never_sorts_the_organization(
        engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for (name, node_filter), start_id in product(FILTERS.items(), (None, MIDDLE)):
            case = f"{name}, from {start_id}"
            found = await plan(conn, page_query(conn, node_filter, start_id))
            matching = (await conn.execute(node_queries.count_query(
                in_org, node_filter))).scalar_one()
            if conn.dialect.name == "postgresql":
                steps = pg_nodes(found[0]["Plan"])
                shown = f"{case}: {json.dumps(found)}"
                assert not [s for s in steps if s["Node Type"] == "Seq Scan"], shown
                assert not [s for s in steps if "json" in s.get("Function Name", "")], shown
                sorts = [s for s in steps if "Sort" in s["Node Type"]]
                if node_filter == NodeFilter():
                    assert not sorts, shown
                    assert any(s.get("Index Name") == "ix_nodes_org_page" for s in steps), shown
                # the planner may sort a tag's matches (when few), never the organization
                sorted_rows = sum(child["Actual Rows"] for s in sorts for child in s["Plans"])
                assert sorted_rows <= min(matching, NODES_PER_ORG // 10), shown
            else:
                details = f"{case}: " + " | ".join(found)
                assert "USE TEMP B-TREE FOR ORDER BY" not in details, details
                assert "json_each" not in details, details
                # nodes are read through an index: the org's id range, or a tag's id list
                assert "SCAN nodes" not in details, details
                if node_filter == NodeFilter():
                    assert "ix_nodes_org_page" in details, details


async def test_pages_follow_byte_order_of_ids_like_pythons_sorted(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        expected = sorted(f"a{node_id(i)}" for i in range(NODES_PER_ORG))
        seen: list[str] = []
        start: str | None = None
        while True:
            rows = (await conn.execute(page_query(conn, NodeFilter(), start))).all()
            seen.extend(row.id for row in rows[:PAGE - 1])
            if len(rows) < PAGE:
                break
            start = rows[-1].id
        assert seen == expected


async def test_node_tags_follow_every_write_of_nodes_tags(engine: AsyncEngine) -> None:
    first, second = f"a{node_id(0)}", f"a{node_id(1)}"

    async def tags(conn: AsyncConnection, of: str) -> list[str]:
        return sorted((await conn.execute(select(node_tags.c.tag).where(
            node_tags.c.node_id == of))).scalars().all())

    async with engine.begin() as conn:
        assert await tags(conn, first) == ["site:s0"]
        await conn.execute(update(nodes).where(nodes.c.id == first).values(
            tags=["room:kitchen", "site:s9"]))
        await conn.execute(update(nodes).where(nodes.c.id == second).values(
            connected=True))  # a write without tags keeps them
        assert await tags(conn, first) == ["room:kitchen", "site:s9"]
        assert await tags(conn, second) == ["site:s1"]
        await conn.execute(update(nodes).where(nodes.c.id == first).values(tags=[]))
        assert await tags(conn, first) == []
        await conn.execute(delete(nodes).where(nodes.c.id == second))
        assert await tags(conn, second) == []
        org_of = select(node_tags.c.org_id).where(node_tags.c.node_id == f"b{node_id(3)}")
        assert (await conn.execute(org_of)).scalars().all() == [OTHER]


USER, OWNER = "user-1", "owner-1"
SHARED_ONLY = 40  # nodes the user reaches only through a group shared with them


@pytest.fixture
async def reach(engine: AsyncEngine) -> AsyncEngine:
    """USER holds every 3rd node of ORG directly (primary) and reaches more through a group
    OWNER shares with them (secondary): some also held directly, SHARED_ONLY not."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"a{node_id(i)}" for i in range(NODES_PER_ORG)]
    direct = ids[::3]
    through_group = ids[1:3 * SHARED_ONLY:3] + direct[:10]
    async with engine.begin() as conn:
        await conn.execute(insert(users), [
            {"id": u, "org_id": ORG, "user_name": f"{u}@x.io", "password_hash": "-",
             "created_at": now} for u in (USER, OWNER)])
        await conn.execute(insert(node_memberships), [
            {"node_id": n, "user_id": u, "org_id": ORG, "role": "primary", "source": "NODE",
             "created_at": now} for u, held in ((USER, direct), (OWNER, through_group))
            for n in held])
        await conn.execute(insert(node_groups).values(
            id="g1", org_id=ORG, user_id=OWNER, name="G", type="", description="",
            mutually_exclusive=False, created_at=now))
        await conn.execute(insert(node_group_members), [
            {"group_id": "g1", "node_id": n, "org_id": ORG, "position": i}
            for i, n in enumerate(through_group)])
        await conn.execute(insert(node_group_shares).values(
            group_id="g1", user_id=USER, org_id=ORG, role="secondary", created_at=now))
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.commit()
    return engine


async def all_pages(engine: AsyncEngine, tags: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    seen: list[Any] = []
    start, total = None, -1
    async with SqlUnitOfWorkFactory(engine)(ORG) as uow:
        while True:
            page, start, total = await uow.memberships.page_for_user(
                USER, start_id=start, limit=PAGE, tags=tags)
            assert len(page) == PAGE or start is None
            seen.extend(page)
            if start is None:
                return seen, total


async def test_a_users_pages_are_their_memberships_in_byte_order(reach: AsyncEngine) -> None:
    async with SqlUnitOfWorkFactory(reach)(ORG) as uow:
        expected = list(await uow.memberships.for_user(USER))
    seen, total = await all_pages(reach)
    assert [(m.node_id, m.role, m.source) for m in seen] == \
        [(m.node_id, m.role, m.source) for m in expected]
    assert [m.node_id for m in seen] == sorted(m.node_id for m in seen)
    assert total == len(expected) == len(range(0, NODES_PER_ORG, 3)) + SHARED_ONLY
    tagged, tagged_total = await all_pages(reach, ("site:s3", "rare:yes"))
    assert [m.node_id for m in tagged] == [
        m.node_id for m in expected
        if {"site:s3", "rare:yes"} & set(tags_of(int(m.node_id[2:7])))]
    assert tagged_total == len(tagged)


async def test_a_users_page_walks_the_membership_index(reach: AsyncEngine) -> None:
    executed: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        executed.append((statement, params))

    event.listen(reach.sync_engine, "before_cursor_execute", record)
    try:
        async with SqlUnitOfWorkFactory(reach)(ORG) as uow:
            await uow.memberships.page_for_user(USER, start_id=MIDDLE, limit=PAGE)
    finally:
        event.remove(reach.sync_engine, "before_cursor_execute", record)
    statement, params = next((s, p) for s, p in executed if "page_ids" in s)
    async with reach.connect() as conn:
        if conn.dialect.name == "postgresql":
            found = (await conn.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)).scalar_one()
            steps = pg_nodes(found[0]["Plan"])
            shown = json.dumps(found)
            # the page's ids: a walk of the user's index entries that stops at the page
            walks = [s for s in steps if s.get("Index Name") == "ix_node_memberships_user_node"
                     and s["Actual Rows"] <= PAGE + 1]
            assert walks, shown
            # (with this few rows the planner may read the page's memberships by a scan)
            sorted_rows = sum(child["Actual Rows"] for s in steps if "Sort" in s["Node Type"]
                              for child in s["Plans"])
            assert sorted_rows <= 4 * PAGE, shown  # the page's rows, never the user's
        else:
            rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)).all()
            details = " | ".join(row[-1] for row in rows)
            assert "ix_node_memberships_user_node (user_id=? AND node_id>?)" in details, details
            assert "SCAN node_memberships" not in details, details


async def test_totals_count_the_matching_nodes(engine: AsyncEngine) -> None:
    def expected(node_filter: NodeFilter) -> int:
        def hit(tags: list[str]) -> bool:
            found = [t in tags for t in node_filter.tags]
            return all(found) if node_filter.tags_all else any(found)
        return sum(hit(tags_of(i)) for i in range(NODES_PER_ORG))

    async with engine.connect() as conn:
        for name in ("any of two tags", "all of two tags", "a rare tag"):
            node_filter = FILTERS[name]
            counted = (await conn.execute(node_queries.count_query(in_org, node_filter))
                       ).scalar_one()
            assert counted == expected(node_filter), name
