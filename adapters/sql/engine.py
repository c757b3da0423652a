"""Engine creation with per-dialect settings (SQLite WAL and busy timeout; PG pool checks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

APP_ROLE = "fleetgate_app"
"""PostgreSQL role the application switches to so row-level security applies to it even when
the configured login is a superadmin (superusers bypass RLS)."""


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def make_engine(url: str, *, app_role: bool = True) -> AsyncEngine:
    kwargs: dict[str, Any] = {}
    if is_postgres(url):
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
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

    elif is_postgres(url) and app_role:

        @event.listens_for(engine.sync_engine, "connect")
        def _pg_role(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"SET ROLE {APP_ROLE}")
            cursor.close()

    return engine
