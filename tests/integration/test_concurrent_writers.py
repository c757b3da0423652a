"""D4: concurrent writers on the default SQLite database never surface 'database is locked'."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapters.sql.engine import make_engine
from adapters.sql.uow import SqlUnitOfWorkFactory
from domain.accounts.model import Organization, User
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def test_eight_writers_times_two_hundred_writes(database_url: str) -> None:
    engine = make_engine(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    async with uow(SYSTEM_SCOPE) as tx:
        await tx.organizations.add(Organization(id="o", name="o", created_at=NOW))
        await tx.commit()

    async def writer(w: int) -> None:
        for i in range(200):
            async with uow("o") as tx:
                await tx.users.add(User(id=f"u{w}-{i}", org_id="o", user_name=f"u{w}-{i}@o.io",
                                        password_hash="h", created_at=NOW))
                await tx.commit()

    try:
        await asyncio.gather(*(writer(w) for w in range(8)))
        async with uow("o") as tx:
            assert await tx.users.count() == 1600
    finally:
        await engine.dispose()


async def test_concurrent_profile_updates_through_the_api(env: Env) -> None:
    tokens = [await env.provision(f"w{i}@example.com") for i in range(8)]

    async def updates(token: str) -> list[int]:
        codes = []
        for n in range(25):
            r = await env.client.put("/v1/user2", json={"name": f"n{n}"},
                                     headers={"Authorization": token})
            codes.append(r.status_code)
        return codes

    results = await asyncio.gather(*(updates(t) for t in tokens))
    assert {c for codes in results for c in codes} == {200}
