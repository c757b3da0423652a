"""SQL repositories: row mappers between tables and domain entities. They never commit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql import node_queries
from adapters.sql.cache import ReadCache
from adapters.sql.tables.accounts import (
    api_keys,
    organizations,
    refresh_tokens,
    sessions,
    user_roles,
    users,
    verification_codes,
)
from adapters.sql.tables.devices import (
    node_mapping_requests,
    node_params_history,
    node_registration_tokens,
    node_secrets,
    nodes,
)
from adapters.sql.tables.groups import node_group_members, node_groups
from adapters.sql.tables.sharing import node_group_shares, node_memberships, node_sharing_requests
from domain.accounts.model import (
    ApiKey,
    CodePurpose,
    Organization,
    Session,
    User,
    UserQuery,
    VerificationCode,
)
from domain.devices.model import (
    PRIMARY,
    SECONDARY,
    Connectivity,
    MappingRequest,
    Node,
    NodeFilter,
    NodeMembership,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
    strongest,
)
from domain.errors import ValidationFailed
from domain.sharing.model import SharingRequest
from ports.repositories import SYSTEM_SCOPE


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything in the domain is UTC-aware."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Transaction(Protocol):
    """What repositories need from their unit of work."""

    cache: ReadCache | None
    touched_users: set[str]

    async def connection(self) -> AsyncConnection: ...


UNTRANSLATABLE_CHARACTER = "22021"  # character_not_in_repertoire: a NUL in a text value
NUL_IN_JSON_TEXT = "22P05"  # untranslatable_character: \u0000 in json read back as text


@contextlib.contextmanager
def refusing_nul() -> Iterator[None]:
    """PostgreSQL text cannot hold NUL: a value with one names nothing stored and cannot be
    stored; the caller gets a 400, never a 500."""
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in (UNTRANSLATABLE_CHARACTER, NUL_IN_JSON_TEXT):
            raise ValidationFailed("Text must not contain NUL characters",
                                   reason="nul_character") from exc
        raise


class _Scoped:
    """Base: one transaction, one org scope. Every query of a tenant table filters by it."""

    def __init__(self, tx: Transaction, org_id: str) -> None:
        self._tx, self._org = tx, org_id

    async def _exec(self, statement: Any, params: Any = None) -> Any:
        conn = await self._tx.connection()
        with refusing_nul():
            if params is None:
                return await conn.execute(statement)
            return await conn.execute(statement, params)

    def _visible(self, org_id: str) -> bool:
        return self._org == SYSTEM_SCOPE or org_id == self._org

    def _in_scope(self, column: Any) -> Any:
        return True if self._org == SYSTEM_SCOPE else column == self._org


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





def node_from_row(row: Any) -> Node:
    return Node(id=row.id, org_id=row.org_id, created_at=aware(row.created_at),  # type: ignore[arg-type]
                name=row.name, type=row.type, model=row.model, fw_version=row.fw_version,
                config=row.config, config_version=row.config_version,
                reported=row.reported or {}, desired=row.desired or {},
                params_version=row.params_version,
                connectivity=Connectivity(connected=row.connected,
                                          timestamp_ms=row.connection_ts),
                tags=list(row.tags or []), metadata=row.metadata, active=row.active)


def _node_values(node: Node) -> dict[str, Any]:
    return {"name": node.name, "type": node.type, "model": node.model,
            "fw_version": node.fw_version, "config": node.config,
            "config_version": node.config_version, "reported": node.reported,
            "desired": node.desired, "params_version": node.params_version,
            "connected": node.connectivity.connected,
            "connection_ts": node.connectivity.timestamp_ms, "tags": node.tags,
            "metadata": node.metadata, "active": node.active}


_DEVICE_COLUMNS = ("name", "type", "model", "fw_version", "config", "config_version",
                   "reported", "params_version", "connected", "connection_ts")


def _device_values(node: Node) -> dict[str, Any]:
    """What devices report; tags, metadata, desired and active are users' to write."""
    values = _node_values(node)
    return {column: values[column] for column in _DEVICE_COLUMNS}


_PREPARED: dict[tuple[str, bool], Any] = {}
Scope = Callable[[Any], Any]


def prepared(name: str, org_id: str, build: Callable[[Scope], Any]) -> tuple[Any, dict[str, str]]:
    """A statement of the node list built once per shape and reused with parameters (the org
    as b_org), with those parameters: the list runs on every app refresh, and building its
    union cost more CPU than running it (a reused construct also keeps its cache key). Only
    SQL structure is shared, never rows."""
    system = org_id == SYSTEM_SCOPE
    statement = _PREPARED.get((name, system))
    if statement is None:
        def scope(column: Any) -> Any:
            return true() if system else column == bindparam("b_org")
        statement = _PREPARED[(name, system)] = build(scope)
    return statement, ({} if system else {"b_org": org_id})


class SqlNodeRepository(_Scoped):
    async def add(self, node: Node, secrets: NodeSecrets) -> None:
        await self._exec(insert(nodes).values(id=node.id, org_id=node.org_id,
                                              created_at=node.created_at, **_node_values(node)))
        await self._exec(insert(node_secrets).values(
            node_id=secrets.node_id, org_id=secrets.org_id,
            mqtt_password_hash=secrets.mqtt_password_hash,
            secret_key_hash=secrets.secret_key_hash, public_key=secrets.public_key or None))

    async def get(self, node_id: str) -> Node | None:
        q = select(nodes).where(nodes.c.id == node_id, self._in_scope(nodes.c.org_id))
        row = (await self._exec(q)).first()
        return node_from_row(row) if row else None

    async def save(self, node: Node) -> None:
        await self._exec(update(nodes).where(
            nodes.c.id == node.id, self._in_scope(nodes.c.org_id)).values(**_node_values(node)))

    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        if not node_ids:
            return []
        statement, params = prepared("nodes.get_many", self._org, lambda scope: select(
            nodes).where(nodes.c.id.in_(bindparam("b_ids", expanding=True)),
                         scope(nodes.c.org_id)))
        rows = (await self._exec(statement, {**params, "b_ids": list(node_ids)})).all()
        return [node_from_row(r) for r in rows]

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        result = await self._exec(update(nodes).where(
            nodes.c.id == node.id, nodes.c.params_version == expected_version,
            self._in_scope(nodes.c.org_id)).values(**_node_values(node)))
        return bool(result.rowcount == 1)

    async def save_many_if_version(self, pairs: Sequence[tuple[Node, int]]) -> Sequence[str]:
        """One version check (SELECT, locking the rows) and one executemany UPDATE for all.

        What is read cannot change before the UPDATE: PostgreSQL locks the rows (FOR UPDATE);
        SQLite is first made to take its single write lock with an UPDATE that matches
        nothing (so call this before other reads in the transaction, or SQLite may refuse
        to upgrade a stale read snapshot)."""
        if not pairs:
            return []
        conn = await self._tx.connection()
        ids = [node.id for node, _ in pairs]
        check = select(nodes.c.id, nodes.c.params_version).where(
            nodes.c.id.in_(ids), self._in_scope(nodes.c.org_id))
        if conn.dialect.name == "postgresql":
            check = check.with_for_update()
        else:
            await conn.execute(update(nodes).where(false()).values(active=nodes.c.active))
        stored = {row.id: row.params_version for row in (await conn.execute(check)).all()}
        winners = [(node, expected) for node, expected in pairs if stored.get(node.id) == expected]
        if winners:
            statement = update(nodes).where(
                nodes.c.id == bindparam("b_id"),
                nodes.c.params_version == bindparam("b_expected"),
                self._in_scope(nodes.c.org_id))
            result = await conn.execute(statement, [
                {**_device_values(node), "b_id": node.id, "b_expected": expected}
                for node, expected in winners])
            if 0 <= result.rowcount < len(winners):  # cannot happen while the rows are locked
                raise RuntimeError("node rows changed under a batched optimistic update")
        won = {node.id for node, _ in winners}
        return [node.id for node, _ in pairs if node.id not in won]

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        q = select(nodes).where(nodes.c.connected.is_(True), self._in_scope(nodes.c.org_id))
        if after_id is not None:
            q = q.where(nodes.c.id > after_id)
        rows = (await self._exec(q.order_by(nodes.c.id).limit(limit))).all()
        return [node_from_row(r) for r in rows]

    async def save_connectivity_if_unchanged(self, pairs: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        """One conditional UPDATE per node (run once per restart, for the few stale nodes)."""
        left = []
        for node, read in pairs:
            result = await self._exec(update(nodes).where(
                nodes.c.id == node.id, nodes.c.connected == read.connected,
                nodes.c.connection_ts == read.timestamp_ms, self._in_scope(nodes.c.org_id),
            ).values(connected=node.connectivity.connected,
                     connection_ts=node.connectivity.timestamp_ms))
            if result.rowcount != 1:
                left.append(node.id)
        return left

    async def secrets(self, node_id: str) -> NodeSecrets | None:
        q = select(node_secrets).where(node_secrets.c.node_id == node_id,
                                       self._in_scope(node_secrets.c.org_id))
        row = (await self._exec(q)).first()
        return NodeSecrets(node_id=row.node_id, org_id=row.org_id,
                           mqtt_password_hash=row.mqtt_password_hash,
                           secret_key_hash=row.secret_key_hash,
                           public_key=row.public_key or "") if row else None

    # --- an admin's view (the queries live in adapters/sql/node_queries.py) ---
    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        with refusing_nul():
            rows, total = await node_queries.search(
                await self._tx.connection(), self._in_scope, node_filter,
                start_id=start_id, limit=limit)
        return [node_from_row(r) for r in rows], total

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        with refusing_nul():
            return await node_queries.activity_counts(
                await self._tx.connection(), self._in_scope, node_filter, since_ms)

    async def tag_values(self) -> Sequence[str]:
        return await node_queries.tag_values(await self._tx.connection(), self._in_scope)

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        await node_queries.set_active_many(await self._tx.connection(), self._in_scope,
                                           node_ids, active)

    async def save_tags_many(self, changed: Sequence[Node]) -> None:
        await node_queries.save_tags_many(await self._tx.connection(), self._in_scope,
                                          changed)


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


def _membership(row: Any) -> NodeMembership:
    return NodeMembership(node_id=row.node_id, org_id=row.org_id, user_id=row.user_id,
                          role=row.role, source=row.source,
                          created_at=aware(row.created_at))  # type: ignore[arg-type]


class SqlMembershipRepository(_Scoped):
    """Direct memberships are rows of node_memberships; access through a shared group is
    derived when read (never stored), so it follows the group's members, its shares and its
    owner's own access on every request."""

    def _direct(self, *where: Any, scope: Scope | None = None) -> Any:
        m = node_memberships
        return select(m.c.node_id, m.c.user_id, m.c.org_id, m.c.role, m.c.source,
                      m.c.created_at).where(*where, (scope or self._in_scope)(m.c.org_id))

    def _through_groups(self, *where: Any, scope: Scope | None = None) -> Any:
        """(node, user) pairs reached through a shared group: the node is a member of the
        group and its owner holds the node directly; primary only when both the share and
        the owner's own access are primary. (A sub-group's nodes are all in its parent, so a
        share of a parent covers its sub-groups' nodes.)"""
        m, s, g = node_group_members, node_group_shares, node_groups
        own = node_memberships.alias("owner_access")
        role = case((and_(s.c.role == PRIMARY, own.c.role == PRIMARY), PRIMARY),
                    else_=SECONDARY)
        return (select(m.c.node_id, s.c.user_id, s.c.org_id, role.label("role"),
                       s.c.group_id.label("source"), s.c.created_at)
                .select_from(s.join(g, g.c.id == s.c.group_id)
                             .join(m, m.c.group_id == s.c.group_id)
                             .join(own, and_(own.c.node_id == m.c.node_id,
                                             own.c.user_id == g.c.user_id)))
                .where(*where, (scope or self._in_scope)(s.c.org_id)))

    @staticmethod
    def _ordered(direct: Any, derived: Any) -> Any:
        both = union_all(direct, derived).subquery()
        return select(both).order_by(both.c.node_id, both.c.user_id, both.c.source)

    async def _effective(self, direct: Any, derived: Any) -> list[NodeMembership]:
        rows = (await self._exec(self._ordered(direct, derived))).all()
        return [_membership(r) for r in rows]

    async def add(self, membership: NodeMembership) -> None:
        await self._exec(insert(node_memberships).values(
            node_id=membership.node_id, user_id=membership.user_id, org_id=membership.org_id,
            role=membership.role, source=membership.source, created_at=membership.created_at))

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        m, gm, s = node_memberships, node_group_members, node_group_shares
        return strongest(await self._effective(
            self._direct(m.c.node_id == node_id, m.c.user_id == user_id),
            self._through_groups(gm.c.node_id == node_id, s.c.user_id == user_id)))

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None:
        m = node_memberships
        row = (await self._exec(self._direct(m.c.node_id == node_id,
                                             m.c.user_id == user_id))).first()
        return _membership(row) if row else None

    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        m = node_memberships
        rows = (await self._exec(self._direct(m.c.node_id == node_id))).all()
        return [_membership(r) for r in rows]

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        m, s = node_memberships, node_group_shares
        user = bindparam("b_user")
        statement, params = prepared("memberships.for_user", self._org, lambda scope: (
            self._ordered(self._direct(m.c.user_id == user, scope=scope),
                          self._through_groups(s.c.user_id == user, scope=scope))))
        rows = (await self._exec(statement, {**params, "b_user": user_id})).all()
        found = [_membership(r) for r in rows]
        by_node: dict[str, list[NodeMembership]] = {}
        for membership in found:
            by_node.setdefault(membership.node_id, []).append(membership)
        return [m for m in (strongest(ms) for ms in by_node.values()) if m is not None]

    def _reached_ids(self, scope: Scope, dialect: str, *, from_start: bool,
                     tagged: bool) -> tuple[Any, Any]:
        """Ids of the nodes the user b_user reaches, as two disjoint selects of a `node_id`
        column: direct memberships, and nodes reached only through shared groups (distinct);
        from b_start (byte order: COLLATE "C" on PostgreSQL) and with any of b_tags when
        asked."""
        m, gm, s, g = node_memberships, node_group_members, node_group_shares, node_groups
        own, mine = node_memberships.alias("owner_access"), node_memberships.alias("mine")
        user = bindparam("b_user")

        def ids(node_id: Any, query: Any) -> Any:
            query = query.add_columns(node_queries.byte_order(node_id, dialect).label("node_id"))
            if from_start:
                query = query.where(node_queries.byte_order(node_id, dialect)
                                    >= bindparam("b_start"))
            if tagged:
                query = query.where(node_queries.tagged(
                    node_id, bindparam("b_tags", expanding=True)))
            return query

        direct = ids(m.c.node_id, select().select_from(m).where(
            m.c.user_id == user, scope(m.c.org_id)))
        derived = ids(gm.c.node_id, select().select_from(
            s.join(g, g.c.id == s.c.group_id).join(gm, gm.c.group_id == s.c.group_id)
            .join(own, and_(own.c.node_id == gm.c.node_id, own.c.user_id == g.c.user_id)))
            .where(s.c.user_id == user, scope(s.c.org_id), ~exists().where(
                mine.c.node_id == gm.c.node_id, mine.c.user_id == user))).distinct()
        return direct, derived

    def _page_statement(self, scope: Scope, dialect: str, *, from_start: bool,
                        tagged: bool) -> Any:
        """The page's memberships: the first ids of each part (the direct ones walked from
        ix_node_memberships_user_node), merged, computed once (a MATERIALIZED CTE, with the
        page size rendered as a literal), so no plan PostgreSQL caches for the prepared
        statement can re-run the page per row of a big user's memberships."""
        m, gm, s = node_memberships, node_group_members, node_group_shares
        size = bindparam("b_size", type_=Integer(), literal_execute=True)

        def first(part: Any) -> Any:
            return select(part.order_by(part.selected_columns.node_id).limit(size)
                          .subquery().c.node_id)

        direct, derived = self._reached_ids(scope, dialect, from_start=from_start,
                                            tagged=tagged)
        both = union_all(first(direct), first(derived)).subquery()
        page = select(both.c.node_id).order_by(node_queries.byte_order(
            both.c.node_id, dialect)).limit(size).cte("page_ids").prefix_with("MATERIALIZED")
        user = bindparam("b_user")
        return self._ordered(
            self._direct(m.c.user_id == user, m.c.node_id.in_(select(page.c.node_id)),
                         scope=scope),
            self._through_groups(s.c.user_id == user,
                                 gm.c.node_id.in_(select(page.c.node_id)), scope=scope))

    def _count_statement(self, scope: Scope, dialect: str, *, tagged: bool) -> Any:
        counts = [select(func.count()).select_from(part.subquery()).scalar_subquery()
                  for part in self._reached_ids(scope, dialect, from_start=False,
                                                tagged=tagged)]
        return select(counts[0] + counts[1])

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        """One query for the page; a count (of index entries) only when the page is not
        the whole list. Statements are built once per shape."""
        dialect = (await self._tx.connection()).dialect.name
        shape = f"{dialect}:{start_id is not None}:{bool(tags)}"
        statement, params = prepared(f"memberships.page:{shape}", self._org, lambda scope: (
            self._page_statement(scope, dialect, from_start=start_id is not None,
                                 tagged=bool(tags))))
        binds: dict[str, Any] = {**params, "b_user": user_id, "b_size": int(limit) + 1}
        if start_id is not None:
            binds["b_start"] = start_id
        if tags:
            binds["b_tags"] = sorted(set(tags))
        by_node: dict[str, list[NodeMembership]] = {}
        for row in (await self._exec(statement, binds)).all():
            by_node.setdefault(row.node_id, []).append(_membership(row))
        ids = sorted(by_node)  # code-point order: the byte order of the ids' UTF-8
        following = ids[limit] if len(ids) > limit else None
        if start_id is None and following is None:
            total = len(ids)  # the whole list is this page
        else:
            count, _ = prepared(f"memberships.count:{dialect}:{bool(tags)}", self._org,
                                lambda scope: self._count_statement(scope, dialect,
                                                                    tagged=bool(tags)))
            binds.pop("b_start", None)
            binds.pop("b_size", None)
            total = int((await self._exec(count, binds)).scalar_one())
        page = (strongest(by_node[node_id]) for node_id in ids[:limit])
        return [membership for membership in page if membership is not None], following, total

    async def remove(self, node_id: str, user_id: str) -> None:
        m = node_memberships
        await self._exec(delete(m).where(m.c.node_id == node_id, m.c.user_id == user_id,
                                         self._in_scope(m.c.org_id)))

    async def remove_all(self, node_id: str) -> int:
        m = node_memberships
        result = await self._exec(delete(m).where(m.c.node_id == node_id,
                                                  self._in_scope(m.c.org_id)))
        return int(result.rowcount or 0)

    async def _named(self, direct: Any, derived: Any) -> list[tuple[NodeMembership, str]]:
        both = union_all(direct, derived).subquery()
        rows = (await self._exec(
            select(both, users.c.user_name).join(users, users.c.id == both.c.user_id)
            .order_by(both.c.node_id, both.c.user_id, both.c.source))).all()
        return [(_membership(r), r.user_name) for r in rows]

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        return await self.members_of_many([node_id])

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        m, gm = node_memberships, node_group_members
        return await self._named(self._direct(m.c.node_id.in_(list(node_ids))),
                                 self._through_groups(gm.c.node_id.in_(list(node_ids))))


def _mapping_request(row: Any) -> MappingRequest:
    extras = row.extras or {}
    return MappingRequest(id=row.id, org_id=row.org_id, user_id=row.user_id,
                          node_id=row.node_id, operation=row.operation, status=row.status,
                          created_at=aware(row.created_at),  # type: ignore[arg-type]
                          kind=row.kind, secret_hash=row.secret_hash or "",
                          challenge=row.challenge or "", expires_at=aware(row.expires_at),
                          tags=list(extras.get("tags", [])), metadata=extras.get("metadata"),
                          reset=bool(extras.get("reset", False)),
                          group_id=extras.get("group_id"))


def _mapping_values(request: MappingRequest) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if request.tags:
        extras["tags"] = request.tags
    if request.metadata is not None:
        extras["metadata"] = request.metadata
    if request.reset:
        extras["reset"] = True
    if request.group_id is not None:
        extras["group_id"] = request.group_id
    return {"user_id": request.user_id, "node_id": request.node_id,
            "operation": request.operation, "status": request.status, "kind": request.kind,
            "secret_hash": request.secret_hash or None, "challenge": request.challenge or None,
            "expires_at": request.expires_at, "extras": extras or None}


class SqlMappingRequestRepository(_Scoped):
    async def add(self, request: MappingRequest) -> None:
        await self._exec(insert(node_mapping_requests).values(
            id=request.id, org_id=request.org_id, created_at=request.created_at,
            **_mapping_values(request)))

    async def get(self, request_id: str) -> MappingRequest | None:
        r = node_mapping_requests
        row = (await self._exec(select(r).where(r.c.id == request_id,
                                                self._in_scope(r.c.org_id)))).first()
        return _mapping_request(row) if row else None

    async def save(self, request: MappingRequest) -> None:
        r = node_mapping_requests
        await self._exec(update(r).where(r.c.id == request.id, self._in_scope(r.c.org_id))
                         .values(**_mapping_values(request)))

    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        r = node_mapping_requests
        rows = (await self._exec(select(r).where(
            r.c.node_id == node_id, r.c.status == "requested", r.c.kind == kind,
            self._in_scope(r.c.org_id)).order_by(r.c.created_at, r.c.id).limit(100))).all()
        return [_mapping_request(row) for row in rows]

    async def delete_for_node(self, node_id: str) -> int:
        r = node_mapping_requests
        result = await self._exec(delete(r).where(r.c.node_id == node_id,
                                                  self._in_scope(r.c.org_id)))
        return int(result.rowcount or 0)


class SqlParamsHistoryRepository(_Scoped):
    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None:
        if entries:
            await self._exec(insert(node_params_history), [
                {"org_id": e.org_id, "node_id": e.node_id, "version": e.version, "at": e.at,
                 "params": e.params} for e in entries])

    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        h = node_params_history
        rows = (await self._exec(select(h).where(
            h.c.node_id == node_id, self._in_scope(h.c.org_id))
            .order_by(h.c.version.desc()).limit(limit))).all()
        return [ParamsHistoryEntry(org_id=r.org_id, node_id=r.node_id, version=r.version,
                                   at=aware(r.at), params=r.params)  # type: ignore[arg-type]
                for r in rows]

    async def delete_for_node(self, node_id: str) -> int:
        h = node_params_history
        result = await self._exec(delete(h).where(h.c.node_id == node_id,
                                                  self._in_scope(h.c.org_id)))
        return int(result.rowcount or 0)

    async def prune(self, below: Mapping[str, int]) -> None:
        if below:
            h = node_params_history
            await self._exec(delete(h).where(
                h.c.node_id == bindparam("b_node"), h.c.version < bindparam("b_below"),
                self._in_scope(h.c.org_id)),
                [{"b_node": node_id, "b_below": version} for node_id, version in below.items()])


def _sharing_request(row: Any) -> SharingRequest:
    return SharingRequest(id=row.id, org_id=row.org_id, from_user_id=row.from_user_id,
                          to_user_id=row.to_user_id, node_ids=list(row.node_ids),
                          kind=row.kind, group_ids=list(row.group_ids or []),
                          created_at=aware(row.created_at),  # type: ignore[arg-type]
                          expires_at=aware(row.expires_at), primary=row.primary_role,
                          transfer=row.transfer, new_role=row.new_role,
                          metadata=row.request_metadata, status=row.status,
                          settled_at=aware(row.settled_at))


class SqlSharingRequestRepository(_Scoped):
    async def add(self, request: SharingRequest) -> None:
        await self._exec(insert(node_sharing_requests).values(
            id=request.id, org_id=request.org_id, from_user_id=request.from_user_id,
            to_user_id=request.to_user_id, node_ids=request.node_ids,
            primary_role=request.primary, transfer=request.transfer,
            new_role=request.new_role, request_metadata=request.metadata,
            status=request.status, kind=request.kind, group_ids=request.group_ids or None,
            created_at=request.created_at, expires_at=request.expires_at,
            settled_at=request.settled_at))

    async def get(self, request_id: str) -> SharingRequest | None:
        r = node_sharing_requests
        row = (await self._exec(select(r).where(r.c.id == request_id,
                                                self._in_scope(r.c.org_id)))).first()
        return _sharing_request(row) if row else None

    async def save(self, request: SharingRequest) -> None:
        r = node_sharing_requests
        await self._exec(update(r).where(r.c.id == request.id, self._in_scope(r.c.org_id))
                         .values(status=request.status, settled_at=request.settled_at))

    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        r = node_sharing_requests
        owner = r.c.from_user_id if sent else r.c.to_user_id
        query = select(r).where(owner == user_id, self._in_scope(r.c.org_id))
        if kind is not None:
            query = query.where(r.c.kind == kind)
        if start_id is not None:
            query = query.where(r.c.id >= start_id)
        rows = (await self._exec(query.order_by(r.c.id).limit(limit))).all()
        return [_sharing_request(row) for row in rows]
