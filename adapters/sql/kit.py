"""What every SQL repository shares: the transaction it runs in, its organization scope,
and the small helpers (aware datetimes, NUL-refusing writes, statements built once)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.cache import ReadCache
from domain.errors import ValidationFailed
from ports.repositories.uow import SYSTEM_SCOPE


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
