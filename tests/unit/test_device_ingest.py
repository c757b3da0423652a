"""Device ingest: idempotent, never raises on bad input (M2, M6, M7 at the domain level)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.devices.ingest import DeviceIngest
from domain.devices.model import Node, NodeSecrets
from tests.unit.fakes import FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.store import Store

AT = datetime(2026, 1, 1, tzinfo=UTC)


def world() -> tuple[DeviceIngest, Store]:
    store = Store()
    store.nodes["N1"] = Node(id="N1", org_id="o", created_at=AT)
    store.node_secrets["N1"] = NodeSecrets(node_id="N1", org_id="o", mqtt_password_hash="x",
                                           secret_key_hash="y")
    ingest = DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock())
    return ingest, store


def j(value: object) -> bytes:
    return json.dumps(value).encode()


async def test_a_message_delivered_three_times_changes_state_once() -> None:
    ingest, store = world()
    payload = j({"Light": {"power": True}})
    results = [await ingest.handle("node/N1/params/local", payload) for _ in range(3)]
    assert [len(r.events) for r in results] == [1, 0, 0]
    assert store.nodes["N1"].params_version == 1


async def test_a_redelivered_old_message_does_not_regress_newer_state() -> None:
    ingest, store = world()
    old, new = j({"Light": {"level": 1}}), j({"Light": {"level": 2}})
    await ingest.handle("node/N1/params/local", old)
    await ingest.handle("node/N1/params/local", new)
    await ingest.handle("node/N1/params/local", old)  # broker redelivery, new packet id
    assert store.nodes["N1"].reported == {"Light": {"level": 2}}


async def test_config_and_connectivity_events() -> None:
    ingest, store = world()
    r = await ingest.handle("node/N1/config", j({"node_id": "N1", "info": {"type": "Lamp"}}))
    assert [e.kind for e in r.events] == ["node_config_changed"]
    r = await ingest.handle("node/N1/connection", j({"connected": True, "timestamp": 5}))
    assert [e.kind for e in r.events] == ["node_connected"]
    r = await ingest.handle("node/N1/connection", j({"connected": False, "timestamp": 4}))
    assert r.events == () and store.nodes["N1"].connectivity.connected


@pytest.mark.parametrize(("topic", "payload"), [
    ("node/N1/params/local", b"{not json"),
    ("node/N1/params/local", b"\xff\xfe"),
    ("node/N1/params/local", j([1, 2])),
    ("node/N1/params/local", j({"Light": 5})),
    ("node/N1/params/local", b"[" * 5000 + b"]" * 5000),
    ("node/N1/params/local", b"{\"a\":\"" + b"x" * 70_000 + b"\"}"),
    ("node/N1/connection", j({"connected": "yes"})),
    ("node/N1/connection", j({"connected": True, "timestamp": -1})),
    ("node/UNKNOWN/params/local", j({"Light": {"p": 1}})),
    ("node/../params/local", j({"Light": {"p": 1}})),
    ("other/N1/params/local", j({"Light": {"p": 1}})),
])
async def test_malformed_messages_are_dropped_not_raised(topic: str, payload: bytes) -> None:
    ingest, store = world()
    result = await ingest.handle(topic, payload)
    assert not result.accepted
    assert store.nodes["N1"].params_version == 0


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=8), children, max_size=4),
                    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(suffix=st.sampled_from(["config", "params/local", "params/local/init", "connection"]),
       body=st.one_of(JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
async def test_fuzzed_payloads_never_raise(suffix: str, body: bytes) -> None:
    ingest, store = world()
    await ingest.handle(f"node/N1/{suffix}", body)
    node = store.nodes["N1"]
    assert all(isinstance(v, dict) for v in node.reported.values())


async def test_the_same_bytes_later_are_a_new_report_not_a_redelivery() -> None:
    store = Store()
    store.nodes["N1"] = Node(id="N1", org_id="o", created_at=AT)
    now = [0.0]
    from domain.devices.ingest import RecentDigests

    ingest = DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock(),
                          digests=RecentDigests(window_seconds=5, monotonic=lambda: now[0]))
    on, off = j({"Light": {"power": True}}), j({"Light": {"power": False}})
    await ingest.handle("node/N1/params/local", on)
    await ingest.handle("node/N1/params/local", off)
    assert not (await ingest.handle("node/N1/params/local", on)).accepted  # redelivery window
    now[0] = 6.0
    assert (await ingest.handle("node/N1/params/local", on)).accepted
    assert store.nodes["N1"].reported == {"Light": {"power": True}}
