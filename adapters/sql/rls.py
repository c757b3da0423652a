"""Row-level security for tenant tables, as every migration that adds one applies it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

APP_ROLE = "fleetgate_app"
SCOPE = "current_setting('fleetgate.org_id', true)"


def enable_tenant_rls(op: Any, tables: Iterable[str]) -> None:
    """On PostgreSQL: the app role may use the tables, and sees (and writes) only rows of the
    transaction's organization (or all, under the system scope '*'). Nothing on SQLite."""
    names = list(tables)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(names)} TO {APP_ROLE}")
    for table in names:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY org_isolation ON {table} "
                   f"USING ({SCOPE} = '*' OR org_id = {SCOPE}) "
                   f"WITH CHECK ({SCOPE} = '*' OR org_id = {SCOPE})")
