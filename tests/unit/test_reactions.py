"""The reactions table (what follows a device event) and what feeds it: reactions run per
kind in registration order, a failing one is logged and the others still run; ingest says
when a node said it is connected, also when that changed nothing; pending desired params are
resent on connect."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from domain.devices.ingest import DeviceIngest, says_connected
from domain.devices.model import Node, NodeEvent, NodeSecrets
from domain.devices.reactions import (
    NODE_CONFIG_CHANGED,
    NODE_CONNECTED,
    NODE_DISCONNECTED,
    NODE_SAID_CONNECTED,
    PendingParams,
    Reactions,
)
from tests.unit.fakes import FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.devices import FakeNodeCommands
from tests.unit.fakes.store import Store

AT = datetime(2026, 1, 1, tzinfo=UTC)


def event(kind: str, node_id: str = "N1") -> NodeEvent:
    return NodeEvent(kind=kind, node_id=node_id, org_id="o", at=AT)


def j(value: object) -> bytes:
    return json.dumps(value).encode()


def a_store() -> Store:
    store = Store()
    store.nodes["N1"] = Node(id="N1", org_id="o", created_at=AT)
    store.node_secrets["N1"] = NodeSecrets(node_id="N1", org_id="o", mqtt_password_hash="x",
                                           secret_key_hash="y")
    return store


async def test_reactions_run_for_their_kind_in_registration_order() -> None:
    seen: list[tuple[str, str]] = []
    reactions = Reactions()

    async def first(e: NodeEvent) -> None:
        seen.append(("first", e.kind))

    async def second(e: NodeEvent) -> None:
        seen.append(("second", e.kind))

    reactions.on(NODE_CONNECTED, first)
    reactions.on(NODE_CONNECTED, second)
    reactions.on(NODE_CONFIG_CHANGED, second)
    assert await reactions.react(event(NODE_CONNECTED)) == 0
    await reactions.react(event(NODE_DISCONNECTED))  # nothing registered: nothing runs
    await reactions.react(event(NODE_CONFIG_CHANGED))
    assert seen == [("first", NODE_CONNECTED), ("second", NODE_CONNECTED),
                    ("second", NODE_CONFIG_CHANGED)]
    assert reactions.of(NODE_CONNECTED) == (first, second)


async def test_a_failing_reaction_is_logged_and_the_others_still_run(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    reactions = Reactions()

    async def broken(e: NodeEvent) -> None:
        raise RuntimeError("down")

    async def after(e: NodeEvent) -> None:
        seen.append(e.node_id)

    reactions.on(NODE_CONNECTED, broken)
    reactions.on(NODE_CONNECTED, after)
    with caplog.at_level(logging.ERROR, logger="fleetgate.reactions"):
        assert await reactions.react(event(NODE_CONNECTED)) == 1
    assert seen == ["N1"]
    assert "broken to node_connected of node N1 failed" in caplog.text


def test_a_reaction_to_an_unknown_kind_is_refused() -> None:
    async def anything(e: NodeEvent) -> None: ...

    with pytest.raises(ValueError, match="no device event"):
        Reactions().on("node_exploded", anything)


async def test_ingest_says_a_node_is_connected_also_when_that_changed_nothing() -> None:
    store = a_store()
    ingest = DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock(AT))
    first = await ingest.handle("node/N1/connection", j({"connected": True, "timestamp": 5}))
    assert [e.kind for e in first.events] == [NODE_CONNECTED]
    again = await ingest.handle("node/N1/connection", j({"connected": True, "timestamp": 5}))
    assert again.accepted and again.events == ()  # it came back before its last will
    for result in (first, again):
        said = result.said_connected
        assert said is not None and (said.kind, said.node_id, said.org_id) == (
            NODE_SAID_CONNECTED, "N1", "o")
    gone = await ingest.handle("node/N1/connection", j({"connected": False, "timestamp": 6}))
    config = await ingest.handle("node/N1/config", j({"node_id": "N1", "info": {}}))
    bad = await ingest.handle("node/N1/connection", j({"connected": "yes"}))
    assert gone.said_connected is None and config.said_connected is None
    assert not bad.accepted and bad.said_connected is None


@pytest.mark.parametrize(("topic", "payload", "says"), [
    ("node/N1/connection", j({"connected": True}), True),
    ("node/N1/connection", j({"connected": False}), False),
    ("node/N1/connection", j({"connected": 1}), False),
    ("node/N1/connection", b"{oops", False),
    ("node/N1/params/local", j({"connected": True}), False),
    ("node/N1/x/connection", j({"connected": True}), False),
])
def test_says_connected(topic: str, payload: bytes, says: bool) -> None:
    assert says_connected(topic, payload) is says


async def test_pending_desired_params_are_resent_when_the_node_connects() -> None:
    store = a_store()
    store.nodes["N1"].set_desired({"Light": {"power": True}}, AT)
    commands = FakeNodeCommands()
    pending = PendingParams(uow=lambda org: InMemoryUnitOfWork(store, org),  # type: ignore[arg-type]
                            commands=commands)
    await pending.resend(event(NODE_CONNECTED))
    await pending.resend(event(NODE_CONNECTED, node_id="gone"))
    assert commands.sent == [("N1", {"Light": {"power": True}})]


async def test_nothing_is_sent_on_connect_when_nothing_is_pending() -> None:
    store = a_store()
    commands = FakeNodeCommands()
    pending = PendingParams(uow=lambda org: InMemoryUnitOfWork(store, org),  # type: ignore[arg-type]
                            commands=commands)
    await pending.resend(event(NODE_CONNECTED))
    assert commands.sent == []
