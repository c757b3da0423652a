"""Batched ingest: a batch is applied per node in arrival order and written in one
transaction with its params history; a node someone else wrote meanwhile is redone, so
neither the user's desired params nor the device's report is lost."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from domain.devices.ingest import HISTORY_PRUNE_EVERY, DeviceIngest
from domain.devices.model import PARAMS_HISTORY_VERSIONS, Node
from tests.unit.fakes import FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.devices import InMemoryNodes
from tests.unit.fakes.store import Store

AT = datetime(2026, 1, 1, tzinfo=UTC)


def j(value: object) -> bytes:
    return json.dumps(value).encode()


def store_with(*node_ids: str) -> Store:
    store = Store()
    for node_id in node_ids:
        store.nodes[node_id] = Node(id=node_id, org_id="o", created_at=AT)
    return store


class CountingUow(InMemoryUnitOfWork):
    commits = 0

    async def commit(self) -> None:
        CountingUow.commits += 1
        await super().commit()


async def test_a_batch_applies_each_nodes_messages_in_order_in_one_transaction() -> None:
    store = store_with("N1", "N2")
    CountingUow.commits = 0
    ingest = DeviceIngest(uow=lambda org: CountingUow(store, org), clock=FakeClock())
    batch = [("node/N1/params/local", j({"L": {"level": 1}})),
             ("node/N2/params/local", j({"L": {"level": 7}})),
             ("node/N1/params/local", j({"L": {"level": 2}})),
             ("node/N1/params/local", j({"L": {"level": 2}})),  # redelivery in the same batch
             ("node/N2/connection", j({"connected": True, "timestamp": 5})),
             ("node/N9/params/local", j({"L": {"level": 1}})),  # unknown node
             ("node/N1/params/local", b"{oops")]
    results = await ingest.handle_batch(batch)

    assert CountingUow.commits == 1
    assert [r.accepted for r in results] == [True, True, True, False, True, False, False]
    assert results[3].reason == "duplicate"
    assert store.nodes["N1"].reported == {"L": {"level": 2}}
    assert store.nodes["N1"].params_version == 2
    assert store.nodes["N2"].connectivity.connected
    assert [(k, e.params) for k, e in sorted(store.params_history.items())] == [
        (("N1", 1), {"L": {"level": 1}}), (("N1", 2), {"L": {"level": 2}}),
        (("N2", 1), {"L": {"level": 7}})]
    assert [e.kind for r in results for e in r.events] == [
        "node_params_changed", "node_params_changed", "node_params_changed", "node_connected"]


async def test_desired_params_set_while_a_batch_is_applied_are_kept() -> None:
    store = store_with("N1")

    class UserWritesFirst(InMemoryNodes):
        """A user sets desired params between ingest's read and its write, once."""

        raced = False

        async def save_many_if_version(self, pairs: Sequence[tuple[Node, int]]
                                       ) -> Sequence[str]:
            if not UserWritesFirst.raced:
                UserWritesFirst.raced = True
                user_view = store.nodes["N1"]
                user_view.set_desired({"L": {"power": True}}, AT, expected_version=0)
                self.s.nodes["N1"] = user_view
            return await super().save_many_if_version(pairs)

    class Uow(InMemoryUnitOfWork):
        async def __aenter__(self) -> Uow:
            await super().__aenter__()
            self.nodes = UserWritesFirst(self._work, self._org)
            return self

    ingest = DeviceIngest(uow=lambda org: Uow(store, org), clock=FakeClock())
    [result] = await ingest.handle_batch([("node/N1/params/local", j({"L": {"level": 3}}))])

    node = store.nodes["N1"]
    assert result.accepted and [e.kind for e in result.events] == ["node_params_changed"]
    assert node.desired == {"L": {"power": True}}
    assert node.reported == {"L": {"level": 3}}
    assert node.params_version == 2  # desired made 1, the report 2: never backwards
    assert list(store.params_history) == [("N1", 2)]


async def test_params_history_is_bounded_per_node() -> None:
    store = store_with("N1")
    ingest = DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock())
    total = PARAMS_HISTORY_VERSIONS + 2 * HISTORY_PRUNE_EVERY
    for first in range(0, total, 250):
        await ingest.handle_batch([("node/N1/params/local", j({"L": {"n": n}}))
                                   for n in range(first, min(first + 250, total))])

    versions = sorted(v for (_, v) in store.params_history)
    assert store.nodes["N1"].params_version == total
    assert versions[-1] == total
    assert len(versions) <= PARAMS_HISTORY_VERSIONS + HISTORY_PRUNE_EVERY
    assert versions == list(range(versions[0], total + 1))
