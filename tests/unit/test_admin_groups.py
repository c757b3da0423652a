"""Admin device groups with in-memory fakes: organization-wide groups, static and dynamic
(query-based) membership, regroup, hierarchy, FFFF-FFFF, paging, all-or-nothing writes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN
from domain.devices.model import Node, NodeSecrets
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.groups.admin.model import ALL_NODES, GroupQuery
from domain.groups.admin_groups import AdminGroups, admin_group_node_ids
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def admin(uid: str = "a1", org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=uid,
                                      roles=frozenset({ADMIN})))


class World:
    def __init__(self) -> None:
        self.store, self.authorizer = Store(), AllowAll()
        self.groups = AdminGroups(uow=lambda org: InMemoryUnitOfWork(self.store, org),
                                  ids=SequentialIds(), clock=FakeClock(),  # type: ignore[arg-type]
                                  authorizer=self.authorizer)

    def node(self, node_id: str, org: str = "org-a", **fields: str) -> str:
        self.store.nodes[node_id] = Node(id=node_id, org_id=org, created_at=T0, **fields)
        self.store.node_secrets[node_id] = NodeSecrets(node_id=node_id, org_id=org,
                                                       mqtt_password_hash="x",
                                                       secret_key_hash="y")
        return node_id


@pytest.fixture
def world() -> World:
    w = World()
    for i in range(1, 4):
        w.node(f"n{i}", type="Light", model="L1", fw_version="1.0")
    w.node("n4", type="Light", model="L1", fw_version="2.0")
    w.node("n5", type="Switch", model="S1", fw_version="1.0")
    w.node("foreign", org="org-b", type="Light", model="L1", fw_version="1.0")
    return w


def test_a_query_needs_a_value_and_matches_exactly() -> None:
    with pytest.raises(ValidationFailed):
        GroupQuery()
    query = GroupQuery(node_type="Light", node_fw_version="1.0")
    assert query.matches(Node(id="x", org_id="o", created_at=T0, type="Light",
                              model="any", fw_version="1.0"))
    assert not query.matches(Node(id="y", org_id="o", created_at=T0, type="Light",
                                  fw_version="1.0.1"))
    assert query.describe() == "node_type: Light && node_fw_version: 1.0"


async def test_every_use_case_declares_the_admin_group_permission(world: World) -> None:
    group = await world.groups.create_group(admin(), name="G")
    await world.groups.update_group(admin(), group_id=group.id, description="d")
    await world.groups.list_groups(admin())
    await world.groups.delete_group(admin(), group_id=group.id)
    assert [(p.resource, p.action) for _, p in world.authorizer.checked] == [
        ("/v1/admin/node_group", m) for m in ("POST", "PUT", "GET", "DELETE")]


async def test_static_group_is_shared_by_every_admin_of_the_organization(world: World) -> None:
    group = await world.groups.create_group(admin("a1"), name="Floor 1", nodes=["n1", "n2"],
                                            type="Floor", custom_data={"k": 1, "gone": None})
    stored = world.store.admin_groups[group.id]
    assert stored.nodes == ["n1", "n2"] and stored.custom_data == {"k": 1}
    assert stored.created_by == "a1" and stored.query is None
    page = await world.groups.list_groups(admin("a2"), group_id=group.id)
    assert page.groups[0].id == group.id and page.node_ids == ["n1", "n2"]
    with pytest.raises(NotFound):
        await world.groups.list_groups(admin("b1", org="org-b"), group_id=group.id)
    assert (await world.groups.list_groups(admin("b1", org="org-b"))).groups == []


async def test_nodes_of_another_organization_are_not_found_and_nothing_is_written(
        world: World) -> None:
    with pytest.raises(NotFound) as err:
        await world.groups.create_group(admin(), name="G", nodes=["n1", "foreign"])
    assert err.value.reason == "admin_group_nodes_not_found" and "foreign" in err.value.message
    assert world.store.admin_groups == {}


async def test_nodes_of_a_sub_group_join_the_groups_above(world: World) -> None:
    top = await world.groups.create_group(admin(), name="Top", nodes=["n1"])
    mid = await world.groups.create_group(admin(), name="Mid", parent_id=top.id)
    low = await world.groups.create_group(admin(), name="Low", parent_id=mid.id, nodes=["n2"])
    assert world.store.admin_groups[top.id].nodes == ["n1", "n2"]
    assert world.store.admin_groups[mid.id].nodes == ["n2"]
    await world.groups.update_group(admin(), group_id=low.id, operation="add", nodes=["n3"])
    assert world.store.admin_groups[top.id].nodes == ["n1", "n2", "n3"]
    # removing from a group removes from its sub-groups
    await world.groups.update_group(admin(), group_id=top.id, operation="remove",
                                    nodes=["n2"])
    assert world.store.admin_groups[low.id].nodes == ["n3"]
    assert world.store.admin_groups[mid.id].nodes == ["n3"]


async def test_hierarchy_depth_names_and_unknown_parents(world: World) -> None:
    top = await world.groups.create_group(admin(), name="Top")
    mid = await world.groups.create_group(admin(), name="Mid", parent_id=top.id)
    low = await world.groups.create_group(admin(), name="Low", parent_id=mid.id)
    with pytest.raises(ValidationFailed) as err:
        await world.groups.create_group(admin(), name="Deep", parent_id=low.id)
    assert err.value.reason == "group_too_deep"
    with pytest.raises(Conflict) as conflict:
        await world.groups.create_group(admin(), name="Mid", parent_id=top.id)
    assert conflict.value.reason == "group_name_exists"
    with pytest.raises(NotFound) as missing:
        await world.groups.create_group(admin(), name="X", parent_id="nope")
    assert missing.value.reason == "group_not_found"
    assert len(world.store.admin_groups) == 3


async def test_mutual_exclusion_per_type_and_parent(world: World) -> None:
    await world.groups.create_group(admin(), name="A", nodes=["n1"], type="Room",
                                    mutually_exclusive=True)
    with pytest.raises(Conflict) as err:
        await world.groups.create_group(admin(), name="B", nodes=["n1"], type="Room",
                                        mutually_exclusive=True)
    assert err.value.reason == "group_mutually_exclusive"
    await world.groups.create_group(admin(), name="C", nodes=["n1"], type="Zone",
                                    mutually_exclusive=True)


async def test_dynamic_group_holds_the_matching_nodes(world: World) -> None:
    group = await world.groups.create_group(admin(), name="Lights 1.0", node_type="Light",
                                            node_fw_version="1.0")
    assert world.store.admin_groups[group.id].nodes == ["n1", "n2", "n3"]  # not foreign
    assert group.query == GroupQuery(node_type="Light", node_fw_version="1.0")


@pytest.mark.parametrize(("extra", "reason"), [
    ({"nodes": ["n1"]}, "group_query_with_nodes"),
    ({"parent_id": "p"}, "group_query_with_parent"),
])
async def test_dynamic_group_takes_neither_nodes_nor_parent(world: World, extra: dict[str, object],
                                                            reason: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        await world.groups.create_group(admin(), name="D", node_model="L1", **extra)
    assert err.value.reason == reason


async def test_dynamic_group_rules_on_create(world: World) -> None:
    with pytest.raises(NotFound) as none:
        await world.groups.create_group(admin(), name="D", node_model="nothing")
    assert none.value.reason == "group_query_no_nodes"
    dynamic = await world.groups.create_group(admin(), name="D", node_model="L1")
    with pytest.raises(Conflict) as same:
        await world.groups.create_group(admin(), name="E", node_model="L1")
    assert same.value.reason == "group_query_exists"
    with pytest.raises(ValidationFailed) as parent:
        await world.groups.create_group(admin(), name="Sub", parent_id=dynamic.id)
    assert parent.value.reason == "dynamic_group_parent"


async def test_regroup_follows_the_nodes_current_firmware(world: World) -> None:
    group = await world.groups.create_group(admin(), name="v1", node_fw_version="1.0")
    assert world.store.admin_groups[group.id].nodes == ["n1", "n2", "n3", "n5"]
    world.store.nodes["n1"].fw_version = "2.0"
    world.store.nodes["n4"].fw_version = "1.0"
    await world.groups.update_group(admin(), group_id=group.id, regroup=True)
    assert world.store.admin_groups[group.id].nodes == ["n2", "n3", "n5", "n4"]


@pytest.mark.parametrize(("fields", "reason"), [
    ({"regroup": True, "name": "x"}, "regroup_with_fields"),
    ({"regroup": True, "operation": "add", "nodes": ["n1"]}, "regroup_with_fields"),
    ({"node_type": "Light"}, "group_query_in_update"),
    ({"operation": "add", "nodes": ["n4"]}, "dynamic_group_nodes"),
    ({}, "group_update_empty"),
    ({"operation": "move", "nodes": ["n1"]}, "invalid_group_operation"),
])
async def test_update_refusals_on_a_dynamic_group(world: World, fields: dict[str, object],
                                                  reason: str) -> None:
    group = await world.groups.create_group(admin(), name="D", node_type="Light")
    before = list(world.store.admin_groups[group.id].nodes)
    with pytest.raises(ValidationFailed) as err:
        await world.groups.update_group(admin(), group_id=group.id, **fields)
    assert err.value.reason == reason
    assert world.store.admin_groups[group.id].nodes == before


async def test_static_group_update_rules(world: World) -> None:
    group = await world.groups.create_group(admin(), name="S", nodes=["n1"])
    with pytest.raises(ValidationFailed) as regroup:
        await world.groups.update_group(admin(), group_id=group.id, regroup=True)
    assert regroup.value.reason == "regroup_static_group"
    with pytest.raises(ValidationFailed) as absent:
        await world.groups.update_group(admin(), group_id=group.id, operation="remove",
                                        nodes=["n1", "n2"])
    assert absent.value.reason == "nodes_not_in_group"
    assert world.store.admin_groups[group.id].nodes == ["n1"]
    await world.groups.update_group(admin(), group_id=group.id, name="Renamed",
                                    custom_data={"a": {"b": 1}}, mutually_exclusive=True)
    stored = world.store.admin_groups[group.id]
    assert (stored.name, stored.custom_data, stored.mutually_exclusive) == (
        "Renamed", {"a": {"b": 1}}, True)


async def test_the_all_nodes_group_is_read_only_and_paged(world: World) -> None:
    page = await world.groups.list_groups(admin(), group_id=ALL_NODES, num_records=2)
    assert page.node_ids == ["n1", "n2"] and page.next_id == "n3" and page.total == 5
    page = await world.groups.list_groups(admin(), group_id=ALL_NODES, start_id="n3",
                                          node_details=True)
    assert page.node_ids == ["n3", "n4", "n5"] and sorted(page.nodes) == ["n3", "n4", "n5"]
    for call in (world.groups.update_group(admin(), group_id=ALL_NODES, name="x"),
                 world.groups.delete_group(admin(), group_id=ALL_NODES)):
        with pytest.raises(ValidationFailed) as err:
            await call
        assert err.value.reason == "all_nodes_group_read_only"


async def test_listing_pages_top_level_groups_and_filters_dynamic_ones(world: World) -> None:
    a = await world.groups.create_group(admin(), name="A")
    await world.groups.create_group(admin(), name="A1", parent_id=a.id)
    b = await world.groups.create_group(admin(), name="B", node_type="Light", node_model="L1")
    c = await world.groups.create_group(admin(), name="C", node_type="Switch")
    page = await world.groups.list_groups(admin(), num_records=2)
    assert [g.name for g in page.groups] == ["A", "B"] and page.next_id == c.id
    assert page.total == 3 and [g.name for g in page.tree.children(a.id)] == ["A1"]
    page = await world.groups.list_groups(admin(), start_id=page.next_id)
    assert [g.name for g in page.groups] == ["C"] and page.next_id is None
    page = await world.groups.list_groups(admin(), node_type="Light")
    assert [g.id for g in page.groups] == [b.id]
    page = await world.groups.list_groups(admin(), node_type="Light", node_model="L2")
    assert page.groups == []
    with pytest.raises(ValidationFailed) as both:
        await world.groups.list_groups(admin(), group_id=a.id, group_name="A")
    assert both.value.reason == "group_id_and_name"
    with pytest.raises(NotFound) as unnamed:
        await world.groups.list_groups(admin(), group_name="Z")
    assert unnamed.value.reason == "group_name_not_found"


async def test_delete_takes_the_sub_groups_along(world: World) -> None:
    top = await world.groups.create_group(admin(), name="Top", nodes=["n1"])
    mid = await world.groups.create_group(admin(), name="Mid", parent_id=top.id)
    other = await world.groups.create_group(admin(), name="Other")
    gone = await world.groups.delete_group(admin(), group_id=top.id)
    assert sorted(gone) == sorted([top.id, mid.id])
    assert list(world.store.admin_groups) == [other.id]
    with pytest.raises(NotFound):
        await world.groups.delete_group(admin("b1", org="org-b"), group_id=other.id)


async def test_group_node_ids_for_later_features(world: World) -> None:
    a = await world.groups.create_group(admin(), name="A", nodes=["n1", "n2"])
    b = await world.groups.create_group(admin(), name="B", nodes=["n2", "n5"])
    async with InMemoryUnitOfWork(world.store, "org-a") as uow:
        assert await admin_group_node_ids(uow, [a.id, b.id, "unknown"]) == ["n1", "n2", "n5"]
        assert await admin_group_node_ids(uow, [a.id, ALL_NODES]) == [
            "n1", "n2", "n3", "n4", "n5"]
        assert uow.admin_groups.calls == 2  # one repository call each, whatever the count
    async with InMemoryUnitOfWork(world.store, "org-b") as uow:
        assert await admin_group_node_ids(uow, [a.id]) == []
