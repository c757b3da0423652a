"""Access and node-list benchmark: `python -m bench.access [--runs R] [--database-url URL]
[--only groups|pages] [--smoke]`.

What is measured
----------------
Part 1 (``groups``): an owner holds N nodes directly, split over 50 of their device groups,
all shared with a second user ("via groups"); a third user holds the same N nodes as direct
secondary memberships ("direct", the baseline). Cases: N = 2,000 (50 groups of 40) and N = 20,000
(50 groups of 400). For each user and case, the median of R runs (after a warm-up) of:

* ``for_user``    ``uow.memberships.for_user(user)``: the user's whole effective access;
* ``get``         ``uow.memberships.get(node, user)`` for one node (reached only through a
  group for the "via groups" user);
* ``list_nodes``  the container's ``UserNodes.list_nodes`` use case, first page of 100
  (what GET /v1/user/nodes and GraphQL ``nodes`` run);

each with the number of SQL statements it issued (a ``before_cursor_execute`` listener on
the engine). The data is written straight into the tables (SQLAlchemy Core, one transaction)
of a fresh, migrated SQLite file per case, or of DATABASE_URL / --database-url when given
(a new organization per case, so existing rows are left alone).

Part 2 (``pages``): a node list page (GET /v1/admin/nodes first, middle and tag-filtered
pages; GET /v1/user/nodes first and tag-filtered pages) for an organization of 50 nodes and
one of 50,000 in the same database, through the real ASGI app: see bench/node_pages.py.

Limits: part 1 calls use cases directly; part 2's app runs with request rate limiting off
(Settings(rate_limits=False)). The output says so. Smoke mode (--smoke): 250 / 500 nodes in
part 1 and 50 / 500 in part 2, one run each.

Why a ratio
-----------
Absolute times depend on the machine; the 20,000 / 2,000 ratio shows how each operation
grows with the data (1 = constant, 10 = linear), and "via groups" against "direct" shows
what deriving access through groups costs on top of reading stored memberships; likewise
50,000 / 50 for a page of the node list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import node_pages
from bench.common import LIMITS_OFF, add_smoke_flag, print_summary, say_limits

GROUPS = 50
SIZES = (2_000, 20_000)
SMOKE_SIZES = (250, 500)
PAGE = 100
CHUNK = 5_000
METRICS = ("for_user", "get", "list_nodes")
VIEWS = ("via groups", "direct")


@dataclass(frozen=True)
class Dataset:
    org_id: str
    owner: str
    via_groups: str
    direct: str
    group_only_node: str
    nodes: int


@dataclass(frozen=True)
class Measure:
    median_ms: float
    statements: int
    result: int


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(sync, "before_cursor_execute", record)


# ------------------------------------------------------------------------------------ data


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for first in range(0, len(rows), CHUNK):
        yield rows[first:first + CHUNK]


async def build(container: Any, nodes: int) -> Dataset:
    """An organization, its owner with `nodes` nodes in GROUPS groups shared with a second
    user, and a third user holding the same nodes directly (secondary)."""
    from adapters.sql.tables.devices import nodes as nodes_table
    from adapters.sql.tables.groups import node_group_members, node_groups
    from adapters.sql.tables.sharing import node_group_shares, node_memberships
    from domain.accounts.model import END_USER, Organization, User
    from domain.devices.model import PRIMARY, SECONDARY
    from ports.repositories.uow import SYSTEM_SCOPE

    run = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    org_id = str(uuid.uuid4())
    owner, via_groups, direct = (str(uuid.uuid4()) for _ in range(3))
    node_ids = [f"bacc{run}{i:06d}" for i in range(nodes)]
    group_ids = [str(uuid.uuid4()) for _ in range(GROUPS)]
    per_group = nodes // GROUPS
    async with container.uow()(SYSTEM_SCOPE) as uow:
        await uow.organizations.add(Organization(id=org_id, name=f"bench-access-{run}",
                                                 created_at=now))
        for user_id, name in ((owner, "owner"), (via_groups, "groups"), (direct, "direct")):
            await uow.users.add(User(id=user_id, org_id=org_id,
                                     user_name=f"{name}-{run}@bench.example.com",
                                     password_hash="x", created_at=now, confirmed=True,
                                     roles={END_USER}))
        conn = await uow.connection()
        node_rows = [{
            "id": node_id, "org_id": org_id, "name": f"Lamp {i}", "type": "Lightbulb",
            "model": "bench", "fw_version": "1.0", "config_version": "",
            "config": {"node_id": node_id, "info": {"type": "Lightbulb"}},
            "reported": {"Light": {"power": i % 2 == 0, "brightness": i % 100}},
            "desired": {}, "params_version": 1, "connected": True,
            "connection_ts": 1_700_000_000_000, "tags": [f"room:{i % 7}"], "metadata": None,
            "active": True, "created_at": now} for i, node_id in enumerate(node_ids)]
        membership_rows = [
            {"node_id": node_id, "user_id": user_id, "org_id": org_id, "role": role,
             "source": "NODE", "created_at": now}
            for node_id in node_ids for user_id, role in ((owner, PRIMARY), (direct, SECONDARY))]
        group_rows = [{
            "id": gid, "org_id": org_id, "user_id": owner, "name": f"Group {g}",
            "parent_id": None, "type": "", "description": "", "mutually_exclusive": False,
            "metadata": None, "custom_data": None, "created_at": now}
            for g, gid in enumerate(group_ids)]
        member_rows = [{"group_id": group_ids[i // per_group], "node_id": node_id,
                        "org_id": org_id, "position": i % per_group}
                       for i, node_id in enumerate(node_ids)]
        share_rows = [{"group_id": gid, "user_id": via_groups, "org_id": org_id,
                       "role": SECONDARY, "share_metadata": None, "created_at": now}
                      for gid in group_ids]
        for table, rows in ((nodes_table, node_rows), (node_memberships, membership_rows),
                            (node_groups, group_rows), (node_group_members, member_rows),
                            (node_group_shares, share_rows)):
            for chunk in _chunks(rows):
                await conn.execute(insert(table), list(chunk))
        await uow.commit()
    return Dataset(org_id=org_id, owner=owner, via_groups=via_groups, direct=direct,
                   group_only_node=node_ids[nodes // 2], nodes=nodes)


# ------------------------------------------------------------------------------ measuring


async def measure(engine: AsyncEngine, runs: int,
                  operation: Callable[[], Awaitable[int]]) -> Measure:
    await operation()  # warm-up: authorizer policies, statement caches, page cache
    times: list[float] = []
    counts: set[int] = set()
    result = 0
    for _ in range(runs):
        with counting(engine) as statements:
            started = time.perf_counter()
            result = await operation()
            times.append(time.perf_counter() - started)
        counts.add(len(statements))
    if len(counts) != 1:
        print(f"  note: statement count varied between runs: {sorted(counts)}", file=sys.stderr)
    return Measure(median_ms=statistics.median(times) * 1000, statements=max(counts),
                   result=result)


async def measure_user(container: Any, data: Dataset, user_id: str,
                       runs: int) -> dict[str, Measure]:
    from adapters.sql.uow import SqlUnitOfWorkFactory
    from domain.access.model import Caller, Principal, PrincipalKind
    from domain.accounts.model import END_USER
    from domain.devices.nodes import UserNodes

    uow_factory: SqlUnitOfWorkFactory = container.uow()
    engine: AsyncEngine = container.engine()
    user_nodes: UserNodes = container.user_nodes()
    caller = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=data.org_id,
                                        user_id=user_id, roles=frozenset({END_USER})))

    async def for_user() -> int:
        async with uow_factory(data.org_id) as uow:
            return len(await uow.memberships.for_user(user_id))

    async def get() -> int:
        async with uow_factory(data.org_id) as uow:
            found = await uow.memberships.get(data.group_only_node, user_id)
        assert found is not None, "the node is not reachable"
        return 1

    async def list_nodes() -> int:
        page = await user_nodes.list_nodes(caller, num_records=PAGE)
        assert len(page.entries) == PAGE and page.total == data.nodes, page.total
        return page.total

    return {"for_user": await measure(engine, runs, for_user),
            "get": await measure(engine, runs, get),
            "list_nodes": await measure(engine, runs, list_nodes)}


async def run_case(database_url: str, nodes: int, runs: int
                   ) -> dict[str, dict[str, Measure]]:
    from fleetgate.bootstrap import migrate
    from fleetgate.container import Container
    from fleetgate.settings import Settings

    settings = Settings(database_url=database_url, secret=secrets.token_urlsafe(48),
                        log_level="WARNING", rate_limits=False)
    container = Container(settings=settings)
    try:
        await migrate(container)
        await container.authorizer().reload()
        started = time.perf_counter()
        data = await build(container, nodes)
        print(f"  built {nodes:,} nodes in {GROUPS} groups in "
              f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
        results = {"via groups": await measure_user(container, data, data.via_groups, runs),
                   "direct": await measure_user(container, data, data.direct, runs)}
        for view, by_metric in results.items():
            assert by_metric["for_user"].result == nodes, (view, by_metric["for_user"])
        return results
    finally:
        await container.engine().dispose()


# -------------------------------------------------------------------------------------- main


def table(results: dict[int, dict[str, dict[str, Measure]]]) -> str:
    small, large = sorted(results)
    head = (f"{'user':<11} {'operation':<11} "
            f"{f'ms @{small:,}':>9} {f'ms @{large:,}':>9} {'x time':>7} "
            f"{f'stmts @{small:,}':>9} {f'stmts @{large:,}':>10} {'x stmts':>7}")
    lines = [head, "-" * len(head)]
    for view in VIEWS:
        for metric in METRICS:
            a, b = results[small][view][metric], results[large][view][metric]
            lines.append(f"{view:<11} {metric:<11} {a.median_ms:>9.2f} {b.median_ms:>9.2f} "
                         f"{b.median_ms / a.median_ms:>7.1f} {a.statements:>9} "
                         f"{b.statements:>10} {b.statements / a.statements:>7.1f}")
    lines.append("")
    lines.append("via groups / direct (time):")
    for size in (small, large):
        parts = [f"{metric} {results[size]['via groups'][metric].median_ms / results[size]['direct'][metric].median_ms:.2f}"  # noqa: E501
                 for metric in METRICS]
        lines.append(f"  {size:>6,} nodes: " + ", ".join(parts))
    return "\n".join(lines)


def groups_summary(results: dict[int, dict[str, dict[str, Measure]]]) -> dict[str, Any]:
    small, large = sorted(results)
    return {"sizes": [small, large], "groups": GROUPS, "page": PAGE,
            "operations": {view: {metric: {
                "ms": {str(size): round(results[size][view][metric].median_ms, 3)
                       for size in (small, large)},
                "statements": {str(size): results[size][view][metric].statements
                               for size in (small, large)},
                "ratio": round(results[large][view][metric].median_ms
                               / results[small][view][metric].median_ms, 3)}
                for metric in METRICS} for view in VIEWS}}


async def groups_part(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    results: dict[int, dict[str, dict[str, Measure]]] = {}
    sizes = SMOKE_SIZES if args.smoke else SIZES
    for nodes in sizes:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp / f'access-{nodes}.db'}"
        print(f"case: {nodes:,} nodes, {GROUPS} groups of {nodes // GROUPS}",
              file=sys.stderr)
        results[nodes] = await run_case(url, nodes, args.runs)
    small, large = sizes
    print(f"1. access through groups: median of {args.runs} runs after a warm-up; "
          f"list_nodes = first page of {PAGE}; x = {large:,} / {small:,}")
    print(table(results))
    return groups_summary(results)


async def pages_part(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sizes = (node_pages.SMALL, node_pages.SMOKE_LARGE if args.smoke else node_pages.LARGE)
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'pages.db'}"
    results = await node_pages.measure(url, sizes, args.runs)
    print("2. " + node_pages.table(results, args.runs))
    return node_pages.summary(results)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"limits": LIMITS_OFF, "smoke": args.smoke, "runs": args.runs,
                           "database": "DATABASE_URL" if args.database_url else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-access-") as tmp:
        if args.only in (None, "groups"):
            out["groups"] = await groups_part(args, Path(tmp))
        if args.only in (None, "pages"):
            if "groups" in out:
                print()
            out["pages"] = await pages_part(args, Path(tmp))
    print(f"server limits: {LIMITS_OFF}" + ("; SMOKE run: tiny counts, no targets"
                                            if args.smoke else ""))
    return out


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measures, prints the tables, and returns the numbers."""
    parser = argparse.ArgumentParser(prog="python -m bench.access", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=None,
                        help="measured runs per operation (3; smoke 1)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or None,
                        help="database to migrate and use (default: a fresh SQLite file per "
                             "case; DATABASE_URL when set)")
    parser.add_argument("--only", choices=("groups", "pages"), default=None,
                        help="run one part: access through groups, or node list pages")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.smoke else 3)
    say_limits(LIMITS_OFF)
    return asyncio.run(main_async(args))


def main(argv: Sequence[str] | None = None) -> int:
    print_summary(run(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
