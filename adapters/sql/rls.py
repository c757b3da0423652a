"""Row-level security for tenant tables, as every migration that adds one applies it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

APP_ROLE = "fleetgate_app"
"""The role the application works as on PostgreSQL (no login, no BYPASSRLS): migrations
grant it the tables, and every application connection takes it (adapters/sql/engine.py)."""

SCOPE = "current_setting('fleetgate.org_id', true)"
POLICY = "org_isolation"


def enable_tenant_rls(op: Any, tables: Iterable[str], *, column: str = "org_id") -> None:
    """On PostgreSQL: the app role may use the tables, and sees (and writes) only rows whose
    `column` is the transaction's organization (or all, under the system scope '*'); rows
    with no organization are the system scope's alone. Enabled and forced, so the tables'
    owner is held to it too. Nothing on SQLite."""
    names = list(tables)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(names)} TO {APP_ROLE}")
    for table in names:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {POLICY} ON {table} "
                   f"USING ({SCOPE} = '*' OR {column} = {SCOPE}) "
                   f"WITH CHECK ({SCOPE} = '*' OR {column} = {SCOPE})")


def disable_tenant_rls(op: Any, tables: Iterable[str]) -> None:
    """Undoes enable_tenant_rls (the grants stay). Nothing on SQLite."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
