"""The SQL side of batched ingest on the real database (SQLite, or PostgreSQL with RLS when
DATABASE_URL is set): the batched optimistic save, and the params history repository."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from domain.devices.model import ParamsHistoryEntry
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env

AT = datetime(2026, 1, 1, tzinfo=UTC)


async def test_batched_save_writes_the_current_and_reports_the_stale(env: Env) -> None:
    a, b = await env.provision_node(), await env.provision_node()
    uow = env.container.uow()
    async with uow(SYSTEM_SCOPE) as tx:
        node_a, node_b = await tx.nodes.get(a.node_id), await tx.nodes.get(b.node_id)
    assert node_a is not None and node_b is not None
    node_a.apply_reported({"L": {"on": True}}, AT)
    node_b.apply_reported({"L": {"on": False}}, AT)
    node_a.tags = ["stale:copy"]  # not the device's to write: left as stored
    async with uow(SYSTEM_SCOPE) as tx:
        lost = await tx.nodes.save_many_if_version([(node_a, 0), (node_b, 5)])
        await tx.commit()

    assert list(lost) == [b.node_id]
    async with uow(SYSTEM_SCOPE) as tx:
        stored_a, stored_b = await tx.nodes.get(a.node_id), await tx.nodes.get(b.node_id)
    assert stored_a is not None and stored_b is not None
    assert (stored_a.reported, stored_a.params_version) == ({"L": {"on": True}}, 1)
    assert stored_a.tags == []
    assert (stored_b.reported, stored_b.params_version) == ({}, 0)


async def test_params_history_add_read_prune_and_delete(env: Env) -> None:
    node = await env.provision_node()
    other = await env.provision_node("Other org")
    uow = env.container.uow()
    entries = [ParamsHistoryEntry(org_id=node.org_id, node_id=node.node_id, version=v, at=AT,
                                  params={"L": {"level": v}}) for v in range(1, 6)]
    async with uow(SYSTEM_SCOPE) as tx:
        await tx.params_history.add_many(entries)
        await tx.params_history.add_many([ParamsHistoryEntry(
            org_id=other.org_id, node_id=other.node_id, version=1, at=AT, params={"x": {}})])
        await tx.commit()

    async with uow(node.org_id) as tx:
        newest = await tx.params_history.for_node(node.node_id, limit=2)
        assert [e.version for e in newest] == [5, 4] and newest[0] == entries[4]
        assert await tx.params_history.for_node(other.node_id, limit=10) == []  # other tenant
        await tx.params_history.prune({node.node_id: 3})
        assert [e.version for e in await tx.params_history.for_node(node.node_id, limit=10)] \
            == [5, 4, 3]
        assert await tx.params_history.delete_for_node(other.node_id) == 0
        assert await tx.params_history.delete_for_node(node.node_id) == 3
        await tx.commit()
    async with uow(SYSTEM_SCOPE) as tx:
        assert len(await tx.params_history.for_node(other.node_id, limit=10)) == 1


async def test_ingested_batch_lands_with_its_history(env: Env) -> None:
    node = await env.provision_node()
    ingest = env.container.ingest()
    topic = f"node/{node.node_id}/params/local"
    results = await ingest.handle_batch(
        [(topic, json.dumps({"L": {"level": n}}).encode()) for n in range(3)])
    assert all(r.accepted for r in results)
    async with env.container.uow()(SYSTEM_SCOPE) as tx:
        history = await tx.params_history.for_node(node.node_id, limit=10)
        stored = await tx.nodes.get(node.node_id)
    assert stored is not None and stored.params_version == 3
    assert [(e.version, e.params) for e in history] == [
        (3, {"L": {"level": 2}}), (2, {"L": {"level": 1}}), (1, {"L": {"level": 0}})]
