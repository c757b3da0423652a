"""SQL repositories of accounts: organizations and users (with their roles). Row mappers
between tables and domain entities; they never commit. Credentials are in credentials.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    delete,
    func,
    insert,
    select,
    update,
)

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.accounts import (
    organizations,
    refresh_tokens,
    sessions,
    user_roles,
    users,
    verification_codes,
)
from domain.accounts.model import (
    Organization,
    User,
    UserQuery,
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
