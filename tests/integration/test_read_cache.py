"""The single-process read cache never serves a row older than the last commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.sql.cache import ReadCache
from domain.access.model import Principal, PrincipalKind
from domain.accounts.model import User

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def user(name: str = "") -> User:
    return User(id="u1", org_id="o", user_name="u@o.io", password_hash="h", created_at=NOW,
                name=name)


def test_a_read_that_raced_a_commit_is_not_cached() -> None:
    cache = ReadCache()
    seen = cache.generation("u1")      # reader starts its query
    cache.evict_users({"u1"})          # a writer commits meanwhile
    cache.put_user(user("old"), seen)  # the reader's (old) row arrives
    assert cache.user("u1") is None


def test_eviction_drops_users_and_their_principals() -> None:
    cache = ReadCache()
    principal = Principal(kind=PrincipalKind.USER, org_id="o", user_id="u1", roles=frozenset())
    cache.put_user(user("x"), cache.generation("u1"))
    cache.put_principal(("o", "u1", "s1"), principal, NOW + timedelta(days=1),
                        cache.generation("u1"))
    assert cache.principal(("o", "u1", "s1"), NOW) == principal
    cache.evict_users({"u1"})
    assert cache.user("u1") is None and cache.principal(("o", "u1", "s1"), NOW) is None


def test_cached_entities_are_copies_and_sessions_expire() -> None:
    cache = ReadCache()
    cache.put_user(user("x"), 0)
    got = cache.user("u1")
    assert got is not None
    got.name = "mutated"
    assert cache.user("u1").name == "x"  # type: ignore[union-attr]
    principal = Principal(kind=PrincipalKind.USER, org_id="o", user_id="u1", roles=frozenset())
    cache.put_principal(("o", "u1", "s1"), principal, NOW + timedelta(seconds=1), 0)
    assert cache.principal(("o", "u1", "s1"), NOW + timedelta(seconds=2)) is None
