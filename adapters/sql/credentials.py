"""SQL repositories of account credentials: sessions with their refresh tokens, API keys and
verification codes. Row mappers between tables and domain entities; they never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    insert,
    select,
    tuple_,
    update,
)

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.accounts import (
    api_keys,
    refresh_tokens,
    sessions,
    verification_codes,
)
from domain.accounts.model import (
    ApiKey,
    CodePurpose,
    Session,
    VerificationCode,
)


class SqlSessionRepository(_Scoped):
    async def add(self, session: Session) -> None:
        await self._exec(insert(sessions).values(
            id=session.id, org_id=session.org_id, user_id=session.user_id,
            created_at=session.created_at, expires_at=session.expires_at,
            revoked_at=session.revoked_at))

    async def get(self, session_id: str) -> Session | None:
        q = select(sessions).where(sessions.c.id == session_id, self._in_scope(sessions.c.org_id))
        row = (await self._exec(q)).first()
        if row is None:
            return None
        return Session(id=row.id, org_id=row.org_id, user_id=row.user_id,
                       created_at=aware(row.created_at),  # type: ignore[arg-type]
                       expires_at=aware(row.expires_at),  # type: ignore[arg-type]
                       revoked_at=aware(row.revoked_at))

    async def save(self, session: Session) -> None:
        self._tx.touched_users.add(session.user_id)
        await self._exec(update(sessions).where(
            sessions.c.id == session.id, self._in_scope(sessions.c.org_id)).values(
            revoked_at=session.revoked_at))

    async def revoke_all_for_user(self, user_id: str, now: datetime) -> int:
        self._tx.touched_users.add(user_id)
        result = await self._exec(update(sessions).where(
            sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None),
            self._in_scope(sessions.c.org_id)).values(revoked_at=now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def add_refresh_token(self, session_id: str, token_hash: str, org_id: str) -> None:
        await self._exec(insert(refresh_tokens).values(
            token_hash=token_hash, session_id=session_id, org_id=org_id, used_at=None))

    async def find_refresh_token(self, token_hash: str) -> tuple[str, bool] | None:
        q = select(refresh_tokens.c.session_id, refresh_tokens.c.used_at).where(
            refresh_tokens.c.token_hash == token_hash, self._in_scope(refresh_tokens.c.org_id))
        row = (await self._exec(q)).first()
        return (row.session_id, row.used_at is not None) if row else None

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        result = await self._exec(update(refresh_tokens).where(
            refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used_at.is_(None),
            self._in_scope(refresh_tokens.c.org_id)).values(used_at=now))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def api_key_from_row(row: Any) -> ApiKey:
    return ApiKey(id=row.id, org_id=row.org_id, name=row.name, secret_hash=row.secret_hash,
                  created_at=aware(row.created_at), created_by=row.created_by,  # type: ignore[arg-type]
                  roles=set(filter(None, row.roles.split(","))),
                  expires_at=aware(row.expires_at), revoked_at=aware(row.revoked_at))


class SqlApiKeyRepository(_Scoped):
    async def add(self, key: ApiKey) -> None:
        await self._exec(insert(api_keys).values(
            id=key.id, org_id=key.org_id, name=key.name, secret_hash=key.secret_hash,
            roles=",".join(sorted(key.roles)), created_by=key.created_by,
            created_at=key.created_at, expires_at=key.expires_at, revoked_at=key.revoked_at))

    async def get(self, key_id: str) -> ApiKey | None:
        q = select(api_keys).where(api_keys.c.id == key_id, self._in_scope(api_keys.c.org_id))
        row = (await self._exec(q)).first()
        return api_key_from_row(row) if row else None

    async def save(self, key: ApiKey) -> None:
        await self._exec(update(api_keys).where(
            api_keys.c.id == key.id, self._in_scope(api_keys.c.org_id)).values(
            name=key.name, revoked_at=key.revoked_at, roles=",".join(sorted(key.roles))))

    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKey]:
        q = select(api_keys).where(self._in_scope(api_keys.c.org_id))
        if after is not None:
            anchor = select(api_keys.c.created_at, api_keys.c.id).where(
                api_keys.c.id == after, self._in_scope(api_keys.c.org_id)).subquery()
            q = q.where(tuple_(api_keys.c.created_at, api_keys.c.id) > tuple_(
                select(anchor.c.created_at).scalar_subquery(),
                select(anchor.c.id).scalar_subquery()))
        q = q.order_by(api_keys.c.created_at, api_keys.c.id).limit(limit)
        return [api_key_from_row(r) for r in (await self._exec(q)).all()]


class SqlVerificationCodeRepository(_Scoped):
    async def add(self, code: VerificationCode) -> None:
        await self._exec(insert(verification_codes).values(
            id=code.id, org_id=code.org_id, user_id=code.user_id, purpose=code.purpose.value,
            code_hash=code.code_hash, expires_at=code.expires_at, attempts=code.attempts,
            consumed=code.consumed))

    async def latest(self, user_id: str, purpose: str) -> VerificationCode | None:
        q = (select(verification_codes)
             .where(verification_codes.c.user_id == user_id,
                    verification_codes.c.purpose == purpose,
                    verification_codes.c.consumed.is_(False),
                    self._in_scope(verification_codes.c.org_id))
             .order_by(verification_codes.c.expires_at.desc()).limit(1))
        row = (await self._exec(q)).first()
        if row is None:
            return None
        return VerificationCode(id=row.id, org_id=row.org_id, user_id=row.user_id,
                                purpose=CodePurpose(row.purpose), code_hash=row.code_hash,
                                expires_at=aware(row.expires_at),  # type: ignore[arg-type]
                                attempts=row.attempts, consumed=row.consumed)

    async def save(self, code: VerificationCode) -> None:
        await self._exec(update(verification_codes).where(
            verification_codes.c.id == code.id).values(attempts=code.attempts,
                                                        consumed=code.consumed))

    async def invalidate(self, user_id: str, purpose: str) -> None:
        await self._exec(delete(verification_codes).where(
            and_(verification_codes.c.user_id == user_id, verification_codes.c.purpose == purpose),
            self._in_scope(verification_codes.c.org_id)))
