"""The SQL adapter on a real database (SQLite file; PostgreSQL when DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from adapters.sql.engine import make_engine
from adapters.sql.tables.catalog import complete_metadata
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.accounts.model import ApiKey, Organization, Session, User
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import ON_POSTGRES

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def uow(database_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    engine = make_engine(database_url)
    factory = SqlUnitOfWorkFactory(engine)
    async with factory(SYSTEM_SCOPE) as tx:
        for org in ("org-a", "org-b"):
            await tx.organizations.add(Organization(id=org, name=org, created_at=NOW))
            await tx.users.add(User(id=f"u-{org}", org_id=org, user_name=f"x@{org}.io",
                                    password_hash="h", created_at=NOW, roles={"user"}))
        await tx.commit()
    yield factory
    await engine.dispose()


async def test_leaving_without_commit_writes_nothing(uow: SqlUnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError):
        async with uow("org-a") as tx:
            await tx.users.add(User(id="u-new", org_id="org-a", user_name="new@a.io",
                                    password_hash="h", created_at=NOW))
            raise RuntimeError("failure mid unit of work")
    async with uow("org-a") as tx:
        assert await tx.users.get("u-new") is None


async def test_repositories_only_see_their_org(uow: SqlUnitOfWorkFactory) -> None:
    async with uow("org-a") as tx:
        assert await tx.users.get("u-org-b") is None
        assert await tx.users.get_by_user_name("x@org-b.io") is None
        assert await tx.users.count() == 1
        assert (await tx.users.get("u-org-a")).roles == {"user"}  # type: ignore[union-attr]


async def test_refresh_token_can_be_claimed_exactly_once_under_concurrency(
        uow: SqlUnitOfWorkFactory) -> None:
    async with uow("org-a") as tx:
        await tx.sessions.add(Session(id="s1", org_id="org-a", user_id="u-org-a",
                                      created_at=NOW, expires_at=NOW + timedelta(days=1)))
        await tx.sessions.add_refresh_token("s1", "hash-1", "org-a")
        await tx.commit()

    async def claim() -> bool:
        async with uow(SYSTEM_SCOPE) as tx:
            won = await tx.sessions.claim_refresh_token("hash-1", NOW)
            await tx.commit()
            return won

    results = await asyncio.gather(*(claim() for _ in range(8)))
    assert results.count(True) == 1


async def test_api_keys_page_in_creation_order(uow: SqlUnitOfWorkFactory) -> None:
    async with uow("org-a") as tx:
        for i in range(5):
            await tx.api_keys.add(ApiKey(id=f"k{i}", org_id="org-a", name=f"n{i}",
                                         secret_hash="0" * 64, created_by=None,
                                         created_at=NOW + timedelta(seconds=i)))
        await tx.commit()
    async with uow("org-a") as tx:
        first = await tx.api_keys.list(after=None, limit=2)
        rest = await tx.api_keys.list(after=first[-1].id, limit=10)
    assert [k.id for k in first] == ["k0", "k1"] and [k.id for k in rest] == ["k2", "k3", "k4"]
    async with uow("org-b") as tx:
        assert await tx.api_keys.list(after=None, limit=10) == []


async def test_tables_match_the_migrations(database_url: str) -> None:
    engine = make_engine(database_url, app_role=False)
    async with engine.connect() as conn:
        def columns(sync_conn):  # type: ignore[no-untyped-def]
            from sqlalchemy import inspect

            insp = inspect(sync_conn)
            return {t: {c["name"] for c in insp.get_columns(t)} for t in complete_metadata().tables}

        live = await conn.run_sync(columns)
    await engine.dispose()
    tables = complete_metadata().tables
    assert live == {name: {c.name for c in t.columns} for name, t in tables.items()}


@pytest.mark.skipif(not ON_POSTGRES, reason="row-level security exists on PostgreSQL only")
async def test_row_level_security_stops_a_query_that_forgot_its_org_filter(
        uow: SqlUnitOfWorkFactory, database_url: str) -> None:
    engine = make_engine(database_url)  # the app role: RLS applies
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT set_config('fleetgate.org_id', 'org-a', true)"))
            # a buggy repository query: no WHERE org_id = ...
            rows = (await conn.execute(text("SELECT org_id FROM users"))).scalars().all()
            assert rows == ["org-a"]
            orgs = (await conn.execute(text("SELECT id FROM organizations"))).scalars().all()
            assert orgs == ["org-a"]
        async with engine.begin() as conn:  # no scope set at all: nothing is visible
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 0
        with pytest.raises(Exception, match="row-level security"):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT set_config('fleetgate.org_id', 'org-a', true)"))
                await conn.execute(text(
                    "INSERT INTO users (id, org_id, user_name, password_hash, name, confirmed,"
                    " created_at) VALUES ('evil', 'org-b', 'e@b.io', 'h', '', true, now())"))
    finally:
        await engine.dispose()
