"""Group sharing with fakes: the derived-access rule (a group passes on only what its owner
holds, and primary only where both the share and the owner are primary), sub-groups, events,
transfer, and nothing half-written when a rule fails."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.groups.access import GroupReachRules
from domain.groups.user_groups import UserGroups
from domain.sharing.groups import GroupSharing
from domain.sharing.model import ACCEPTED, PENDING, NodeMembership
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.groups_world import NAMES, T0, RecordingEvents, people_and_nodes, who
from tests.unit.fakes.store import Store


@dataclass
class World:
    groups: UserGroups
    sharing: GroupSharing
    store: Store
    events: RecordingEvents

    async def role(self, node_id: str, uid: str) -> str | None:
        async with InMemoryUnitOfWork(self.store, NAMES[uid]) as uow:
            found = await uow.memberships.get(node_id, uid)
        return found.role if found else None

    def hold(self, node_id: str, uid: str, role: str) -> None:
        self.store.memberships[(node_id, uid)] = NodeMembership(
            node_id=node_id, org_id="org-a", user_id=uid, role=role, created_at=T0)


@pytest.fixture
def world() -> World:
    (store, uow), clock, events = people_and_nodes(), FakeClock(T0), RecordingEvents()
    ids = SequentialIds()
    w = World(UserGroups(uow=uow, ids=ids, clock=clock, authorizer=AllowAll(), events=events),
              GroupSharing(uow=uow, ids=ids, clock=clock, authorizer=AllowAll(),
                           events=events, ttl_seconds=3600, reach=GroupReachRules()),
              store, events)
    w.hold("n1", "alice", "primary")
    w.hold("n2", "alice", "primary")
    return w


async def test_a_shared_group_passes_on_what_its_owner_holds(world: World) -> None:
    home = await world.groups.create_group(who("alice"), name="Home", nodes=["n1", "n2"])
    kitchen = await world.groups.create_group(who("alice"), name="Kitchen", nodes=["n1"],
                                              parent_id=home.id)
    request = await world.sharing.share_groups(who("alice"), groups=[home.id],
                                               user_name="bob@x.io", primary=True)
    assert request.status == PENDING and await world.role("n1", "bob") is None
    world.events.events.clear()
    await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    assert await world.role("n1", "bob") == await world.role("n2", "bob") == "primary"
    assert [(e.kind, e.node_id, e.data["group_id"]) for e in world.events.events] == [
        ("user_node_group_sharing_add", "n1", home.id),
        ("user_node_group_sharing_add", "n2", home.id),
        ("user_node_group_sharing_add", "n1", kitchen.id)]
    # the owner downgraded to secondary on n2 (transferred it): the share passes secondary
    world.hold("n2", "alice", "secondary")
    assert await world.role("n2", "bob") == "secondary"
    # the owner loses n2 altogether: so does everyone it reached through the group
    del world.store.memberships[("n2", "alice")]
    assert await world.role("n2", "bob") is None
    # bob sees the sub-group through its parent's share, as primary
    page = await world.groups.list_groups(who("bob"))
    assert {g.id: page.roles[g.id] for g in page.groups} == {home.id: "primary",
                                                             kitchen.id: "primary"}
    assert await world.role("n1", "mallory") is None


async def test_a_node_the_owner_reaches_only_through_a_group_cannot_be_grouped(
        world: World) -> None:
    home = await world.groups.create_group(who("alice"), name="Home", nodes=["n1"])
    await world.sharing.share_groups(who("alice"), groups=[home.id], user_name="bob@x.io")
    request = world.store.sharing_requests[next(iter(world.store.sharing_requests))]
    await world.sharing.respond(who("bob"), request_id=request.id, accept=True)
    with pytest.raises(NotFound) as err:
        await world.groups.create_group(who("bob"), name="Mine", nodes=["n1"])
    assert err.value.reason == "group_nodes_not_mapped"


async def test_rules_fail_before_anything_is_written(world: World) -> None:
    home = await world.groups.create_group(who("alice"), name="Home", nodes=["n1"])
    before = (dict(world.store.sharing_requests), dict(world.store.group_shares))
    with pytest.raises(ValidationFailed) as bad:
        await world.sharing.share_groups(who("alice"), groups=[home.id, home.id],
                                         user_name="bob@x.io")
    assert bad.value.reason == "group_sharing_duplicate"
    with pytest.raises(ValidationFailed) as bad:
        await world.sharing.share_groups(who("alice"), groups=[home.id],
                                         user_name="alice@x.io")
    assert bad.value.reason == "group_sharing_self"
    with pytest.raises(NotFound):
        await world.sharing.share_groups(who("alice"), groups=[home.id],
                                         user_name="mallory@x.io")
    with pytest.raises(NotFound):
        await world.sharing.share_groups(who("mallory"), groups=[home.id],
                                         user_name="bob@x.io")
    with pytest.raises(ValidationFailed) as bad:
        await world.sharing.share_groups(who("alice"), groups=[f"g{i}" for i in range(11)],
                                         user_name="bob@x.io")
    assert bad.value.reason == "group_sharing_too_many"
    assert (dict(world.store.sharing_requests), dict(world.store.group_shares)) == before


async def test_a_secondary_share_cannot_be_passed_on_and_transfer_moves_ownership(
        world: World) -> None:
    home = await world.groups.create_group(who("alice"), name="Home", nodes=["n1", "n2"])
    first = await world.sharing.share_groups(who("alice"), groups=[home.id],
                                             user_name="bob@x.io")
    await world.sharing.respond(who("bob"), request_id=first.id, accept=True)
    with pytest.raises(Forbidden):
        await world.sharing.share_groups(who("bob"), groups=[home.id],
                                         user_name="carol@x.io")
    moved = await world.sharing.share_groups(who("alice"), groups=[home.id],
                                             user_name="carol@x.io", transfer=True)
    await world.sharing.respond(who("carol"), request_id=moved.id, accept=True)
    assert moved.id in world.store.sharing_requests
    assert world.store.sharing_requests[moved.id].status == ACCEPTED
    assert world.store.groups[home.id].owner_id == "carol"
    assert world.store.memberships[("n1", "carol")].role == "primary"
    assert ("n1", "alice") not in world.store.memberships  # new_role none: nothing kept
    assert await world.role("n1", "alice") is None
    assert await world.role("n1", "bob") == "secondary"  # other shares carry on
