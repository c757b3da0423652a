"""Credential look-ups on the request path: one short read each, no unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.cache import ReadCache
from adapters.sql.credentials import api_key_from_row
from adapters.sql.kit import aware
from adapters.sql.tables.accounts import api_keys, sessions, user_roles, users
from adapters.sql.uow import set_scope
from domain.access.model import Principal, PrincipalKind
from domain.accounts.model import ApiKey
from ports.repositories.uow import SYSTEM_SCOPE


class SqlPrincipalLookup:
    def __init__(self, engine: AsyncEngine, cache: ReadCache | None = None) -> None:
        self._engine, self._cache = engine, cache
        self._user_q = (
            select(users.c.user_name, sessions.c.expires_at, user_roles.c.role)
            .select_from(users.join(sessions, sessions.c.user_id == users.c.id)
                         .outerjoin(user_roles, user_roles.c.user_id == users.c.id))
            .where(users.c.id == bindparam("uid"),
                   users.c.org_id == bindparam("org"), sessions.c.id == bindparam("sid"),
                   sessions.c.org_id == bindparam("org"), sessions.c.revoked_at.is_(None))
        )

    async def user_principal(self, org_id: str, user_id: str, session_id: str,
                             now: datetime) -> Principal | None:
        key = (org_id, user_id, session_id)
        if self._cache is None:
            loaded = await self._load(key, now)
            return loaded[0] if loaded else None
        cached = self._cache.principal(key, now)
        if cached is not None:
            return cached
        generation = self._cache.generation(user_id)
        loaded = await self._load(key, now)
        if loaded is not None:
            self._cache.put_principal(key, loaded[0], loaded[1], generation)
            return loaded[0]
        return None

    async def _load(self, key: tuple[str, str, str], now: datetime
                    ) -> tuple[Principal, datetime] | None:
        org_id, user_id, session_id = key
        async with self._engine.connect() as conn:
            await set_scope(conn, org_id)
            rows = (await conn.execute(self._user_q,
                                       {"uid": user_id, "org": org_id, "sid": session_id})).all()
        expires = aware(rows[0].expires_at) if rows else None
        if expires is None or expires <= now:
            return None
        principal = Principal(kind=PrincipalKind.USER, org_id=org_id, user_id=user_id,
                              user_name=rows[0].user_name, session_id=session_id,
                              roles=frozenset(r.role for r in rows if r.role))
        return principal, expires

    async def api_key(self, key_id: str) -> ApiKey | None:
        async with self._engine.connect() as conn:
            await set_scope(conn, SYSTEM_SCOPE)
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return api_key_from_row(row) if row else None

