"""Bulk rows for benchmark data: SQLAlchemy Core inserts, thousands of rows per statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

CHUNK = 5_000


def node_row(node_id: str, org_id: str, i: int, now: datetime,
             tags: Sequence[str] = ()) -> dict[str, Any]:
    """A provisioned, connected lightbulb, as the nodes table holds it."""
    return {
        "id": node_id, "org_id": org_id, "name": f"Lamp {i}", "type": "Lightbulb",
        "model": "bench", "fw_version": "1.0", "config_version": "",
        "config": {"node_id": node_id, "info": {"type": "Lightbulb", "model": "bench",
                                                "fw_version": "1.0"}},
        "reported": {"Light": {"power": i % 2 == 0, "brightness": i % 100}},
        "desired": {}, "params_version": 1, "connected": True,
        "connection_ts": 1_700_000_000_000, "tags": list(tags), "metadata": None,
        "active": True, "created_at": now}


def membership_row(node_id: str, user_id: str, org_id: str, role: str,
                   now: datetime) -> dict[str, Any]:
    return {"node_id": node_id, "user_id": user_id, "org_id": org_id, "role": role,
            "source": "NODE", "created_at": now}


async def insert_rows(conn: Any, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """executemany in chunks (an AsyncConnection inside the caller's transaction)."""
    from sqlalchemy import insert

    for first in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), list(rows[first:first + CHUNK]))
