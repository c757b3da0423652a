"""SQL repository of node registration tokens (issued, found by hash, claimed once); it
never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.devices import (
    node_registration_tokens,
)
from domain.devices.model import RegistrationToken


class SqlRegistrationTokenRepository(_Scoped):
    async def add(self, token: RegistrationToken) -> None:
        await self._exec(insert(node_registration_tokens).values(
            id=token.id, org_id=token.org_id, node_name=token.node_name,
            token_hash=token.token_hash, created_by=token.created_by,
            created_at=token.created_at, expires_at=token.expires_at, used_at=token.used_at,
            node_id=token.node_id))

    async def find(self, token_hash: str) -> RegistrationToken | None:
        t = node_registration_tokens
        row = (await self._exec(select(t).where(t.c.token_hash == token_hash,
                                                self._in_scope(t.c.org_id)))).first()
        if row is None:
            return None
        return RegistrationToken(id=row.id, org_id=row.org_id, node_name=row.node_name,
                                 token_hash=row.token_hash, created_by=row.created_by,
                                 created_at=aware(row.created_at),  # type: ignore[arg-type]
                                 expires_at=aware(row.expires_at),  # type: ignore[arg-type]
                                 used_at=aware(row.used_at), node_id=row.node_id)

    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        t = node_registration_tokens
        result = await self._exec(update(t).where(
            t.c.id == token_id, t.c.used_at.is_(None), self._in_scope(t.c.org_id)).values(
            used_at=now, node_id=node_id))
        return bool(result.rowcount == 1)
