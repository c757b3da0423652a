"""Batch params writes and retagging: each a single use case, with one outcome per node or one
transaction for the whole change."""

from __future__ import annotations

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN, END_USER
from domain.devices.node_values import ParamsWrite
from domain.devices.nodes import UserNodes
from domain.devices.provisioning import Provisioning
from domain.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationFailed
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.devices import FakeNodeCommands
from tests.unit.fakes.store import Store
from tests.unit.test_params_rules import LED_LIGHT


def user(uid: str) -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id=uid,
                                      roles=frozenset({END_USER})))


OWNER = user("u1")


@pytest.fixture
async def world():  # type: ignore[no-untyped-def]
    store, authorizer, commands = Store(), AllowAll(), FakeNodeCommands()
    common = dict(uow=lambda org: InMemoryUnitOfWork(store, org), ids=SequentialIds(),
                  clock=FakeClock(), authorizer=authorizer)
    provisioning, nodes = Provisioning(**common), UserNodes(**common, commands=commands)
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="adm",
                                       roles=frozenset({ADMIN})))
    owned = []
    for name in ("Lamp", "Fan"):
        issued = await provisioning.create_registration_token(admin, node_name=name)
        device = await provisioning.provision_node(Caller(), token=issued.token)
        await nodes.map_node(OWNER, node_id=device.node_id, operation="add",
                             secret_key=device.secret_key)
        owned.append(device.node_id)
    return nodes, store, authorizer, commands, owned


async def test_a_batch_reports_each_nodes_own_failure_and_writes_the_others(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, _, commands, (lamp, fan) = world
    stale = store.nodes[fan].params_version + 5
    outcomes = await nodes.set_params_many(OWNER, writes=[
        ParamsWrite(node_id=lamp, params={"Light": {"power": True}}),
        ParamsWrite(node_id="NOSUCHNODE", params={"Light": {"power": True}}),
        ParamsWrite(node_id=fan, params={"Fan": {"speed": 3}}, expected_version=stale),
        ParamsWrite(node_id=fan, params={"Fan": 3}),
        ParamsWrite(node_id=fan, params={"Fan": {"speed": 2}})])
    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert [type(o.error) for o in outcomes if o.error] == [NotFound, Conflict, ValidationFailed]
    assert outcomes[0].params_version == store.nodes[lamp].params_version
    assert store.nodes[fan].desired == {"Fan": {"speed": 2}}
    assert commands.sent == [(lamp, {"Light": {"power": True}}), (fan, {"Fan": {"speed": 2}})]


@pytest.mark.parametrize("size", [0, 26])
async def test_a_batch_holds_one_to_twenty_five_writes(world, size: int) -> None:  # type: ignore[no-untyped-def]
    nodes, _, _, commands, (lamp, _) = world
    with pytest.raises(ValidationFailed):
        await nodes.set_params_many(OWNER, writes=[
            ParamsWrite(node_id=lamp, params={"Light": {"power": True}})] * size)
    assert not commands.sent


async def test_a_forbidden_batch_writes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    nodes, _, authorizer, commands, (lamp, _) = world
    authorizer.denied.add("/v1/user/nodes/params")
    with pytest.raises(Forbidden):
        await nodes.set_params_many(OWNER, writes=[
            ParamsWrite(node_id=lamp, params={"Light": {"power": True}})])
    assert not commands.sent


async def test_retagging_removes_then_adds_in_one_change(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, _, _, (lamp, _) = world
    await nodes.retag_node(OWNER, node_id=lamp, add=["a:1", "b:2"])
    node = await nodes.retag_node(OWNER, node_id=lamp, add=["c:3", "a:1"], remove=["a:1"])
    assert node.tags == store.nodes[lamp].tags == ["b:2", "c:3", "a:1"]


async def test_a_failed_retag_leaves_the_tags_as_they_were(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, _, _, (lamp, _) = world
    await nodes.retag_node(OWNER, node_id=lamp, add=[f"k{i}:v" for i in range(60)])
    before = list(store.nodes[lamp].tags)
    with pytest.raises(ValidationFailed):  # 59 left + 6 new is past the 64 a node may have
        await nodes.retag_node(OWNER, node_id=lamp, remove=["k0:v"],
                               add=[f"new{i}:v" for i in range(6)])
    assert store.nodes[lamp].tags == before
    with pytest.raises(ValidationFailed):
        await nodes.retag_node(OWNER, node_id=lamp)


async def test_retag_removals_need_the_remove_permission_too(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, authorizer, _, (lamp, _) = world
    await nodes.retag_node(OWNER, node_id=lamp, add=["a:1"])
    checked = len(authorizer.checked)
    await nodes.retag_node(OWNER, node_id=lamp, add=["b:2"], remove=["a:1"])
    assert {(p.resource, p.action) for _, p in authorizer.checked[checked:]} == {
        ("/v1/user/nodes", "PUT"), ("/v1/user/nodes", "DELETE")}
    authorizer.denied.add("/v1/user/nodes")
    with pytest.raises(Forbidden):
        await nodes.retag_node(OWNER, node_id=lamp, add=["c:3"])
    assert store.nodes[lamp].tags == ["b:2"]


async def test_an_outage_mid_batch_writes_and_sends_nothing(world) -> None:  # type: ignore[no-untyped-def]
    """The batch is one transaction: when the database goes away before it commits, no node
    is written and none is sent anything, so no outcome can claim a write that did not
    happen (the error is raised; the API answers it for every node)."""
    nodes, store, _, commands, (lamp, fan) = world
    opened = nodes._uow

    class CommitFails(InMemoryUnitOfWork):
        async def commit(self) -> None:
            raise Unavailable("the database does not answer")

    def failing(org: str) -> InMemoryUnitOfWork:
        return CommitFails(opened(org)._store, org)

    nodes._uow = failing
    with pytest.raises(Unavailable):
        await nodes.set_params_many(OWNER, writes=[
            ParamsWrite(node_id=lamp, params={"Light": {"power": True}}),
            ParamsWrite(node_id=fan, params={"Fan": {"speed": 1}})])
    assert store.nodes[lamp].desired == {} and store.nodes[fan].desired == {}
    assert commands.sent == []


async def test_a_batch_reports_the_param_a_nodes_config_refuses(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, _, commands, (lamp, fan) = world
    store.nodes[lamp].apply_config({**LED_LIGHT, "node_id": lamp}, FakeClock().now())
    outcomes = await nodes.set_params_many(OWNER, writes=[
        ParamsWrite(node_id=lamp, params={"Light": {"Hue": 400}}),
        ParamsWrite(node_id=fan, params={"Fan": {"speed": 2}}),  # no config yet: unchecked
        ParamsWrite(node_id=lamp, params={"Light": {"Power": True}})])
    assert [o.ok for o in outcomes] == [False, True, True]
    error = outcomes[0].error
    assert isinstance(error, ValidationFailed) and error.reason == "param_out_of_bounds"
    assert error.message == "Light.Hue: 400 is above bounds max 360"
    assert store.nodes[lamp].desired == {"Light": {"Power": True}}
    assert commands.sent == [(fan, {"Fan": {"speed": 2}}), (lamp, {"Light": {"Power": True}})]
