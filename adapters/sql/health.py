"""What the database says about this installation's health: it answers a query, its schema is
at the migrations' head, and (on PostgreSQL) row-level security applies to the role the
application uses; plus the fleet counts the metrics report (every organization together).

Every check takes a short `timeout_ms` that PostgreSQL enforces itself (statement_timeout);
callers still put their own deadline around it, since a database that does not answer at all
never reaches the statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.migrate import alembic_config
from adapters.sql.tables.devices import nodes
from adapters.sql.tables.ota import ota_jobs, ota_node_status
from adapters.sql.uow import set_scope

SYSTEM = "*"  # the row-level security scope that sees every organization (fleet counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheck:
    ok: bool
    detail: str
    facts: dict[str, object] = field(default_factory=dict)


def migration_heads() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code (reads the scripts)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def _limit(conn: AsyncConnection, timeout_ms: int) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"SET LOCAL statement_timeout = {int(timeout_ms)}"))


async def check_database(engine: AsyncEngine, *, timeout_ms: int = 1000) -> HealthCheck:
    """`SELECT 1`; on PostgreSQL also that current_user is neither a superuser nor has
    BYPASSRLS, either of which would make every row-level security policy a no-op."""
    try:
        async with engine.connect() as conn:
            await _limit(conn, timeout_ms)
            await conn.execute(text("SELECT 1"))
            if conn.dialect.name != "postgresql":
                return HealthCheck(ok=True, detail="answers queries",
                                   facts={"dialect": conn.dialect.name})
            row = (await conn.execute(text(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"))).one_or_none()
    except (SQLAlchemyError, OSError) as exc:
        return HealthCheck(ok=False, detail=f"query failed ({type(exc).__name__})")
    if row is None:
        return HealthCheck(ok=False, detail="current_user has no pg_roles entry")
    user, superuser, bypass = str(row[0]), bool(row[1]), bool(row[2])
    facts: dict[str, object] = {"dialect": "postgresql", "current_user": user}
    if superuser or bypass:
        what = "a superuser" if superuser else "a role with BYPASSRLS"
        return HealthCheck(ok=False, facts=facts, detail=(
            f"connected as {user!r}, {what}: row-level security does not apply to it, so "
            f"a query missing its organization filter would see every organization's rows; "
            f"connect as (or SET ROLE to) a role without SUPERUSER and BYPASSRLS"))
    return HealthCheck(ok=True, detail="answers queries; row-level security applies",
                       facts=facts)


async def check_migrations(engine: AsyncEngine, heads: frozenset[str], *,
                           timeout_ms: int = 1000) -> HealthCheck:
    """The revision recorded in alembic_version is the head of the shipped migrations."""
    try:
        async with engine.connect() as conn:
            await _limit(conn, timeout_ms)
            current = frozenset(str(v) for v in (await conn.execute(
                text("SELECT version_num FROM alembic_version"))).scalars())
    except (SQLAlchemyError, OSError) as exc:
        return HealthCheck(ok=False, detail=f"cannot read alembic_version "
                                            f"({type(exc).__name__}): not migrated?")
    facts: dict[str, object] = {"current": sorted(current), "head": sorted(heads)}
    if current == heads:
        return HealthCheck(ok=True, detail="at head", facts=facts)
    return HealthCheck(ok=False, facts=facts, detail=(
        "the database is not at the migrations' head: run `fleetgate migrate`"
        if current else "no revision recorded: run `fleetgate migrate`"))


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetCounts:
    nodes_connected: int
    nodes_disconnected: int
    ota_jobs: dict[str, int]  # by job status
    ota_nodes: dict[str, int]  # OTA target nodes by their status in the job, every job


async def fleet_counts(engine: AsyncEngine, *, timeout_ms: int = 2000) -> FleetCounts:
    """Counts over every organization (active nodes by connectivity, OTA jobs and their
    target nodes by status): operator figures, never shown to a tenant."""
    async with engine.connect() as conn:
        await set_scope(conn, SYSTEM)
        await _limit(conn, timeout_ms)
        connectivity: dict[bool, int] = dict((await conn.execute(
            select(nodes.c.connected, func.count()).where(nodes.c.active.is_(True))
            .group_by(nodes.c.connected))).tuples().all())
        jobs = (await conn.execute(select(ota_jobs.c.status, func.count())
                                   .group_by(ota_jobs.c.status))).tuples().all()
        targets = (await conn.execute(select(ota_node_status.c.status, func.count())
                                      .group_by(ota_node_status.c.status))).tuples().all()
    return FleetCounts(nodes_connected=int(connectivity.get(True, 0)),
                       nodes_disconnected=int(connectivity.get(False, 0)),
                       ota_jobs={str(s): int(n) for s, n in jobs},
                       ota_nodes={str(s): int(n) for s, n in targets})
