"""User device groups with in-memory fakes: hierarchy, mutual exclusion, reachable nodes,
thing-shadow custom data, all-or-nothing writes and the events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import END_USER
from domain.devices.model import Node, NodeEvent, NodeSecrets
from domain.devices.nodes import UserNodes
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.groups.user_groups import UserGroups
from domain.sharing.model import NodeMembership
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.devices import FakeNodeCommands
from tests.unit.fakes.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[NodeEvent] = []

    async def publish(self, event: NodeEvent) -> None:
        self.events.append(event)


def user(uid: str, org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=uid,
                                      roles=frozenset({END_USER})))


class World:
    def __init__(self) -> None:
        self.store, self.events = Store(), RecordingEvents()
        common = dict(uow=lambda org: InMemoryUnitOfWork(self.store, org), ids=SequentialIds(),
                      clock=FakeClock(), authorizer=AllowAll())
        self.groups = UserGroups(**common, events=self.events)  # type: ignore[arg-type]
        self.nodes = UserNodes(**common, commands=FakeNodeCommands())  # type: ignore[arg-type]

    def node(self, node_id: str, owner: str | None = "u1", org: str = "org-a") -> str:
        self.store.nodes[node_id] = Node(id=node_id, org_id=org, created_at=T0)
        self.store.node_secrets[node_id] = NodeSecrets(node_id=node_id, org_id=org,
                                                       mqtt_password_hash="x",
                                                       secret_key_hash="y")
        if owner is not None:
            self.store.memberships[(node_id, owner)] = NodeMembership(
                node_id=node_id, org_id=org, user_id=owner, role="primary", created_at=T0)
        return node_id


@pytest.fixture
def world() -> World:
    w = World()
    for i in range(1, 6):
        w.node(f"n{i}")
    w.node("theirs", owner="u2")
    return w


async def test_create_group_with_nodes_publishes_added_events(world: World) -> None:
    group = await world.groups.create_group(user("u1"), name="Living room", nodes=["n1", "n2"],
                                            type="Room", custom_data={"floor": 1, "x": None})
    stored = world.store.groups[group.id]
    assert stored.nodes == ["n1", "n2"] and stored.owner_id == "u1"
    assert stored.custom_data == {"floor": 1}
    assert [(e.kind, e.node_id, e.data) for e in world.events.events] == [
        ("user_node_group_added", "n1", {"group_id": group.id}),
        ("user_node_group_added", "n2", {"group_id": group.id})]


async def test_nodes_the_user_does_not_reach_are_not_found_and_nothing_is_written(
        world: World) -> None:
    with pytest.raises(NotFound):
        await world.groups.create_group(user("u1"), name="G", nodes=["n1", "theirs"])
    with pytest.raises(NotFound):
        await world.groups.create_group(user("u1"), name="G", nodes=["nope"])
    assert not world.store.groups and not world.events.events


@pytest.mark.parametrize("name", ["", " lead", "trail ", "a#b", "a$b", "a|b", "a\\b",
                                  "x" * 257, 5, None])
async def test_bad_group_names_are_refused(world: World, name: object) -> None:
    with pytest.raises(ValidationFailed):
        await world.groups.create_group(user("u1"), name=name)


async def test_too_many_or_no_nodes_in_one_call_are_refused(world: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        await world.groups.create_group(user("u1"), name="G",
                                        nodes=[f"n{i}" for i in range(101)])
    assert exc.value.reason == "invalid_group_nodes"
    with pytest.raises(ValidationFailed):
        await world.groups.create_group(user("u1"), name="G", nodes=[])
    assert not world.store.groups


async def test_hierarchy_has_at_most_three_levels(world: World) -> None:
    top = await world.groups.create_group(user("u1"), name="Home", nodes=["n1", "n2"])
    mid = await world.groups.create_group(user("u1"), name="Floor", parent_id=top.id,
                                          nodes=["n1"])
    low = await world.groups.create_group(user("u1"), name="Room", parent_id=mid.id)
    with pytest.raises(ValidationFailed) as exc:
        await world.groups.create_group(user("u1"), name="Corner", parent_id=low.id)
    assert exc.value.reason == "group_too_deep"
    # moving a two-level subtree under a second-level group would make four levels
    other = await world.groups.create_group(user("u1"), name="Other")
    with pytest.raises(ValidationFailed):
        await world.groups.update_group(user("u1"), group_id=other.id, parent_id=low.id)
    with pytest.raises(ValidationFailed):
        await world.groups.update_group(user("u1"), group_id=mid.id, parent_id=low.id)


async def test_a_cycle_of_parents_is_refused(world: World) -> None:
    a = await world.groups.create_group(user("u1"), name="A")
    b = await world.groups.create_group(user("u1"), name="B", parent_id=a.id)
    with pytest.raises(ValidationFailed) as exc:
        await world.groups.update_group(user("u1"), group_id=a.id, parent_id=b.id)
    assert exc.value.reason == "group_parent_cycle"
    with pytest.raises(ValidationFailed):
        await world.groups.update_group(user("u1"), group_id=a.id, parent_id=a.id)
    assert world.store.groups[a.id].parent_id is None


async def test_sub_group_nodes_must_be_in_the_parent(world: World) -> None:
    top = await world.groups.create_group(user("u1"), name="Home", nodes=["n1"])
    with pytest.raises(ValidationFailed) as exc:
        await world.groups.create_group(user("u1"), name="Room", parent_id=top.id,
                                        nodes=["n2"])
    assert exc.value.reason == "nodes_not_in_parent_group"


async def test_mutually_exclusive_groups_clash_per_type_and_parent(world: World) -> None:
    kitchen = await world.groups.create_group(user("u1"), name="Kitchen", type="Room",
                                              mutually_exclusive=True, nodes=["n1"])
    with pytest.raises(Conflict) as exc:
        await world.groups.create_group(user("u1"), name="Hall", type="Room",
                                        mutually_exclusive=True, nodes=["n2", "n1"])
    assert "Kitchen" in exc.value.message and "n1" in exc.value.message
    assert kitchen.id in exc.value.message
    # another type, or a group that is not exclusive: allowed
    await world.groups.create_group(user("u1"), name="Lights", type="Kind",
                                    mutually_exclusive=True, nodes=["n1"])
    hall = await world.groups.create_group(user("u1"), name="Hall", type="Room", nodes=["n1"])
    with pytest.raises(Conflict):  # turning exclusivity on re-checks
        await world.groups.update_group(user("u1"), group_id=hall.id, mutually_exclusive=True)
    other = await world.groups.create_group(user("u1"), name="Porch", type="Room",
                                            mutually_exclusive=True, nodes=["n2"])
    with pytest.raises(Conflict):
        await world.groups.update_group(user("u1"), group_id=other.id, operation="add",
                                        nodes=["n3", "n1"])
    assert world.store.groups[other.id].nodes == ["n2"]  # nothing half-written


async def test_sibling_names_are_unique(world: World) -> None:
    await world.groups.create_group(user("u1"), name="Home")
    with pytest.raises(Conflict):
        await world.groups.create_group(user("u1"), name="Home")
    await world.groups.create_group(user("u2"), name="Home")  # another user's namespace


async def test_update_merges_custom_data_like_a_thing_shadow(world: World) -> None:
    g = await world.groups.create_group(user("u1"), name="G",
                                        custom_data={"a": {"x": 1, "y": 2}, "list": [1, 2]})
    await world.groups.update_group(user("u1"), group_id=g.id,
                                    custom_data={"a": {"y": None, "z": 3}, "list": [9]})
    assert world.store.groups[g.id].custom_data == {"a": {"x": 1, "z": 3}, "list": [9]}
    await world.groups.update_group(user("u1"), group_id=g.id, custom_data={})
    assert world.store.groups[g.id].custom_data == {"a": {"x": 1, "z": 3}, "list": [9]}
    await world.groups.update_group(user("u1"), group_id=g.id, custom_data=None)
    assert world.store.groups[g.id].custom_data is None


async def test_add_and_remove_nodes_and_removal_reaches_sub_groups(world: World) -> None:
    top = await world.groups.create_group(user("u1"), name="Home", nodes=["n1"])
    await world.groups.update_group(user("u1"), group_id=top.id, operation="add",
                                    nodes=["n2", "n1"])
    sub = await world.groups.create_group(user("u1"), name="Room", parent_id=top.id,
                                          nodes=["n2"])
    world.events.events.clear()
    await world.groups.update_group(user("u1"), group_id=top.id, operation="REMOVE",
                                    nodes=["n2"])
    assert world.store.groups[top.id].nodes == ["n1"]
    assert world.store.groups[sub.id].nodes == []
    assert {(e.kind, e.data["group_id"]) for e in world.events.events} == {
        ("user_node_group_removed", top.id), ("user_node_group_removed", sub.id)}
    with pytest.raises(ValidationFailed):
        await world.groups.update_group(user("u1"), group_id=top.id, operation="move",
                                        nodes=["n1"])
    with pytest.raises(ValidationFailed):
        await world.groups.update_group(user("u1"), group_id=top.id)


async def test_other_users_groups_are_not_found(world: World) -> None:
    g = await world.groups.create_group(user("u1"), name="Mine")
    for stranger in (user("u2"), user("u1", org="org-b")):
        with pytest.raises(NotFound):
            await world.groups.update_group(stranger, group_id=g.id, name="Stolen")
        with pytest.raises(NotFound):
            await world.groups.delete_group(stranger, group_id=g.id)
        with pytest.raises(NotFound):
            await world.groups.list_groups(stranger, group_id=g.id)
        with pytest.raises(NotFound):
            await world.groups.create_group(stranger, name="Sub", parent_id=g.id)
    assert (await world.groups.list_groups(user("u2"))).groups == []


async def test_listing_pages_and_finds_by_name(world: World) -> None:
    made = [await world.groups.create_group(user("u1"), name=f"G{i}") for i in range(5)]
    first = await world.groups.list_groups(user("u1"), num_records=2)
    assert [g.id for g in first.groups] == sorted(g.id for g in made)[:2]
    assert first.total == 5 and first.next_id is not None
    second = await world.groups.list_groups(user("u1"), num_records=2, start_id=first.next_id)
    assert second.groups[0].id == first.next_id
    by_name = await world.groups.list_groups(user("u1"), group_name="G3")
    assert [g.name for g in by_name.groups] == ["G3"]
    with pytest.raises(NotFound):
        await world.groups.list_groups(user("u1"), group_name="nope")
    with pytest.raises(ValidationFailed):
        await world.groups.list_groups(user("u1"), group_id="x", group_name="y")
    with pytest.raises(ValidationFailed):
        await world.groups.list_groups(user("u1"), num_records=0)


async def test_delete_removes_sub_groups_too(world: World) -> None:
    top = await world.groups.create_group(user("u1"), name="Home", nodes=["n1"])
    sub = await world.groups.create_group(user("u1"), name="Room", parent_id=top.id,
                                          nodes=["n1"])
    assert set(await world.groups.delete_group(user("u1"), group_id=top.id)) == {top.id,
                                                                                 sub.id}
    assert not world.store.groups


async def test_unmapping_the_last_user_drops_the_node_from_groups(world: World) -> None:
    g = await world.groups.create_group(user("u1"), name="G", nodes=["n1", "n2"])
    await world.nodes.map_node(user("u1"), node_id="n1", operation="remove")
    assert world.store.groups[g.id].nodes == ["n2"]
    await world.nodes.delete_node(user("u1"), node_id="n2")
    assert world.store.groups[g.id].nodes == []


async def test_listing_hides_nodes_the_user_no_longer_reaches(world: World) -> None:
    g = await world.groups.create_group(user("u1"), name="G", nodes=["n1", "n2"])
    # someone else still holds n1, so the node stays in stored groups: listings hide it
    world.store.memberships[("n1", "u3")] = NodeMembership(
        node_id="n1", org_id="org-a", user_id="u3", role="secondary", created_at=T0)
    await world.nodes.map_node(user("u1"), node_id="n1", operation="remove")
    page = await world.groups.list_groups(user("u1"), group_id=g.id)
    assert page.groups[0].nodes == ["n2"]
