"""Casbin rules in the casbin_rule table, and seeding of the built-in rules from a CSV file."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables.access import access_policies, casbin_rule
from adapters.sql.uow import set_scope
from domain.access.rbac.model import NodeReach
from domain.access.rbac.validation import parse_policy
from ports.repositories.uow import SYSTEM_SCOPE

COLUMNS = ("ptype", "v0", "v1", "v2", "v3", "v4", "v5")


def read_rule_file(path: Path) -> list[list[str]]:
    rows = []
    with path.open() as fh:
        for raw in csv.reader(line for line in fh if line.strip() and not line.startswith("#")):
            rows.append([part.strip() for part in raw])
    return rows


class SqlPolicyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load_rules(self) -> list[list[str]]:
        """Every organization's rules and the built-in ones (the system scope)."""
        async with self._engine.connect() as conn:
            await set_scope(conn, SYSTEM_SCOPE)
            rows = (await conn.execute(select(*[casbin_rule.c[c] for c in COLUMNS])
                                       .order_by(casbin_rule.c.id))).all()
        return [list(r) for r in rows]

    async def seed(self, rules: list[list[str]]) -> None:
        """Inserts rules that are not there yet (idempotent)."""
        values = [dict(zip(COLUMNS, (r + [""] * 7)[:7], strict=True)) for r in rules]
        if not values:
            return
        dialect_insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        async with self._engine.begin() as conn:
            await set_scope(conn, SYSTEM_SCOPE)  # the built-in rules are no organization's
            await conn.execute(dialect_insert(casbin_rule).values(values).on_conflict_do_nothing())

    async def load_filters(self) -> dict[tuple[str, str], tuple[NodeReach, ...]]:
        """Node filters of every organization's policies, by (org id, policy name)."""
        async with self._engine.connect() as conn:
            await set_scope(conn, SYSTEM_SCOPE)
            rows = (await conn.execute(select(access_policies.c.org_id, access_policies.c.name,
                                              access_policies.c.document))).all()
        out: dict[tuple[str, str], tuple[NodeReach, ...]] = {}
        for row in rows:
            filters = parse_policy(row.document).filters
            if filters:
                out[(row.org_id, row.name)] = filters
        return out
