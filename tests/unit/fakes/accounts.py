"""In-memory fakes of the accounts ports: organizations, users, sessions, API keys, codes,
principals, password hashing and tokens."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime

from domain.access.model import Principal, PrincipalKind
from domain.accounts.model import (
    ApiKey,
    Organization,
    Session,
    User,
    UserQuery,
    VerificationCode,
)
from tests.unit.fakes.store import Store, _Repo


class InMemoryOrganizations(_Repo):
    async def add(self, org: Organization) -> None:
        self.s.orgs[org.id] = org

    async def get(self, org_id: str) -> Organization | None:
        org = self.s.orgs.get(org_id)
        return org if org and self.visible(org.id) else None

    async def get_by_name(self, name: str) -> Organization | None:
        return next((o for o in self.s.orgs.values() if o.name == name and self.visible(o.id)),
                    None)

    async def get_by_hostname(self, hostname: str) -> Organization | None:
        return next((o for o in self.s.orgs.values() if o.hostname == hostname), None)


class InMemoryUsers(_Repo):
    async def add(self, user: User) -> None:
        assert all(u.user_name != user.user_name for u in self.s.users.values())
        self.s.users[user.id] = copy.deepcopy(user)

    async def get(self, user_id: str) -> User | None:
        user = self.s.users.get(user_id)
        return copy.deepcopy(user) if user and self.visible(user.org_id) else None

    async def get_by_user_name(self, user_name: str) -> User | None:
        found = next((u for u in self.s.users.values() if u.user_name == user_name), None)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, user: User) -> None:
        self.s.users[user.id] = copy.deepcopy(user)

    async def delete(self, user: User) -> None:
        self.s.users.pop(user.id, None)
        for sid in [k for k, v in self.s.sessions.items() if v.user_id == user.id]:
            del self.s.sessions[sid]

    async def count(self) -> int:
        return sum(1 for u in self.s.users.values() if self.visible(u.org_id))

    async def page(self, query: UserQuery, *, start: str | None,
                   limit: int) -> tuple[Sequence[User], int]:
        def matches(u: User) -> bool:
            return self.visible(u.org_id) \
                and query.user_id in (None, u.id) \
                and u.user_name.startswith(query.name_prefix or "") \
                and (query.with_any_role is None or bool(query.with_any_role & u.roles)) \
                and (query.with_role_other_than is None
                     or bool(u.roles - {query.with_role_other_than})) \
                and not query.without_roles & u.roles

        found = sorted((u for u in self.s.users.values() if matches(u)),
                       key=lambda u: u.user_name)
        page = [u for u in found if start is None or u.user_name >= start][:limit]
        return copy.deepcopy(page), len(found)

    async def count_signed_in_since(self, since: datetime) -> int:
        return len({s.user_id for s in self.s.sessions.values()
                    if s.created_at >= since and self.visible(s.org_id)})


class InMemorySessions(_Repo):
    async def add(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str) -> Session | None:
        session = self.s.sessions.get(session_id)
        return copy.deepcopy(session) if session and self.visible(session.org_id) else None

    async def save(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def revoke_all_for_user(self, user_id: str, now: datetime) -> int:
        n = 0
        for session in self.s.sessions.values():
            if session.user_id == user_id and session.revoked_at is None:
                session.revoked_at, n = now, n + 1
        return n

    async def add_refresh_token(self, session_id: str, token_hash: str, org_id: str) -> None:
        self.s.refresh[token_hash] = (session_id, org_id, None)

    async def find_refresh_token(self, token_hash: str) -> tuple[str, bool] | None:
        found = self.s.refresh.get(token_hash)
        return (found[0], found[2] is not None) if found else None

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        found = self.s.refresh.get(token_hash)
        if found is None or found[2] is not None:
            return False
        self.s.refresh[token_hash] = (found[0], found[1], now)
        return True


class InMemoryApiKeys(_Repo):
    async def add(self, key: ApiKey) -> None:
        self.s.keys[key.id] = copy.deepcopy(key)

    async def get(self, key_id: str) -> ApiKey | None:
        key = self.s.keys.get(key_id)
        return copy.deepcopy(key) if key and self.visible(key.org_id) else None

    async def save(self, key: ApiKey) -> None:
        self.s.keys[key.id] = copy.deepcopy(key)

    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKey]:
        keys = sorted((k for k in self.s.keys.values() if self.visible(k.org_id)),
                      key=lambda k: (k.created_at, k.id))
        if after is not None:
            ids = [k.id for k in keys]
            keys = keys[ids.index(after) + 1:] if after in ids else []
        return [copy.deepcopy(k) for k in keys[:limit]]


class InMemoryCodes(_Repo):
    async def add(self, code: VerificationCode) -> None:
        self.s.codes[code.id] = copy.deepcopy(code)

    async def latest(self, user_id: str, purpose: str) -> VerificationCode | None:
        found = [c for c in self.s.codes.values()
                 if c.user_id == user_id and c.purpose == purpose and not c.consumed]
        return copy.deepcopy(max(found, key=lambda c: c.expires_at)) if found else None

    async def save(self, code: VerificationCode) -> None:
        self.s.codes[code.id] = copy.deepcopy(code)

    async def invalidate(self, user_id: str, purpose: str) -> None:
        for cid in [k for k, c in self.s.codes.items()
                    if c.user_id == user_id and c.purpose == purpose]:
            del self.s.codes[cid]


class InMemoryPrincipals:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def user_principal(self, org_id: str, user_id: str, session_id: str,
                             now: datetime) -> Principal | None:
        user, session = self._store.users.get(user_id), self._store.sessions.get(session_id)
        if user is None or session is None or user.org_id != org_id \
                or session.user_id != user_id or not session.active(now):
            return None
        return Principal(kind=PrincipalKind.USER, org_id=org_id, user_id=user_id,
                         user_name=user.user_name, session_id=session_id,
                         roles=frozenset(user.roles))

    async def api_key(self, key_id: str) -> ApiKey | None:
        return self._store.keys.get(key_id)
