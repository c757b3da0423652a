"""PostgreSQL's row-level security is a second line of defence that really applies: every
pooled connection works as the application role (no superuser, no BYPASSRLS) for its whole
life, whatever its transactions did; every table holding an organization id has an enabled
and forced policy; one organization's scope cannot touch another's compiled rules; and a
statement running past the configured timeout is cancelled without holding the pool."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from adapters.sql.engine import APP_ROLE, make_engine
from adapters.sql.tables.access import casbin_rule
from adapters.sql.tables.billing import billing_events
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.errors import Unavailable
from fleetgate.settings import Settings
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import ON_POSTGRES, Env, start_env, with_settings

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES, reason="row-level security and statement_timeout are PostgreSQL's: "
                            "set DATABASE_URL=postgresql+asyncpg://... to run these")

WHO = text("SELECT current_user AS who, r.rolsuper AS superuser, r.rolbypassrls AS bypass, "
           "pg_backend_pid() AS pid FROM pg_roles r WHERE r.rolname = current_user")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# tables whose organization column is not called org_id
OTHER_ORG_COLUMNS = {"organizations": "id", "casbin_rule": "v1"}


def _uow(env: Env) -> SqlUnitOfWorkFactory:
    factory = env.container.uow()
    assert isinstance(factory, SqlUnitOfWorkFactory)
    return factory


async def _read_only_units(uow: SqlUnitOfWorkFactory, org: str, n: int) -> list[Any]:
    """n concurrent units of work that only read, and end (as such requests do) in a
    rollback; ten at a time hold their connection together, so the pool grows."""
    together = asyncio.Barrier(10)

    async def one() -> Any:
        async with uow(org) as tx:
            conn = await tx.connection()
            row = (await conn.execute(WHO)).one()
            await together.wait()
        return row

    return await asyncio.gather(*(one() for _ in range(n)))


async def test_every_pooled_connection_keeps_the_app_role_after_rolled_back_reads(
        env: Env) -> None:
    token = await env.provision("ops@acme.io", org="acme")
    org = (await env.gql("{ me { organizationId } }", token=token)
           )["data"]["me"]["organizationId"]
    answers = await asyncio.gather(*(
        env.client.get("/v1/user/nodes", headers={"Authorization": token})
        for _ in range(40)))
    assert [r.status_code for r in answers] == [200] * 40
    first = await _read_only_units(_uow(env), org, 40)
    later = await _read_only_units(_uow(env), org, 40)
    assert {r.pid for r in first} & {r.pid for r in later}, "no connection was reused"
    for row in first + later:
        assert (row.who, row.superuser, row.bypass) == (APP_ROLE, False, False), row
    # and every connection left in the pool, checked out at once, outside any unit of work
    engine = env.container.engine()
    pooled = engine.pool.checkedin()  # type: ignore[attr-defined]
    assert pooled >= 2
    together = asyncio.Barrier(pooled)

    async def checkout() -> Any:
        async with engine.connect() as conn:
            row = (await conn.execute(WHO)).one()
            await together.wait()
        return row

    rows = await asyncio.gather(*(checkout() for _ in range(pooled)))
    assert len({r.pid for r in rows}) == pooled
    assert {(r.who, r.superuser, r.bypass) for r in rows} == {(APP_ROLE, False, False)}


async def test_every_table_with_an_org_column_has_enabled_and_forced_row_level_security(
        env: Env) -> None:
    # as the owner: information_schema shows a role only the tables it was granted
    owner = make_engine(env.settings.database_url, app_role=False)
    try:
        async with owner.connect() as conn:
            tables = set((await conn.execute(text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name IN ('org_id', 'organization_id', 'tenant_id')"))).scalars())
            tables |= set(OTHER_ORG_COLUMNS)
            state = {row.relname: row for row in (await conn.execute(text(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "count(p.policyname) FILTER (WHERE p.qual LIKE '%fleetgate.org_id%' "
                "  AND p.with_check LIKE '%fleetgate.org_id%') AS policies "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_policies p ON p.schemaname = n.nspname AND p.tablename = c.relname "
                "WHERE n.nspname = 'public' AND c.relkind = 'r' "
                "GROUP BY c.relname, c.relrowsecurity, c.relforcerowsecurity"))).all()}
    finally:
        await owner.dispose()
    assert len(tables) >= 30
    unprotected = {t: (state[t].relrowsecurity, state[t].relforcerowsecurity,
                       state[t].policies) for t in sorted(tables)
                   if not (state[t].relrowsecurity and state[t].relforcerowsecurity
                           and state[t].policies >= 1)}
    assert unprotected == {}


def _rules(org: str) -> list[dict[str, str]]:
    return [{"ptype": "p", "v0": "reader", "v1": org, "v2": "/v1/admin/nodes", "v3": "GET",
             "v4": "allow", "v5": "read"},
            {"ptype": "p", "v0": "writer", "v1": org, "v2": "/v1/admin/*", "v3": "*",
             "v4": "allow", "v5": "write"}]


async def _all_rules(uow: SqlUnitOfWorkFactory) -> list[Any]:
    async with uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        return list((await conn.execute(select(casbin_rule).order_by(casbin_rule.c.id))).all())


async def test_an_organizations_scope_cannot_touch_another_organizations_rules(
        env: Env) -> None:
    uow = _uow(env)
    async with uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        await conn.execute(insert(casbin_rule), _rules("org-a") + _rules("org-b"))
        await tx.commit()
    before = await _all_rules(uow)
    assert {r.v1 for r in before} == {"*", "org-a", "org-b"}  # built-in rules are seeded

    async with uow("org-a") as tx:
        conn = await tx.connection()
        seen = set((await conn.execute(select(casbin_rule.c.v1))).scalars())
        assert seen == {"org-a"}
        for org in ("org-b", "*"):
            changed = await conn.execute(update(casbin_rule).where(casbin_rule.c.v1 == org)
                                         .values(v4="deny"))
            assert changed.rowcount == 0
            gone = await conn.execute(delete(casbin_rule).where(casbin_rule.c.v1 == org))
            assert gone.rowcount == 0
        # moving one's own rule into another organization is refused too
        with pytest.raises(DBAPIError, match="row-level security"):
            async with conn.begin_nested():
                await conn.execute(update(casbin_rule).where(casbin_rule.c.v1 == "org-a")
                                   .values(v1="org-b"))
        await tx.commit()
    for org in ("org-b", "*"):
        with pytest.raises(DBAPIError, match="row-level security"):
            async with uow("org-a") as tx:
                conn = await tx.connection()
                await conn.execute(insert(casbin_rule), [{**_rules(org)[0], "v0": "intruder"}])
    assert await _all_rules(uow) == before


async def test_billing_events_are_seen_only_by_their_organization_and_the_system_scope(
        env: Env) -> None:
    uow = _uow(env)
    async with uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        await conn.execute(insert(billing_events), [
            {"id": f"evt_{org or 'unknown'}", "type": "invoice.paid", "created": 1,
             "org_id": org, "processed_at": NOW} for org in ("org-a", "org-b", None)])
        await tx.commit()
    async with uow("org-a") as tx:
        conn = await tx.connection()
        assert list((await conn.execute(select(billing_events.c.id))).scalars()) == [
            "evt_org-a"]
    async with uow(SYSTEM_SCOPE) as tx:
        conn = await tx.connection()
        assert len((await conn.execute(select(billing_events.c.id))).all()) == 3


async def test_a_statement_running_past_the_timeout_is_cancelled(settings: Settings) -> None:
    async for env in start_env(with_settings(settings, db_statement_timeout_ms=300)):
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Unavailable) as caught:
            async with _uow(env)(SYSTEM_SCOPE) as tx:
                conn = await tx.connection()
                await conn.execute(text("SELECT pg_sleep(5)"))
        assert loop.time() - started < 3
        assert caught.value.reason == "statement_timeout"
        cause = caught.value.__cause__
        assert isinstance(cause, DBAPIError)
        assert getattr(cause.orig, "sqlstate", None) == "57014"
        # the next unit of work on the same pool works
        async with _uow(env)(SYSTEM_SCOPE) as tx:
            conn = await tx.connection()
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "300ms"


async def test_a_request_stuck_past_the_timeout_answers_503_and_the_next_one_works(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    async for env in start_env(with_settings(settings, db_statement_timeout_ms=300)):
        token = await env.provision("ops@acme.io", org="acme")
        headers = {"Authorization": token}
        assert (await env.client.get("/v1/user/nodes", headers=headers)).status_code == 200
        # another session holds the node tables (a migration, a heavy maintenance job)
        blocker = make_engine(settings.database_url, app_role=False)
        try:
            async with blocker.connect() as conn:
                await conn.execute(text(
                    "LOCK TABLE node_memberships, nodes IN ACCESS EXCLUSIVE MODE"))
                # as a server answers: the error is not raised into the test
                transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
                with caplog.at_level(logging.WARNING, logger="fleetgate.sql"):
                    async with httpx.AsyncClient(transport=transport,
                                                 base_url="http://testserver") as client:
                        r = await asyncio.wait_for(
                            client.get("/v1/user/nodes", headers=headers), 10)
                await conn.rollback()
        finally:
            await blocker.dispose()
        assert r.status_code == 503
        assert r.json() == {"status": "failure", "error_code": 100001, "description":
                            "The database took too long to answer; try again later"}
        assert any("statement_timeout" in m for m in caplog.messages), caplog.messages
        assert (await env.client.get("/v1/user/nodes", headers=headers)).status_code == 200


async def test_migrations_and_maintenance_outside_units_of_work_carry_no_timeout(
        settings: Settings) -> None:
    async for env in start_env(with_settings(settings, db_statement_timeout_ms=300)):
        async with env.container.engine().connect() as conn:
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "0"
        migrations = make_engine(settings.database_url, app_role=False)
        try:
            async with migrations.connect() as conn:
                assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "0"
        finally:
            await migrations.dispose()
