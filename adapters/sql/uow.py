"""The SQL unit of work: one connection and transaction, scoped to one organization.

The connection is opened on the first query, so a use case served from the read cache
touches no connection at all. On PostgreSQL the scope is also set as `fleetgate.org_id` for
the transaction, which the row-level security policies read, so a query that forgot its org
filter still cannot see another organization's rows; and each transaction carries
statement_timeout, so one organization's heavy query cannot hold a pooled connection for
long (a statement past it is cancelled; work outside units of work, such as migrations,
carries none).
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from adapters.sql.access import SqlAccessRepository
from adapters.sql.accounts import SqlOrganizationRepository, SqlUserRepository
from adapters.sql.admin_groups import SqlAdminGroupRepository
from adapters.sql.billing import SqlBillingRepository
from adapters.sql.cache import ReadCache
from adapters.sql.credentials import (
    SqlApiKeyRepository,
    SqlSessionRepository,
    SqlVerificationCodeRepository,
)
from adapters.sql.devices import SqlNodeRepository
from adapters.sql.engine import cancelled_by_timeout
from adapters.sql.groups import SqlGroupRepository, SqlGroupShareRepository
from adapters.sql.mapping_requests import SqlMappingRequestRepository
from adapters.sql.ota import SqlOtaRepository
from adapters.sql.params_history import SqlParamsHistoryRepository
from adapters.sql.registration_tokens import SqlRegistrationTokenRepository
from adapters.sql.sharing import SqlMembershipRepository
from adapters.sql.sharing_requests import SqlSharingRequestRepository
from domain.errors import Unavailable

DEFAULT_STATEMENT_TIMEOUT_MS = 30_000


async def set_scope(conn: AsyncConnection, org_id: str,
                    statement_timeout_ms: int | None = None) -> None:
    """PostgreSQL: the transaction's organization (and statement_timeout, when given and
    above 0), both transaction-local (SET LOCAL), in one round trip."""
    if conn.dialect.name != "postgresql":
        return
    if statement_timeout_ms:
        await conn.execute(text("SELECT set_config('fleetgate.org_id', :org, true), "
                                "set_config('statement_timeout', :timeout, true)"),
                           {"org": org_id, "timeout": str(int(statement_timeout_ms))})
    else:
        await conn.execute(text("SELECT set_config('fleetgate.org_id', :org, true)"),
                           {"org": org_id})


class SqlUnitOfWork:
    def __init__(self, engine: AsyncEngine, org_id: str, cache: ReadCache | None,
                 statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS) -> None:
        self._engine, self._org, self.cache = engine, org_id, cache
        self._timeout = statement_timeout_ms
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self.touched_users: set[str] = set()

    async def connection(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await self._engine.connect()
        if self._tx is None:
            self._tx = await self._conn.begin()
            await set_scope(self._conn, self._org, self._timeout)
        return self._conn

    async def __aenter__(self) -> SqlUnitOfWork:
        self.organizations = SqlOrganizationRepository(self, self._org)
        self.users = SqlUserRepository(self, self._org)
        self.sessions = SqlSessionRepository(self, self._org)
        self.api_keys = SqlApiKeyRepository(self, self._org)
        self.codes = SqlVerificationCodeRepository(self, self._org)
        self.nodes = SqlNodeRepository(self, self._org)
        self.registration_tokens = SqlRegistrationTokenRepository(self, self._org)
        self.memberships = SqlMembershipRepository(self, self._org)
        self.mapping_requests = SqlMappingRequestRepository(self, self._org)
        self.params_history = SqlParamsHistoryRepository(self, self._org)
        self.sharing_requests = SqlSharingRequestRepository(self, self._org)
        self.groups = SqlGroupRepository(self, self._org)
        self.admin_groups = SqlAdminGroupRepository(self, self._org)
        self.group_shares = SqlGroupShareRepository(self, self._org)
        self.access = SqlAccessRepository(self, self._org)
        self.ota = SqlOtaRepository(self, self._org)
        self.billing = SqlBillingRepository(self, self._org)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        finally:
            self._tx = None
            if self._conn is not None:
                await self._conn.close()
                self._conn = None
        if exc is not None and cancelled_by_timeout(exc):  # rolled back: nothing written
            raise Unavailable("The database took too long to answer; try again later",
                              reason="statement_timeout") from exc

    async def commit(self) -> None:
        if self._tx is not None:
            await self._tx.commit()
            # a use case may keep working after a commit (record a failed attempt, then
            # raise): the next query begins a new transaction
            self._tx = None
        if self.cache is not None:
            self.cache.evict_users(self.touched_users)
        self.touched_users = set()


class SqlUnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, cache: ReadCache | None = None, *,
                 statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS) -> None:
        """statement_timeout_ms: 0 for none."""
        if statement_timeout_ms < 0:
            raise ValueError("the statement timeout is 0 (none) or a number of milliseconds")
        self._engine, self._cache, self._timeout = engine, cache, statement_timeout_ms

    def __call__(self, org_id: str) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, org_id, self._cache, self._timeout)
