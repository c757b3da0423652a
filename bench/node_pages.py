"""Node list pages at 50 and 50,000 nodes: part 2 of `python -m bench.access`.

Two organizations in one database: one of SMALL nodes, one of LARGE, each with a superadmin
who is also every node's primary user. Pages are requested through the real ASGI app
(in-process, httpx.ASGITransport, request rate limiting off) with the superadmin's token:

* ``admin first``        GET /v1/admin/nodes?num_records=25
* ``admin middle``       GET /v1/admin/nodes?start_id=<the middle node>&num_records=25
* ``admin tag half``     GET /v1/admin/nodes?tags=parity:even (half the nodes carry it)
* ``admin tag rare``     GET /v1/admin/nodes?tags=batch:rare (one node in 1,000, at least one)
* ``user first``         GET /v1/user/nodes?num_records=25
* ``user tag half``      GET /v1/user/nodes?tags=parity:even&num_records=25

Each is the median of R timed requests after a warm-up, with the SQL statements it issued.
The LARGE / SMALL ratio shows whether a page costs the same whatever the organization's size
(1 = index-backed paging; ~LARGE/SMALL = a scan or sort of the whole organization). Rows are
bulk-inserted with SQLAlchemy Core (tens of thousands per second).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.common import LIMITS_OFF, rounded

SMALL, LARGE = 50, 50_000
SMOKE_LARGE = 500
PAGE = 25
PASSWORD = "Bench-pass1"
RARE_EVERY = 1_000


@dataclass(frozen=True)
class Org:
    nodes: int
    token: str
    middle_id: str


@dataclass(frozen=True)
class PageTime:
    median_ms: float | None
    statements: int
    listed: int
    error: str | None = None  # the page was not served: what came back instead


def queries(org: Org) -> dict[str, str]:
    return {
        "admin first": f"/v1/admin/nodes?num_records={PAGE}",
        "admin middle": f"/v1/admin/nodes?start_id={org.middle_id}&num_records={PAGE}",
        "admin tag half": f"/v1/admin/nodes?tags=parity:even&num_records={PAGE}",
        "admin tag rare": f"/v1/admin/nodes?tags=batch:rare&num_records={PAGE}",
        "user first": f"/v1/user/nodes?num_records={PAGE}",
        "user tag half": f"/v1/user/nodes?tags=parity:even&num_records={PAGE}",
    }


def node_tags(i: int) -> list[str]:
    tags = [f"parity:{'even' if i % 2 == 0 else 'odd'}", f"room:{i % 7}"]
    if i % RARE_EVERY == 0:
        tags.append("batch:rare")
    return tags


async def build_org(container: Any, client: Any, nodes: int) -> Org:
    """An organization with `nodes` nodes, its superadmin primary on every one; logged in."""
    from sqlalchemy import text

    from adapters.sql.tables.devices import nodes as nodes_table
    from adapters.sql.tables.sharing import node_memberships
    from bench.rows import insert_rows, membership_row, node_row
    from domain.devices.model import PRIMARY
    from ports.repositories.uow import SYSTEM_SCOPE

    run = uuid.uuid4().hex[:8]
    user_name = f"pages-{run}@bench.example.com"
    user = await container.registration().provision_user(
        user_name=user_name, password=PASSWORD, org_name=f"bench-pages-{run}")
    now = datetime.now(UTC)
    ids = [f"bpg{run}{i:06d}" for i in range(nodes)]
    async with container.uow()(SYSTEM_SCOPE) as uow:
        conn = await uow.connection()
        await insert_rows(conn, nodes_table, [node_row(node_id, user.org_id, i, now,
                                                       tags=node_tags(i))
                                              for i, node_id in enumerate(ids)])
        await insert_rows(conn, node_memberships, [
            membership_row(node_id, user.id, user.org_id, PRIMARY, now) for node_id in ids])
        await uow.commit()
    if container.engine().dialect.name == "postgresql":  # plans as after autovacuum's analyze
        async with container.engine().connect() as conn:
            ac = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("nodes", "node_memberships", "node_tags"):
                await ac.execute(text(f"ANALYZE {table}"))
    login = await client.post("/v1/login2", json={"user_name": user_name, "password": PASSWORD})
    assert login.status_code == 200, login.text[:300]
    return Org(nodes=nodes, token=login.json()["accesstoken"], middle_id=ids[nodes // 2])


@contextlib.asynccontextmanager
async def running_app(database_url: str) -> AsyncIterator[tuple[Any, Any]]:
    import httpx

    from fleetgate.app import create_app
    from fleetgate.bootstrap import migrate
    from fleetgate.container import Container
    from fleetgate.settings import Settings

    settings = Settings(database_url=database_url, secret=uuid.uuid4().hex * 2,
                        log_level="WARNING", rate_limits=False)
    container = Container(settings=settings)
    await migrate(container)
    app = create_app(settings, container=container)
    async with app.router.lifespan_context(app):
        # an exception in the app answers 500 here (and is recorded), as it would in production
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5000),
                                        raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield container, c


async def time_page(container: Any, client: Any, org: Org, path: str, runs: int) -> PageTime:
    from bench.access import counting

    headers = {"Authorization": org.token}
    warm = await client.get(path, headers=headers)
    if warm.status_code != 200:
        print(f"  pages: {path} at {org.nodes:,} nodes answered {warm.status_code}: "
              f"{warm.text[:200]}", file=sys.stderr)
        return PageTime(median_ms=None, statements=0, listed=0,
                        error=f"HTTP {warm.status_code}")
    times, statements = [], 0
    for _ in range(runs):
        with counting(container.engine()) as executed:
            started = time.perf_counter()
            response = await client.get(path, headers=headers)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.text[:300])
        statements = len(executed)
    return PageTime(median_ms=statistics.median(times) * 1000, statements=statements,
                    listed=len(response.json()["nodes"]))


async def measure(database_url: str, sizes: tuple[int, int], runs: int
                  ) -> dict[int, dict[str, PageTime]]:
    results: dict[int, dict[str, PageTime]] = {}
    async with running_app(database_url) as (container, client):
        orgs = []
        for size in sizes:
            started = time.perf_counter()
            orgs.append(await build_org(container, client, size))
            print(f"  pages: built an organization of {size:,} nodes in "
                  f"{time.perf_counter() - started:.1f}s", file=sys.stderr)
        for org in orgs:
            results[org.nodes] = {name: await time_page(container, client, org, path, runs)
                                  for name, path in queries(org).items()}
    return results


def table(results: dict[int, dict[str, PageTime]], runs: int) -> str:
    small, large = sorted(results)
    head = (f"{'page':<16} {f'ms @{small:,}':>10} {f'ms @{large:,}':>11} {'x time':>7} "
            f"{'stmts':>6} {'listed':>13}")
    lines = [f"node list pages of {PAGE} through the ASGI app (in process; {LIMITS_OFF}); "
             f"median of {runs}; x = {large:,} / {small:,} nodes",
             head, "-" * len(head)]
    for name in results[small]:
        a, b = results[small][name], results[large][name]
        ratio = page_ratio(a, b)
        lines.append(f"{name:<16} {_ms(a):>10} {_ms(b):>11} "
                     f"{f'{ratio:.1f}' if ratio is not None else '-':>7} "
                     f"{f'{a.statements}/{b.statements}':>6} {f'{a.listed}/{b.listed}':>13}")
    return "\n".join(lines)


def _ms(page: PageTime) -> str:
    return page.error or f"{page.median_ms:.2f}"


def page_ratio(small: PageTime, large: PageTime) -> float | None:
    if small.median_ms is None or large.median_ms is None:
        return None
    return large.median_ms / small.median_ms


def summary(results: dict[int, dict[str, PageTime]]) -> dict[str, Any]:
    small, large = sorted(results)
    return {"sizes": [small, large], "page_size": PAGE, "limits": LIMITS_OFF,
            "pages": {name: {"ms": {str(size): rounded(results[size][name].median_ms)
                                    for size in (small, large)},
                             "errors": {str(size): results[size][name].error
                                        for size in (small, large)},
                             "statements": {str(size): results[size][name].statements
                                            for size in (small, large)},
                             "listed": {str(size): results[size][name].listed
                                        for size in (small, large)},
                             "ratio": rounded(page_ratio(results[small][name],
                                                         results[large][name]))}
                      for name in results[small]}}
