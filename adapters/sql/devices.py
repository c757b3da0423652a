"""SQL repository of nodes (SqlNodeRepository) and its row mapper; it never commits. The
other device tables: adapters/sql/registration_tokens.py, mapping_requests.py,
params_history.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    bindparam,
    false,
    insert,
    select,
    update,
)

from adapters.sql import node_queries
from adapters.sql.kit import _Scoped, aware, prepared, refusing_nul
from adapters.sql.tables.devices import (
    node_secrets,
    nodes,
)
from domain.devices.model import (
    Connectivity,
    Node,
    NodeFilter,
    NodeSecrets,
)


def node_from_row(row: Any) -> Node:
    return Node(id=row.id, org_id=row.org_id, created_at=aware(row.created_at),  # type: ignore[arg-type]
                name=row.name, type=row.type, model=row.model, fw_version=row.fw_version,
                config=row.config, config_version=row.config_version,
                reported=row.reported or {}, desired=row.desired or {},
                params_version=row.params_version,
                connectivity=Connectivity(connected=row.connected,
                                          timestamp_ms=row.connection_ts),
                tags=list(row.tags or []), metadata=row.metadata, active=row.active)


def _node_values(node: Node) -> dict[str, Any]:
    return {"name": node.name, "type": node.type, "model": node.model,
            "fw_version": node.fw_version, "config": node.config,
            "config_version": node.config_version, "reported": node.reported,
            "desired": node.desired, "params_version": node.params_version,
            "connected": node.connectivity.connected,
            "connection_ts": node.connectivity.timestamp_ms, "tags": node.tags,
            "metadata": node.metadata, "active": node.active}


_DEVICE_COLUMNS = ("name", "type", "model", "fw_version", "config", "config_version",
                   "reported", "params_version", "connected", "connection_ts")


def _device_values(node: Node) -> dict[str, Any]:
    """What devices report; tags, metadata, desired and active are users' to write."""
    values = _node_values(node)
    return {column: values[column] for column in _DEVICE_COLUMNS}


class SqlNodeRepository(_Scoped):
    async def add(self, node: Node, secrets: NodeSecrets) -> None:
        await self._exec(insert(nodes).values(id=node.id, org_id=node.org_id,
                                              created_at=node.created_at, **_node_values(node)))
        await self._exec(insert(node_secrets).values(
            node_id=secrets.node_id, org_id=secrets.org_id,
            mqtt_password_hash=secrets.mqtt_password_hash,
            secret_key_hash=secrets.secret_key_hash, public_key=secrets.public_key or None))

    async def get(self, node_id: str) -> Node | None:
        q = select(nodes).where(nodes.c.id == node_id, self._in_scope(nodes.c.org_id))
        row = (await self._exec(q)).first()
        return node_from_row(row) if row else None

    async def save(self, node: Node) -> None:
        await self._exec(update(nodes).where(
            nodes.c.id == node.id, self._in_scope(nodes.c.org_id)).values(**_node_values(node)))

    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        if not node_ids:
            return []
        statement, params = prepared("nodes.get_many", self._org, lambda scope: select(
            nodes).where(nodes.c.id.in_(bindparam("b_ids", expanding=True)),
                         scope(nodes.c.org_id)))
        rows = (await self._exec(statement, {**params, "b_ids": list(node_ids)})).all()
        return [node_from_row(r) for r in rows]

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        result = await self._exec(update(nodes).where(
            nodes.c.id == node.id, nodes.c.params_version == expected_version,
            self._in_scope(nodes.c.org_id)).values(**_node_values(node)))
        return bool(result.rowcount == 1)

    async def save_many_if_version(self, pairs: Sequence[tuple[Node, int]]) -> Sequence[str]:
        """One version check (SELECT, locking the rows) and one executemany UPDATE for all.

        What is read cannot change before the UPDATE: PostgreSQL locks the rows (FOR UPDATE);
        SQLite is first made to take its single write lock with an UPDATE that matches
        nothing (so call this before other reads in the transaction, or SQLite may refuse
        to upgrade a stale read snapshot)."""
        if not pairs:
            return []
        conn = await self._tx.connection()
        ids = [node.id for node, _ in pairs]
        check = select(nodes.c.id, nodes.c.params_version).where(
            nodes.c.id.in_(ids), self._in_scope(nodes.c.org_id))
        if conn.dialect.name == "postgresql":
            check = check.with_for_update()
        else:
            await conn.execute(update(nodes).where(false()).values(active=nodes.c.active))
        stored = {row.id: row.params_version for row in (await conn.execute(check)).all()}
        winners = [(node, expected) for node, expected in pairs if stored.get(node.id) == expected]
        if winners:
            statement = update(nodes).where(
                nodes.c.id == bindparam("b_id"),
                nodes.c.params_version == bindparam("b_expected"),
                self._in_scope(nodes.c.org_id))
            result = await conn.execute(statement, [
                {**_device_values(node), "b_id": node.id, "b_expected": expected}
                for node, expected in winners])
            if 0 <= result.rowcount < len(winners):  # cannot happen while the rows are locked
                raise RuntimeError("node rows changed under a batched optimistic update")
        won = {node.id for node, _ in winners}
        return [node.id for node, _ in pairs if node.id not in won]

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        q = select(nodes).where(nodes.c.connected.is_(True), self._in_scope(nodes.c.org_id))
        if after_id is not None:
            q = q.where(nodes.c.id > after_id)
        rows = (await self._exec(q.order_by(nodes.c.id).limit(limit))).all()
        return [node_from_row(r) for r in rows]

    async def save_connectivity_if_unchanged(self, pairs: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        """One conditional UPDATE per node (run once per restart, for the few stale nodes)."""
        left = []
        for node, read in pairs:
            result = await self._exec(update(nodes).where(
                nodes.c.id == node.id, nodes.c.connected == read.connected,
                nodes.c.connection_ts == read.timestamp_ms, self._in_scope(nodes.c.org_id),
            ).values(connected=node.connectivity.connected,
                     connection_ts=node.connectivity.timestamp_ms))
            if result.rowcount != 1:
                left.append(node.id)
        return left

    async def secrets(self, node_id: str) -> NodeSecrets | None:
        q = select(node_secrets).where(node_secrets.c.node_id == node_id,
                                       self._in_scope(node_secrets.c.org_id))
        row = (await self._exec(q)).first()
        return NodeSecrets(node_id=row.node_id, org_id=row.org_id,
                           mqtt_password_hash=row.mqtt_password_hash,
                           secret_key_hash=row.secret_key_hash,
                           public_key=row.public_key or "") if row else None

    # --- an admin's view (the queries live in adapters/sql/node_queries.py) ---
    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        with refusing_nul():
            rows, total = await node_queries.search(
                await self._tx.connection(), self._in_scope, node_filter,
                start_id=start_id, limit=limit)
        return [node_from_row(r) for r in rows], total

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        with refusing_nul():
            return await node_queries.activity_counts(
                await self._tx.connection(), self._in_scope, node_filter, since_ms)

    async def tag_values(self) -> Sequence[str]:
        return await node_queries.tag_values(await self._tx.connection(), self._in_scope)

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        await node_queries.set_active_many(await self._tx.connection(), self._in_scope,
                                           node_ids, active)

    async def save_tags_many(self, changed: Sequence[Node]) -> None:
        await node_queries.save_tags_many(await self._tx.connection(), self._in_scope,
                                          changed)
