"""The SQL unit of work: one connection and transaction, scoped to one organization.

On PostgreSQL the scope is also set as `fleetgate.org_id` for the transaction, which the
row-level security policies read, so a query that forgot its org filter still cannot see
another organization's rows.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from adapters.sql.repositories import (
    SqlApiKeyRepository,
    SqlOrganizationRepository,
    SqlSessionRepository,
    SqlUserRepository,
    SqlVerificationCodeRepository,
)


async def set_scope(conn: AsyncConnection, org_id: str) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT set_config('fleetgate.org_id', :org, true)"),
                           {"org": org_id})


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine, org_id: str) -> None:
        self._engine, self._org = engine, org_id
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        self._conn = await self._engine.connect()
        self._tx = await self._conn.begin()
        await set_scope(self._conn, self._org)
        conn, org = self._conn, self._org
        self.organizations = SqlOrganizationRepository(conn, org)
        self.users = SqlUserRepository(conn, org)
        self.sessions = SqlSessionRepository(conn, org)
        self.api_keys = SqlApiKeyRepository(conn, org)
        self.codes = SqlVerificationCodeRepository(conn, org)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._conn is not None and self._tx is not None
        try:
            if self._tx.is_active:
                await self._tx.rollback()
        finally:
            await self._conn.close()

    async def commit(self) -> None:
        assert self._tx is not None and self._conn is not None
        await self._tx.commit()
        # a use case may keep working (e.g. record a failed attempt, then raise)
        self._tx = await self._conn.begin()
        await set_scope(self._conn, self._org)


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def __call__(self, org_id: str) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, org_id)
