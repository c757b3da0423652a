"""After a gateway restart, nodes still marked online that nobody heard from within the grace
period are marked offline, as the last wills lost with the restart would have; nodes that
reconnected or reported stay online, and a real reconnect afterwards brings a node back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from domain.devices.ingest import DeviceIngest
from domain.devices.model import Connectivity, Node
from domain.devices.presence import NodePresence, is_stale
from tests.unit.fakes import FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.devices import InMemoryNodes
from tests.unit.fakes.store import Store

BEFORE = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
RESTART = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=180)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def node(node_id: str, *, org: str = "org-a", connected: bool = True,
         at: datetime = BEFORE) -> Node:
    return Node(id=node_id, org_id=org, created_at=BEFORE,
                connectivity=Connectivity(connected=connected, timestamp_ms=ms(at)))


def fleet(*nodes: Node) -> tuple[Store, FakeClock, NodePresence]:
    store, clock = Store(), FakeClock(RESTART)
    for n in nodes:
        store.nodes[n.id] = n
    presence = NodePresence(uow=lambda org: InMemoryUnitOfWork(store, org), clock=clock,
                            page_size=2)
    return store, clock, presence


def test_the_rule_for_one_node() -> None:
    after = RESTART + GRACE

    def stale(n: Node, *, now: datetime = after, heard: datetime | None = None) -> bool:
        return is_stale(n, restarted_at=RESTART, grace=GRACE, now=now, last_heard=heard)

    assert stale(node("N"))
    assert not stale(node("N"), now=after - timedelta(milliseconds=1))  # grace not over
    assert not stale(node("N", connected=False))
    assert not stale(node("N"), heard=RESTART)  # heard at the restart counts
    assert not stale(node("N"), heard=RESTART + timedelta(seconds=5))
    assert stale(node("N"), heard=RESTART - timedelta(seconds=1))  # heard before: no news
    assert not stale(node("N", at=RESTART + timedelta(seconds=1)))  # connected since
    assert stale(node("N", at=datetime(1970, 1, 1, tzinfo=UTC)))


async def test_unheard_nodes_of_every_organization_go_offline_after_the_grace() -> None:
    store, clock, presence = fleet(
        node("A-gone"), node("A-back"), node("B-gone", org="org-b"), node("B-talked", org="org-b"),
        node("C-offline", connected=False), node("D-new", at=RESTART + timedelta(seconds=2)))
    heard = {"A-back": RESTART + timedelta(seconds=20), "B-talked": RESTART + GRACE}

    clock.current = RESTART + GRACE - timedelta(seconds=1)
    assert await presence.mark_unheard_offline(restarted_at=RESTART, grace=GRACE,
                                               last_heard=heard) == []
    assert all(store.nodes[n].connectivity.connected for n in ("A-gone", "B-gone"))

    clock.current = RESTART + GRACE
    events = await presence.mark_unheard_offline(restarted_at=RESTART, grace=GRACE,
                                                 last_heard=heard)

    assert sorted((e.kind, e.node_id, e.org_id) for e in events) == [
        ("node_disconnected", "A-gone", "org-a"), ("node_disconnected", "B-gone", "org-b")]
    assert all(e.at == clock.current for e in events)
    online = {n.id for n in store.nodes.values() if n.connectivity.connected}
    assert online == {"A-back", "B-talked", "D-new"}
    assert store.nodes["A-gone"].connectivity.timestamp_ms == ms(clock.current)
    assert store.nodes["C-offline"].connectivity.timestamp_ms == ms(BEFORE)  # untouched

    clock.advance(seconds=60)  # run again: nothing more to do
    assert await presence.mark_unheard_offline(restarted_at=RESTART, grace=GRACE,
                                               last_heard=heard) == []


async def test_a_node_marked_offline_comes_back_when_it_reconnects_not_by_an_old_message() -> None:
    store, clock, presence = fleet(node("N"))
    clock.current = RESTART + GRACE
    await presence.mark_unheard_offline(restarted_at=RESTART, grace=GRACE, last_heard={})
    ingest = DeviceIngest(uow=lambda org: InMemoryUnitOfWork(store, org), clock=clock)

    stale = await ingest.handle("node/N/connection",
                                f'{{"connected": true, "timestamp": {ms(BEFORE)}}}'.encode())
    assert stale.events == () and not store.nodes["N"].connectivity.connected

    clock.advance(seconds=30)
    back = await ingest.handle("node/N/connection",
                               f'{{"connected": true, "timestamp": {ms(clock.current)}}}'.encode())
    assert [e.kind for e in back.events] == ["node_connected"]
    assert store.nodes["N"].connectivity.connected


async def test_a_node_that_reconnects_between_read_and_write_is_left_online() -> None:
    store, clock, presence = fleet(node("N"), node("M"))
    clock.current = RESTART + GRACE

    class ReconnectsMeanwhile(InMemoryNodes):
        async def save_connectivity_if_unchanged(
                self, pairs: Sequence[tuple[Node, Connectivity]]) -> Sequence[str]:
            self.s.nodes["N"].connectivity = Connectivity(connected=True,
                                                          timestamp_ms=ms(clock.current))
            return await super().save_connectivity_if_unchanged(pairs)

    class Uow(InMemoryUnitOfWork):
        async def __aenter__(self) -> Uow:
            await super().__aenter__()
            self.nodes = ReconnectsMeanwhile(self._work, self._org)
            return self

    presence = NodePresence(uow=lambda org: Uow(store, org), clock=clock)
    events = await presence.mark_unheard_offline(restarted_at=RESTART, grace=GRACE,
                                                 last_heard={})

    assert [e.node_id for e in events] == ["M"]
    assert store.nodes["N"].connectivity.connected
    assert not store.nodes["M"].connectivity.connected
