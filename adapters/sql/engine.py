"""Engine creation with per-dialect settings (SQLite WAL and busy timeout; PG pool checks and
the application role)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sql.rls import APP_ROLE

__all__ = ["APP_ROLE", "is_postgres", "make_engine"]

log = logging.getLogger("fleetgate.sql")

QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled (statement_timeout among others)


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def make_engine(url: str, *, app_role: bool = True) -> AsyncEngine:
    """The application's engine (app_role) or, without it, the schema owner's (migrations).

    On PostgreSQL the application's connections take the role APP_ROLE (no BYPASSRLS) as a
    startup parameter of the connection, not with a SET ROLE inside a transaction that a
    rollback would undo: it holds for the connection's whole life in the pool, survives
    RESET ALL and DISCARD ALL, and row-level security applies to every statement even when
    the login is a superuser. A login that is not a member of APP_ROLE cannot connect at all.
    """
    kwargs: dict[str, Any] = {}
    if is_postgres(url):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        if app_role:
            kwargs["connect_args"] = {"server_settings": {"role": APP_ROLE}}
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    elif is_postgres(url):
        event.listen(engine.sync_engine, "handle_error", _log_cancelled)
    return engine


def cancelled_by_timeout(error: BaseException) -> bool:
    """A statement PostgreSQL cancelled because it ran past statement_timeout."""
    original = getattr(error, "orig", None) or error
    cause = getattr(original, "__cause__", None)
    for candidate in (original, cause):
        if (getattr(candidate, "sqlstate", None) == QUERY_CANCELED
                and "statement timeout" in str(candidate)):
            return True
    return False


def _log_cancelled(context: ExceptionContext) -> None:
    """A statement cut off by statement_timeout: named in the log for the operator (the
    caller only gets a bare server error; the exception itself is left as it is)."""
    error = context.original_exception
    if getattr(error, "sqlstate", None) == QUERY_CANCELED and "statement timeout" in str(error):
        statement = " ".join((context.statement or "").split())[:200]
        log.warning("statement cancelled by statement_timeout: %s", statement)
