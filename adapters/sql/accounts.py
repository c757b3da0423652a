"""SQL repositories of accounts: organizations, users, sessions, API keys, verification codes.
Row mappers between tables and domain entities; they never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    func,
    insert,
    select,
    tuple_,
    update,
)

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.accounts import (
    api_keys,
    organizations,
    refresh_tokens,
    sessions,
    user_roles,
    users,
    verification_codes,
)
from domain.accounts.model import (
    ApiKey,
    CodePurpose,
    Organization,
    Session,
    User,
    UserQuery,
    VerificationCode,
)


class SqlOrganizationRepository(_Scoped):
    @staticmethod
    def _row(row: Any) -> Organization:
        return Organization(id=row.id, name=row.name, hostname=row.hostname,
                            created_at=aware(row.created_at))  # type: ignore[arg-type]

    async def _one(self, *where: Any) -> Organization | None:
        q = select(organizations).where(self._in_scope(organizations.c.id), *where)
        row = (await self._exec(q)).first()
        return self._row(row) if row else None

    async def add(self, org: Organization) -> None:
        await self._exec(insert(organizations).values(
            id=org.id, name=org.name, hostname=org.hostname, created_at=org.created_at))

    async def get(self, org_id: str) -> Organization | None:
        return await self._one(organizations.c.id == org_id)

    async def get_by_name(self, name: str) -> Organization | None:
        return await self._one(organizations.c.name == name)

    async def get_by_hostname(self, hostname: str) -> Organization | None:
        return await self._one(organizations.c.hostname == hostname.lower())


class SqlUserRepository(_Scoped):
    async def _load(self, *where: Any) -> User | None:
        q = select(users).where(self._in_scope(users.c.org_id), *where)
        row = (await self._exec(q)).first()
        if row is None:
            return None
        roles = (await self._exec(
            select(user_roles.c.role).where(user_roles.c.user_id == row.id))).scalars().all()
        return User(id=row.id, org_id=row.org_id, user_name=row.user_name,
                    password_hash=row.password_hash, name=row.name, confirmed=row.confirmed,
                    created_at=aware(row.created_at), roles=set(roles))  # type: ignore[arg-type]

    async def add(self, user: User) -> None:
        self._tx.touched_users.add(user.id)
        await self._exec(insert(users).values(
            id=user.id, org_id=user.org_id, user_name=user.user_name,
            password_hash=user.password_hash, name=user.name, confirmed=user.confirmed,
            created_at=user.created_at))
        await self._write_roles(user)

    async def _write_roles(self, user: User) -> None:
        await self._exec(delete(user_roles).where(user_roles.c.user_id == user.id))
        if user.roles:
            await self._exec(insert(user_roles), [
                {"org_id": user.org_id, "user_id": user.id, "role": r} for r in sorted(user.roles)])

    async def get(self, user_id: str) -> User | None:
        cache = self._tx.cache
        if cache is None or user_id in self._tx.touched_users:
            return await self._load(users.c.id == user_id)
        cached = cache.user(user_id)
        if cached is not None:
            return cached if self._visible(cached.org_id) else None
        generation = cache.generation(user_id)
        user = await self._load(users.c.id == user_id)
        if user is not None:
            cache.put_user(user, generation)
        return user

    async def get_by_user_name(self, user_name: str) -> User | None:
        return await self._load(users.c.user_name == user_name)

    async def save(self, user: User) -> None:
        self._tx.touched_users.add(user.id)
        await self._exec(
            update(users).where(users.c.id == user.id, self._in_scope(users.c.org_id)).values(
                password_hash=user.password_hash, name=user.name, confirmed=user.confirmed))
        await self._write_roles(user)

    async def delete(self, user: User) -> None:
        self._tx.touched_users.add(user.id)
        # children first: SQLite only cascades when foreign keys are on for the connection
        for table in (verification_codes, user_roles):
            await self._exec(delete(table).where(table.c.user_id == user.id))
        session_ids = select(sessions.c.id).where(sessions.c.user_id == user.id)
        await self._exec(delete(refresh_tokens).where(
            refresh_tokens.c.session_id.in_(session_ids)))
        await self._exec(delete(sessions).where(sessions.c.user_id == user.id))
        await self._exec(
            delete(users).where(users.c.id == user.id, self._in_scope(users.c.org_id)))

    async def count(self) -> int:
        q = select(func.count()).select_from(users).where(self._in_scope(users.c.org_id))
        return int((await self._exec(q)).scalar_one())

    def _matching(self, query: UserQuery) -> list[Any]:
        def holds(condition: Any) -> Any:
            return select(user_roles.c.user_id).where(
                user_roles.c.user_id == users.c.id, condition).exists()

        where = [self._in_scope(users.c.org_id)]
        if query.user_id is not None:
            where.append(users.c.id == query.user_id)
        if query.name_prefix:
            where.append(users.c.user_name.startswith(query.name_prefix, autoescape=True))
        if query.with_any_role is not None:
            where.append(holds(user_roles.c.role.in_(sorted(query.with_any_role))))
        if query.with_role_other_than is not None:
            where.append(holds(user_roles.c.role != query.with_role_other_than))
        if query.without_roles:
            where.append(~holds(user_roles.c.role.in_(sorted(query.without_roles))))
        return where

    async def page(self, query: UserQuery, *, start: str | None,
                   limit: int) -> tuple[Sequence[User], int]:
        where = self._matching(query)
        total = select(func.count()).select_from(users).where(*where).scalar_subquery()
        q = select(users, total.label("total")).where(*where)
        if start is not None:
            q = q.where(users.c.user_name >= start)
        rows = (await self._exec(q.order_by(users.c.user_name).limit(limit))).all()
        if not rows:  # past the last page: the total still counts every match
            count = select(func.count()).select_from(users).where(*where)
            return [], int((await self._exec(count)).scalar_one())
        roles: dict[str, set[str]] = {row.id: set() for row in rows}
        for user_id, role in (await self._exec(select(user_roles.c.user_id, user_roles.c.role)
                                               .where(user_roles.c.user_id.in_(list(roles))))):
            roles[user_id].add(role)
        return [User(id=row.id, org_id=row.org_id, user_name=row.user_name,
                     password_hash=row.password_hash, name=row.name, confirmed=row.confirmed,
                     created_at=aware(row.created_at),  # type: ignore[arg-type]
                     roles=roles[row.id]) for row in rows], int(rows[0].total)

    async def count_signed_in_since(self, since: datetime) -> int:
        q = select(func.count(func.distinct(sessions.c.user_id))).where(
            sessions.c.created_at >= since, self._in_scope(sessions.c.org_id))
        return int((await self._exec(q)).scalar_one())


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
