"""A read-through cache of users and signed-in principals, for single-process deployments.

SQLite is the embedded, single-process default: every write goes through this process's
units of work, which evict what they touched when they commit, so a cached read is never
staler than the last commit. (With PostgreSQL and several replicas a write in one replica
would not evict another's cache, so the composition root leaves the cache off there.)

Eviction bumps a per-user generation; a reader fills the cache only if the generation it saw
before its query is still current, so a read racing a commit cannot store an old row.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.access.model import Principal
from domain.accounts.model import User

PrincipalKey = tuple[str, str, str]  # (org id, user id, session id)


class ReadCache:
    def __init__(self, *, size: int = 20_000) -> None:
        self._size = size
        self._users: dict[str, User] = {}
        self._principals: dict[PrincipalKey, tuple[Principal, datetime]] = {}
        self._keys_by_user: dict[str, set[PrincipalKey]] = {}
        self._generation: dict[str, int] = {}

    def generation(self, user_id: str) -> int:
        return self._generation.get(user_id, 0)

    def user(self, user_id: str) -> User | None:
        cached = self._users.get(user_id)
        return _copy(cached) if cached is not None else None

    def put_user(self, user: User, seen_generation: int) -> None:
        if self.generation(user.id) != seen_generation:
            return
        if len(self._users) >= self._size:
            self._users.clear()  # bounded memory; a cold cache only costs queries
        self._users[user.id] = _copy(user)

    def principal(self, key: PrincipalKey, now: datetime) -> Principal | None:
        cached = self._principals.get(key)
        if cached is None:
            return None
        principal, session_expires = cached
        return principal if now < session_expires else None

    def put_principal(self, key: PrincipalKey, principal: Principal, session_expires: datetime,
                      seen_generation: int) -> None:
        if self.generation(key[1]) != seen_generation:
            return
        if len(self._principals) >= self._size:
            self._principals.clear()
            self._keys_by_user.clear()
        self._principals[key] = (principal, session_expires)
        self._keys_by_user.setdefault(key[1], set()).add(key)

    def evict_users(self, user_ids: set[str]) -> None:
        for user_id in user_ids:
            self._generation[user_id] = self.generation(user_id) + 1
            self._users.pop(user_id, None)
            for key in self._keys_by_user.pop(user_id, ()):
                self._principals.pop(key, None)


def _copy(user: User) -> User:
    """Callers may mutate what they get; fields are immutable but for the roles set."""
    return replace(user, roles=set(user.roles))
