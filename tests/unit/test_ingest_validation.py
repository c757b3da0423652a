"""Device payloads the database could not store are refused before they join a batch: a
U+0000 or a lone surrogate anywhere (keys or values, however deep), an integer beyond 64 bits,
NaN or an infinity. The refusal is logged and flagged on the result; the rest of the batch,
other organizations' reports included, is stored."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from domain.devices.ingest import DeviceIngest
from domain.devices.model import Node
from domain.devices.storable import INT64_MAX, INT64_MIN, unstorable
from tests.unit.fakes import FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.store import Store

AT = datetime(2026, 1, 1, tzinfo=UTC)


def two_organizations() -> tuple[Store, DeviceIngest]:
    store = Store()
    store.nodes["A1"] = Node(id="A1", org_id="org-a", created_at=AT)
    store.nodes["B1"] = Node(id="B1", org_id="org-b", created_at=AT)
    return store, DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock())


UNSTORABLE = {
    "U+0000 in a value": rb'{"Light": {"name": "a\u0000b"}}',
    "U+0000 in a key": rb'{"Light": {"na\u0000me": 1}}',
    "U+0000 deep in a list": rb'{"Light": {"v": [[{"x": ["ok", "\u0000"]}]]}}',
    "U+0000 in a device name": rb'{"Li\u0000ght": {"power": true}}',
    "a lone high surrogate": rb'{"Light": {"name": "\ud800"}}',
    "a lone low surrogate in a key": rb'{"Light": {"\udc00x": 1}}',
    "a surrogate pair reversed": rb'{"Light": {"name": "\ude00\ud83d"}}',
    "an integer beyond int64": b'{"Light": {"level": 9223372036854775808}}',
    "an integer below int64": b'{"Light": {"level": -9223372036854775809}}',
    "a float overflowing to infinity": b'{"Light": {"level": 1e999}}',
    "NaN": b'{"Light": {"level": NaN}}',
    "-Infinity": b'{"Light": {"level": -Infinity}}',
}


@pytest.mark.parametrize("suffix", ["params/local", "params/local/init"])
@pytest.mark.parametrize("payload", UNSTORABLE.values(), ids=UNSTORABLE.keys())
async def test_unstorable_params_are_refused_and_the_rest_of_the_batch_is_stored(
        suffix: str, payload: bytes, caplog: pytest.LogCaptureFixture) -> None:
    store, ingest = two_organizations()
    with caplog.at_level(logging.WARNING, logger="fleetgate.ingest"):
        results = await ingest.handle_batch([
            ("node/A1/params/local", b'{"Light": {"power": true}}'),
            (f"node/A1/{suffix}", payload),
            ("node/B1/params/local", b'{"Fan": {"speed": 3}}')])

    assert [r.accepted for r in results] == [True, False, True]
    assert results[1].refused and results[1].reason.startswith("refused payload: ")
    assert not results[0].refused and not results[2].refused
    assert store.nodes["A1"].reported == {"Light": {"power": True}}
    assert store.nodes["B1"].reported == {"Fan": {"speed": 3}}
    assert f"dropped device message on node/A1/{suffix}: refused payload" in caplog.text


async def test_a_refused_config_or_connection_changes_nothing() -> None:
    store, ingest = two_organizations()
    results = await ingest.handle_batch([
        ("node/A1/config", rb'{"node_id": "A1", "info": {"name": "\ud800", "type": "x"}}'),
        ("node/A1/config", rb'{"node_id": "A1", "info": {"name": "L"}, "v": "\u0000"}'),
        ("node/A1/connection", b'{"connected": true, "timestamp": 9223372036854775808}'),
        ("node/B1/connection", b'{"connected": true, "timestamp": 5}')])

    assert [(r.accepted, r.refused) for r in results] == [
        (False, True), (False, True), (False, True), (True, False)]
    assert store.nodes["A1"].config is None and not store.nodes["A1"].connectivity.connected
    assert store.nodes["B1"].connectivity.connected


async def test_what_the_database_stores_is_accepted() -> None:
    store, ingest = two_organizations()
    payload = json.dumps({"Light": {
        "max": INT64_MAX, "min": INT64_MIN, "ratio": 1.5e308, "tiny": -5e-324,
        "name": "Wohnzimmer \U0001F600 \u00e9\u4e2d", "escaped": "\\u0000 is only text",
        "flags": [True, False, None]}}).encode()
    results = await ingest.handle_batch([("node/A1/params/local", payload),
                                         ("node/A1/params/local",
                                          rb'{"Light": {"pair": "\ud83d\ude00"}}')])

    assert [(r.accepted, r.refused) for r in results] == [(True, False), (True, False)]
    assert store.nodes["A1"].reported["Light"]["pair"] == "\U0001F600"


async def test_a_refused_payload_sent_again_is_refused_again_not_taken_for_a_duplicate() -> None:
    _, ingest = two_organizations()
    poison = ("node/A1/params/local", rb'{"Light": {"name": "\u0000"}}')
    first, again = await ingest.handle_batch([poison, poison])
    assert first.refused and again.refused


def test_the_check_walks_deep_documents_without_recursion() -> None:
    deep: object = "\x00"
    for _ in range(100_000):
        deep = [deep]
    assert unstorable(deep) == "U+0000 in a string"
    clean: object = 1
    for _ in range(100_000):
        clean = {"k": clean}
    assert unstorable(clean) is None
