"""Node sharing with fakes: requests, acceptance, transfer, cancel, unsharing, expiry and the
visibility rule; nothing half-written when a rule fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from domain.devices.reach import DeviceReach
from domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from domain.sharing.model import ACCEPTED, CANCELLED, DECLINED, EXPIRED, PENDING, NodeMembership
from domain.sharing.nodes import NodeSharing
from tests.unit.fakes import AllowAll, FakeClock, SequentialIds
from tests.unit.fakes.groups_world import T0, RecordingEvents, people_and_nodes, who
from tests.unit.fakes.store import Store


@dataclass
class World:
    sharing: NodeSharing
    store: Store
    clock: FakeClock
    events: RecordingEvents

    def role(self, node_id: str, uid: str) -> str | None:
        found = self.store.memberships.get((node_id, uid))
        return found.role if found else None


@pytest.fixture
def world() -> World:
    (store, uow), clock, events = people_and_nodes(), FakeClock(T0), RecordingEvents()
    for node_id in ("n1", "n2"):
        store.memberships[(node_id, "alice")] = NodeMembership(
            node_id=node_id, org_id="org-a", user_id="alice", role="primary", created_at=T0)
    sharing = NodeSharing(uow=uow, ids=SequentialIds(),
                          clock=clock, authorizer=AllowAll(), events=events,
                          ttl_seconds=3600, reach=DeviceReach())
    return World(sharing, store, clock, events)


async def test_primary_shares_and_receiver_accepts_as_secondary(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1", "n2"],
                                              user_name="bob@x.io", metadata={"k": 1})
    assert request.status == PENDING and world.role("n1", "bob") is None
    accepted = await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert accepted.status == ACCEPTED
    assert world.role("n1", "bob") == world.role("n2", "bob") == "secondary"
    assert [(e.kind, e.node_id) for e in world.events.events] == [
        ("user_node_sharing_add", "n1"), ("user_node_sharing_add", "n2")]


async def test_accepting_twice_or_declined_or_cancelled_is_refused(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    with pytest.raises(ValidationFailed) as exc:
        await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert exc.value.reason == "sharing_request_accepted"
    declined = await world.sharing.share_nodes(who("alice"), nodes=["n2"], user_name="bob@x.io")
    assert (await world.sharing.respond(who("bob"), request_id=declined.id,
                                        accept=False)).status == DECLINED
    assert world.role("n2", "bob") is None
    with pytest.raises(ValidationFailed) as exc:
        await world.sharing.cancel_request(who("alice"), request_id=declined.id)
    assert exc.value.reason == "sharing_cancel_declined"


async def test_only_the_receiver_responds_and_only_the_sender_cancels(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    for stranger in ("carol", "alice", "mallory"):
        with pytest.raises(NotFound):
            await world.sharing.respond(who(stranger), request_id=request.id, accept=True)
    for stranger in ("carol", "bob", "mallory"):
        with pytest.raises(NotFound):
            await world.sharing.cancel_request(who(stranger), request_id=request.id)
    assert (await world.sharing.cancel_request(who("alice"), request_id=request.id)
            ).status == CANCELLED
    with pytest.raises(ValidationFailed):
        await world.sharing.respond(who("bob"), request_id=request.id, accept=True)


async def test_requests_expire_after_the_ttl(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    world.clock.advance(seconds=3600)
    page = await world.sharing.list_requests(who("bob"))
    assert [r.status for r in page.requests] == [EXPIRED]
    with pytest.raises(ValidationFailed) as exc:
        await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert exc.value.reason == "sharing_request_expired"
    assert world.role("n1", "bob") is None


async def test_secondary_user_cannot_share_node(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    with pytest.raises(Forbidden):
        await world.sharing.share_nodes(who("bob"), nodes=["n1"], user_name="carol@x.io")


async def test_bad_shares_are_refused_and_write_nothing(world: World) -> None:
    cases: list[tuple[dict[str, Any], type[DomainError], str]] = [
        ({"nodes": ["n1", "n3"], "user_name": "bob@x.io"}, NotFound, "node_not_found"),
        ({"nodes": ["n1"], "user_name": "nobody@x.io"}, NotFound, "sharing_user_not_found"),
        ({"nodes": ["n1"], "user_name": "mallory@x.io"}, NotFound, "sharing_user_not_found"),
        ({"nodes": ["n1"], "user_name": "alice@x.io"}, ValidationFailed, "sharing_self"),
        ({"nodes": [], "user_name": "bob@x.io"}, ValidationFailed, "sharing_no_nodes"),
        ({"nodes": [f"n{i}" for i in range(101)], "user_name": "bob@x.io"}, ValidationFailed,
         "sharing_too_many_nodes"),
        ({"nodes": ["n1"], "user_name": "bob@x.io", "new_role": "secondary"},
         ValidationFailed, "sharing_new_role_needs_transfer"),
        ({"nodes": ["n1"], "user_name": "bob@x.io", "transfer": True, "new_role": "owner"},
         ValidationFailed, "sharing_invalid_new_role"),
    ]
    for kwargs, error, reason in cases:
        with pytest.raises(error) as exc:
            await world.sharing.share_nodes(who("alice"), **kwargs)
        assert exc.value.reason == reason, kwargs
    with pytest.raises(NotFound):  # another organization's user cannot share alice's node
        await world.sharing.share_nodes(who("mallory"), nodes=["n1"], user_name="bob@x.io")
    assert not world.store.sharing_requests


async def test_transfer_moves_ownership_and_keeps_new_role(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io",
                                              transfer=True, new_role="secondary")
    await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert world.role("n1", "bob") == "primary" and world.role("n1", "alice") == "secondary"
    gone = await world.sharing.share_nodes(who("alice"), nodes=["n2"], user_name="bob@x.io",
                                           transfer=True)
    await world.sharing.respond(who("bob"), request_id=gone.id, accept=True)
    assert world.role("n2", "bob") == "primary" and world.role("n2", "alice") is None


async def test_acceptance_fails_whole_when_sender_lost_primary(world: World) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1", "n2"],
                                              user_name="bob@x.io")
    del world.store.memberships[("n2", "alice")]
    with pytest.raises(Forbidden):
        await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert world.role("n1", "bob") is None
    assert world.store.sharing_requests[request.id].status == PENDING


async def _share(world: World, user: str, *, primary: bool = False) -> None:
    request = await world.sharing.share_nodes(who("alice"), nodes=["n1"],
                                              user_name=f"{user}@x.io", primary=primary)
    await world.sharing.respond(who(user), request_id=request.id, accept=True)


async def test_secondary_sees_primaries_but_not_other_secondaries(world: World) -> None:
    await _share(world, "bob")
    await _share(world, "carol")
    [mine] = await world.sharing.node_sharing(who("alice"), node_id="n1")
    assert mine.primary == ["alice@x.io"] and mine.secondary == ["bob@x.io", "carol@x.io"]
    [theirs] = await world.sharing.node_sharing(who("bob"))
    assert theirs.primary == ["alice@x.io"] and theirs.secondary == []
    assert theirs.sources == ["NODE"]
    with pytest.raises(NotFound):
        await world.sharing.node_sharing(who("bob"), node_id="n2")


async def test_primary_unshares_and_secondary_leaves(world: World) -> None:
    await _share(world, "bob")
    await _share(world, "carol")
    with pytest.raises(Forbidden):  # a secondary removes nobody but itself
        await world.sharing.unshare_nodes(who("bob"), nodes=["n1"], user_name="carol@x.io")
    await world.sharing.unshare_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    assert world.role("n1", "bob") is None
    await world.sharing.unshare_nodes(who("carol"), nodes=["n1"], user_name="carol@x.io")
    assert world.role("n1", "carol") is None
    with pytest.raises(ValidationFailed):  # a primary does not leave this way
        await world.sharing.unshare_nodes(who("alice"), nodes=["n1"], user_name="alice@x.io")
    with pytest.raises(ValidationFailed) as exc:  # bob has no access any more
        await world.sharing.unshare_nodes(who("alice"), nodes=["n1"], user_name="bob@x.io")
    assert exc.value.reason == "sharing_not_shared"
    assert world.role("n1", "alice") == "primary"


async def test_requests_list_sent_and_received_a_page_at_a_time(world: World) -> None:
    ids = [(await world.sharing.share_nodes(who("alice"), nodes=["n1"],
                                            user_name="bob@x.io")).id for _ in range(3)]
    first = await world.sharing.list_requests(who("alice"), sent=True, num_records=2)
    assert [r.id for r in first.requests] == sorted(ids)[:2]
    assert first.next_request_id == sorted(ids)[2] and first.next_user_name == "bob@x.io"
    rest = await world.sharing.list_requests(who("alice"), sent=True,
                                             start_request_id=first.next_request_id)
    assert [r.id for r in rest.requests] == sorted(ids)[2:] and rest.next_request_id is None
    received = await world.sharing.list_requests(who("bob"))
    assert len(received.requests) == 3 and received.requests[0].from_user_name == "alice@x.io"
    assert not (await world.sharing.list_requests(who("carol"))).requests
    with pytest.raises(NotFound):
        await world.sharing.list_requests(who("carol"), request_id=ids[0])


async def test_a_receiver_who_already_reaches_the_nodes_needs_no_approval(world: World) -> None:
    await _share(world, "bob")
    upgraded = await world.sharing.share_nodes(who("alice"), nodes=["n1"],
                                               user_name="bob@x.io", primary=True)
    assert upgraded.status == ACCEPTED and world.role("n1", "bob") == "primary"
    assert world.events.events[-1].data["role"] == "primary"
