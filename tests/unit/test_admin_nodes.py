"""An admin's use cases on the organization's nodes, with in-memory fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN, END_USER, User
from domain.devices.admin import AdminNodes
from domain.devices.admin_requests import parse_tag_filter
from domain.devices.model import PRIMARY, SECONDARY, Connectivity, Node
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.sharing.model import NodeMembership
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork
from tests.unit.fakes.store import Store

NOW_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


def admin(org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id="adm",
                                      roles=frozenset({ADMIN})))


@dataclass
class World:
    store: Store
    admin_nodes: AdminNodes
    authorizer: AllowAll

    def node(self, node_id: str, org: str = "org-a", **fields: object) -> Node:
        node = Node(id=node_id, org_id=org, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    **fields)  # type: ignore[arg-type]
        self.store.nodes[node_id] = node
        return node

    def user(self, user_id: str, org: str = "org-a") -> User:
        user = User(id=user_id, org_id=org, user_name=f"{user_id}@example.com",
                    password_hash="x", created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    confirmed=True, roles={END_USER})
        self.store.users[user_id] = user
        return user

    def map(self, node_id: str, user_id: str, role: str = PRIMARY) -> None:
        self.store.memberships[(node_id, user_id)] = NodeMembership(
            node_id=node_id, org_id=self.store.nodes[node_id].org_id, user_id=user_id,
            role=role, created_at=datetime(2026, 1, 1, tzinfo=UTC))

    def roles(self, node_id: str) -> dict[str, str]:
        return {u: m.role for (n, u), m in self.store.memberships.items() if n == node_id}


@pytest.fixture
def world() -> World:
    store, authorizer = Store(), AllowAll()
    use_cases = AdminNodes(uow=lambda org: InMemoryUnitOfWork(store, org), clock=FakeClock(),
                           authorizer=authorizer)
    return World(store=store, admin_nodes=use_cases, authorizer=authorizer)


def fleet(world: World) -> None:
    world.node("N1", type="Light", model="L1", fw_version="1.0", tags=["site:pune"],
               connectivity=Connectivity(connected=True, timestamp_ms=NOW_MS - 10),
               config={"info": {"subtype": "bulb", "project_name": "home"}})
    world.node("N2", type="Light", model="L2", fw_version="1.0",
               tags=["site:pune", "floor:2"],
               connectivity=Connectivity(connected=False, timestamp_ms=NOW_MS - 86_400_000))
    world.node("N3", type="Switch", tags=["site:goa"])  # never connected
    world.node("N4", type="Light", model="L1", active=False,
               connectivity=Connectivity(connected=False, timestamp_ms=NOW_MS - 1000))
    world.node("F1", org="org-b", type="Light", tags=["site:pune"])


async def ids(world: World, **kw: object) -> list[str]:
    return [n.id for n in (await world.admin_nodes.list_nodes(admin(), **kw)).nodes]


async def test_lists_only_the_organizations_nodes_with_filters(world: World) -> None:
    fleet(world)
    assert await ids(world) == ["N1", "N2", "N3", "N4"]
    assert await ids(world, type="Light") == ["N1", "N2", "N4"]
    assert await ids(world, type="Light", model="L1") == ["N1", "N4"]
    assert await ids(world, type="Light", model="L2", fw_version="1.0") == ["N2"]
    assert await ids(world, subtype="bulb") == ["N1"]
    assert await ids(world, project_name="home", type="Light") == ["N1"]
    assert await ids(world, tags="site:pune OR site:goa") == ["N1", "N2", "N3"]
    assert await ids(world, tags="site:pune AND floor:2") == ["N2"]
    assert await ids(world, node_status="online") == ["N1"]
    assert await ids(world, node_status="offline") == ["N2"]
    assert await ids(world, node_status="not_activated") == ["N3"]
    assert await ids(world, node_status="deactivated") == ["N4"]
    assert await ids(world, node_status="active", start_time=NOW_MS - 60_000) == ["N1", "N4"]
    assert await ids(world, node_status="inactive", start_time=NOW_MS - 60_000) == ["N2"]


async def test_pages_follow_next_id_and_count_every_match(world: World) -> None:
    fleet(world)
    first = await world.admin_nodes.list_nodes(admin(), num_records=3)
    assert [n.id for n in first.nodes] == ["N1", "N2", "N3"]
    assert first.next_id == "N4" and first.total == 4
    second = await world.admin_nodes.list_nodes(admin(), num_records=3, start_id=first.next_id)
    assert [n.id for n in second.nodes] == ["N4"] and second.next_id is None
    assert second.total == 4


@pytest.mark.parametrize(("kw", "reason"), [
    ({"model": "L1"}, "model_needs_type"),
    ({"type": "Light", "fw_version": "1.0"}, "fw_version_needs_model"),
    ({"tags": "a:b AND c:d OR e:f"}, "mixed_tag_operators"),
    ({"tags": "nocolon"}, "invalid_tags"),
    ({"node_status": "sleeping"}, "invalid_node_status"),
    ({"start_time": -1}, "invalid_start_time"),
    ({"num_records": 0}, "invalid_page"),
    ({"num_records": 101}, "invalid_page"),
])
async def test_filters_follow_rainmakers_rules(world: World, kw: dict[str, object],
                                               reason: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        await world.admin_nodes.list_nodes(admin(), **kw)
    assert err.value.reason == reason


def test_a_tag_filter_uses_one_operator() -> None:
    assert parse_tag_filter("a:b") == (("a:b",), True)
    assert parse_tag_filter("a:b OR c:New York") == (("a:b", "c:New York"), False)
    assert parse_tag_filter("a:b AND c:d") == (("a:b", "c:d"), True)


async def test_one_node_by_id_and_never_another_orgs(world: World) -> None:
    fleet(world)
    page = await world.admin_nodes.list_nodes(admin(), node_id="N2", type="Switch")
    assert [n.id for n in page.nodes] == ["N2"]  # filters are checked, then ignored
    for node_id in ("F1", "NOPE"):
        with pytest.raises(NotFound):
            await world.admin_nodes.list_nodes(admin(), node_id=node_id)
    assert await ids(world) == ["N1", "N2", "N3", "N4"]
    assert [n.id for n in (await world.admin_nodes.list_nodes(admin("org-b"))).nodes] == ["F1"]


async def test_activity_summary_partitions_the_nodes(world: World) -> None:
    fleet(world)
    summary = await world.admin_nodes.activity_summary(admin(), start_time=NOW_MS - 60_000)
    assert (summary.active_count, summary.inactive_count, summary.not_activated_count) \
        == (2, 1, 1)
    light = await world.admin_nodes.activity_summary(admin(), start_time=0, type="Light")
    assert (light.active_count, light.inactive_count, light.not_activated_count) == (3, 0, 0)
    with pytest.raises(ValidationFailed) as err:
        await world.admin_nodes.activity_summary(admin(), start_time=None)
    assert err.value.reason == "invalid_start_time"


async def test_deactivate_and_activate_many_nodes(world: World) -> None:
    fleet(world)
    outcomes = await world.admin_nodes.update_nodes(admin(), node_ids="N1,N2", activate=False)
    assert [o.error for o in outcomes] == [None, None]
    assert not world.store.nodes["N1"].active and not world.store.nodes["N2"].active
    await world.admin_nodes.update_nodes(admin(), node_ids="N1", activate=True)
    assert world.store.nodes["N1"].active and not world.store.nodes["N2"].active


async def test_tags_are_attached_and_removed_per_node(world: World) -> None:
    fleet(world)
    outcomes = await world.admin_nodes.update_nodes(admin(), node_ids="N1,N3,NOPE,F1",
                                                    tags=["floor:1"])
    assert [(o.node_id, o.error is None) for o in outcomes] == [
        ("N1", True), ("N3", True), ("NOPE", False), ("F1", False)]
    assert world.store.nodes["N1"].tags == ["site:pune", "floor:1"]
    assert world.store.nodes["F1"].tags == ["site:pune"]  # another org's node is untouched
    await world.admin_nodes.remove_tags(admin(), node_ids="N1,N3", tags=["floor:1", "x:y"])
    assert world.store.nodes["N1"].tags == ["site:pune"] and world.store.nodes["N3"].tags == [
        "site:goa"]


async def test_a_node_passing_64_tags_fails_alone(world: World) -> None:
    world.node("N1", tags=[f"k{i}:v" for i in range(64)])
    world.node("N2")
    outcomes = await world.admin_nodes.update_nodes(admin(), node_ids="N1,N2", tags=["new:1"])
    assert outcomes[0].error is not None and outcomes[1].error is None
    assert world.store.nodes["N2"].tags == ["new:1"] and len(world.store.nodes["N1"].tags) == 64


@pytest.mark.parametrize(("kw", "reason"), [
    ({"node_ids": None, "activate": True}, "admin_node_id_missing"),
    ({"node_ids": ",".join(f"N{i}" for i in range(26)), "activate": True}, "too_many_nodes"),
    ({"node_ids": "N1"}, "invalid_node_operation"),
    ({"node_ids": "N1", "tags": []}, "no_tags"),
    ({"node_ids": "N1", "tags": ["nocolon"]}, "invalid_node_tags"),
    ({"node_ids": "N 1", "activate": True}, "invalid_node_id"),
])
async def test_node_operations_are_validated(world: World, kw: dict[str, object],
                                             reason: str) -> None:
    world.node("N1")
    with pytest.raises(ValidationFailed) as err:
        await world.admin_nodes.update_nodes(admin(), **kw)
    assert err.value.reason == reason


async def test_twenty_five_nodes_at_once_are_fine(world: World) -> None:
    for i in range(25):
        world.node(f"N{i:02d}")
    node_ids = ",".join(f"N{i:02d}" for i in range(25))
    outcomes = await world.admin_nodes.update_nodes(admin(), node_ids=node_ids, tags=["a:b"])
    assert all(o.error is None for o in outcomes) and len(outcomes) == 25


async def test_no_node_of_the_org_is_not_found(world: World) -> None:
    fleet(world)
    with pytest.raises(NotFound):
        await world.admin_nodes.update_nodes(admin(), node_ids="F1", activate=False)
    assert world.store.nodes["F1"].active


async def test_tag_names_and_values_of_the_org(world: World) -> None:
    fleet(world)
    names = await world.admin_nodes.tag_names(admin())
    assert names.items == ["floor", "site"] and names.total == 2
    values = await world.admin_nodes.tag_names(admin(), tag_name="site")
    assert values.items == ["goa", "pune"]
    page = await world.admin_nodes.tag_names(admin(), tag_name="site", num_records=1)
    assert page.items == ["goa"] and page.next_id == "pune" and page.total == 2
    assert (await world.admin_nodes.tag_names(admin("org-b"))).items == ["site"]


async def test_a_users_nodes_and_a_nodes_users(world: World) -> None:
    fleet(world)
    world.user("u1")
    world.user("u2")
    world.user("x", org="org-b")
    world.map("N1", "u1")
    world.map("N2", "u1", SECONDARY)
    world.map("N1", "u2", SECONDARY)
    mine = await world.admin_nodes.associations(admin(), user_id="u1", node_details=True)
    assert mine.by_role == {PRIMARY: ["N1"], SECONDARY: ["N2"]}
    assert mine.totals == {PRIMARY: 1, SECONDARY: 1}
    assert [n.id for n in mine.details] == ["N1", "N2"]
    by_name = await world.admin_nodes.associations(admin(), user_name=" U1@example.com ",
                                                   role=SECONDARY)
    assert by_name.by_role == {SECONDARY: ["N2"]}
    users = await world.admin_nodes.associations(admin(), node_id="N1")
    assert users.by_role == {PRIMARY: [("u1", "u1@example.com")],
                             SECONDARY: [("u2", "u2@example.com")]}
    paged = await world.admin_nodes.associations(admin(), user_id="u1", num_records=1)
    assert paged.by_role == {PRIMARY: ["N1"], SECONDARY: []} and paged.next_id == "N2"


@pytest.mark.parametrize(("kw", "error", "reason"), [
    ({}, ValidationFailed, "user_or_node_missing"),
    ({"user_id": "u1", "node_id": "N1"}, ValidationFailed, "user_id_and_node"),
    ({"user_name": "u1@example.com", "node_id": "N1"}, ValidationFailed, "user_name_and_node"),
    ({"user_id": "u1", "role": "owner"}, ValidationFailed, "invalid_role"),
    ({"user_id": "x"}, NotFound, "user_not_found"),  # another org's user
    ({"user_name": "x@example.com"}, NotFound, "user_not_found"),
    ({"node_id": "F1"}, NotFound, "nodes_not_found"),
])
async def test_association_queries_are_validated_and_scoped(
        world: World, kw: dict[str, object], error: type[Exception], reason: str) -> None:
    fleet(world)
    world.user("u1")
    world.user("x", org="org-b")
    with pytest.raises(error) as err:
        await world.admin_nodes.associations(admin(), **kw)
    assert err.value.reason == reason  # type: ignore[attr-defined]


async def test_mapping_a_new_primary_replaces_every_mapping(world: World) -> None:
    fleet(world)
    for uid in ("u1", "u2", "u3"):
        world.user(uid)
    world.map("N1", "u1")
    world.map("N1", "u2", SECONDARY)
    await world.admin_nodes.map_user_node(admin(), user_id="u3", node_id="N1")
    assert world.roles("N1") == {"u3": PRIMARY}
    again = await world.admin_nodes.map_user_node(admin(), user_id="u3", node_id="N1")
    assert again.role == PRIMARY and world.roles("N1") == {"u3": PRIMARY}


async def test_promoting_a_secondary_keeps_the_old_primary_as_secondary(world: World) -> None:
    fleet(world)
    world.user("u1")
    world.user("u2")
    world.map("N1", "u1")
    world.map("N1", "u2", SECONDARY)
    await world.admin_nodes.map_user_node(admin(), user_id="u2", node_id="N1")
    assert world.roles("N1") == {"u1": SECONDARY, "u2": PRIMARY}


async def test_adding_a_secondary_keeps_the_others(world: World) -> None:
    fleet(world)
    world.user("u1")
    world.user("u2")
    world.map("N1", "u1")
    await world.admin_nodes.map_user_node(admin(), user_id="u2", node_id="N1", role=SECONDARY)
    assert world.roles("N1") == {"u1": PRIMARY, "u2": SECONDARY}
    with pytest.raises(Conflict):
        await world.admin_nodes.map_user_node(admin(), user_id="u1", node_id="N1",
                                              role=SECONDARY)


async def test_direct_mapping_stays_in_the_org(world: World) -> None:
    fleet(world)
    world.user("u1")
    world.user("x", org="org-b")
    with pytest.raises(NotFound) as err:
        await world.admin_nodes.map_user_node(admin(), user_id="x", node_id="N1")
    assert err.value.reason == "user_not_found"
    with pytest.raises(NotFound) as err:
        await world.admin_nodes.map_user_node(admin(), user_id="u1", node_id="F1")
    assert err.value.reason == "nodes_not_found"
    assert not world.store.memberships


async def test_removing_a_mapping(world: World) -> None:
    fleet(world)
    world.user("u1")
    world.user("u2")
    world.map("N1", "u1")
    with pytest.raises(NotFound) as err:
        await world.admin_nodes.unmap_user_node(admin(), user_id="u2", node_id="N1")
    assert err.value.reason == "node_not_mapped_to_user"
    await world.admin_nodes.unmap_user_node(admin(), user_id="u1", node_id="N1")
    assert world.roles("N1") == {}


async def test_every_use_case_asks_the_authorizer(world: World) -> None:
    fleet(world)
    world.authorizer.denied = {"/v1/admin/nodes", "/v1/admin/nodes/tags",
                               "/v1/admin/user/nodes",
                               "/v1/admin/users/{user_id}/nodes/{node_id}/mapping"}
    calls = [world.admin_nodes.list_nodes(admin()),
             world.admin_nodes.activity_summary(admin(), start_time=0),
             world.admin_nodes.update_nodes(admin(), node_ids="N1", activate=False),
             world.admin_nodes.remove_tags(admin(), node_ids="N1", tags=["a:b"]),
             world.admin_nodes.tag_names(admin()),
             world.admin_nodes.associations(admin(), node_id="N1"),
             world.admin_nodes.map_user_node(admin(), user_id="u", node_id="N1"),
             world.admin_nodes.unmap_user_node(admin(), user_id="u", node_id="N1")]
    for call in calls:
        with pytest.raises(Forbidden):
            await call
    assert world.store.nodes["N1"].active
