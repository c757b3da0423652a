"""Claiming with the provisioning secret, and member-only reads of node state."""

from __future__ import annotations

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN, END_USER
from domain.devices.nodes import UserNodes
from domain.devices.provisioning import Provisioning
from domain.errors import Conflict, NotFound, ValidationFailed
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.devices import FakeNodeCommands
from tests.unit.fakes.store import Store
from tests.unit.test_params_rules import LED_LIGHT


def user(uid: str, org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=uid,
                                      roles=frozenset({END_USER})))


@pytest.fixture
async def world():  # type: ignore[no-untyped-def]
    store, clock, ids = Store(), FakeClock(), SequentialIds()
    common = dict(uow=lambda org: InMemoryUnitOfWork(store, org), ids=ids, clock=clock,
                  authorizer=AllowAll())
    commands = FakeNodeCommands()
    provisioning, nodes = Provisioning(**common), UserNodes(**common, commands=commands)
    nodes.fake_commands = commands  # type: ignore[attr-defined]
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="adm",
                                       roles=frozenset({ADMIN})))
    issued = await provisioning.create_registration_token(admin, node_name="Lamp")
    device = await provisioning.provision_node(Caller(), token=issued.token)
    return nodes, store, device


async def test_secret_key_claims_the_node_as_primary(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    request = await nodes.map_node(user("u1"), node_id=device.node_id, operation="add",
                                   secret_key=device.secret_key)
    assert request.status == "confirmed"
    assert store.memberships[(device.node_id, "u1")].role == "primary"
    assert (await nodes.mapping_status(user("u1"), request_id=request.id)).status == "confirmed"
    with pytest.raises(NotFound):  # someone else's request
        await nodes.mapping_status(user("u2"), request_id=request.id)
    again = await nodes.map_node(user("u1"), node_id=device.node_id, operation="add",
                                 secret_key=device.secret_key)
    assert again.status == "confirmed"


async def test_other_secret_waits_for_the_node_and_foreign_org_is_not_found(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    # not the provisioned key: the handshake's user half, pending until the node confirms it
    pending = await nodes.map_node(user("u1"), node_id=device.node_id, operation="add",
                                   secret_key="wrong")
    assert pending.status == "requested"
    with pytest.raises(NotFound):
        await nodes.map_node(user("u1"), node_id="NOSUCHNODE", operation="add",
                             secret_key=device.secret_key)
    with pytest.raises(NotFound):
        await nodes.map_node(user("u9", org="org-b"), node_id=device.node_id, operation="add",
                             secret_key=device.secret_key)
    assert not store.memberships


async def test_an_owned_node_cannot_be_claimed_by_another_user(world) -> None:  # type: ignore[no-untyped-def]
    nodes, _, device = world
    await nodes.map_node(user("u1"), node_id=device.node_id, operation="add",
                         secret_key=device.secret_key)
    with pytest.raises(Conflict):
        await nodes.map_node(user("u2"), node_id=device.node_id, operation="add",
                             secret_key=device.secret_key)


async def test_reads_are_for_members_only(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    with pytest.raises(NotFound):
        await nodes.node_params(user("u1"), node_id=device.node_id)
    await nodes.map_node(user("u1"), node_id=device.node_id, operation="add",
                         secret_key=device.secret_key)
    store.nodes[device.node_id].reported = {"Light": {"power": True}}
    assert await nodes.node_params(user("u1"), node_id=device.node_id) == {
        "Light": {"power": True}}
    assert (await nodes.node_status(user("u1"), node_id=device.node_id)).connected is False
    assert await nodes.node_config(user("u1"), node_id=device.node_id) == {}
    with pytest.raises(NotFound):
        await nodes.node_params(user("u2"), node_id=device.node_id)
    await nodes.map_node(user("u1"), node_id=device.node_id, operation="remove")
    with pytest.raises(NotFound):
        await nodes.node_params(user("u1"), node_id=device.node_id)


@pytest.mark.parametrize(("operation", "node_id"), [("grab", "N1"), ("add", "bad id!"),
                                                    ("add", None)])
async def test_bad_mapping_input(world, operation: str, node_id: object) -> None:  # type: ignore[no-untyped-def]
    nodes, _, _ = world
    with pytest.raises(ValidationFailed):
        await nodes.map_node(user("u1"), node_id=node_id, operation=operation, secret_key="x")


async def test_set_params_sends_desired_state_and_refuses_stale_writers(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    owner = user("u1")
    await nodes.map_node(owner, node_id=device.node_id, operation="add",
                         secret_key=device.secret_key)
    _, version = await nodes.node_params_versioned(owner, node_id=device.node_id)
    new_version = await nodes.set_params(owner, node_id=device.node_id,
                                         params={"Light": {"power": True}},
                                         expected_version=version)
    assert new_version == version + 1
    assert nodes.fake_commands.sent == [(device.node_id, {"Light": {"power": True}})]
    with pytest.raises(Conflict):
        await nodes.set_params(owner, node_id=device.node_id, params={"Light": {"power": False}},
                               expected_version=version)
    assert store.nodes[device.node_id].desired == {"Light": {"power": True}}
    with pytest.raises(NotFound):
        await nodes.set_params(user("u2"), node_id=device.node_id,
                               params={"Light": {"power": False}})


async def test_offline_transport_keeps_the_desired_state_pending(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    owner = user("u1")
    await nodes.map_node(owner, node_id=device.node_id, operation="add",
                         secret_key=device.secret_key)
    nodes.fake_commands.available = False
    await nodes.set_params(owner, node_id=device.node_id, params={"Light": {"power": True}})
    assert store.nodes[device.node_id].pending_desired() == {"Light": {"power": True}}
    store.nodes[device.node_id].reported = {"Light": {"power": True}}
    assert store.nodes[device.node_id].pending_desired() == {}


async def test_set_params_holds_writes_to_the_nodes_config(world) -> None:  # type: ignore[no-untyped-def]
    nodes, store, device = world
    owner = user("u1")
    await nodes.map_node(owner, node_id=device.node_id, operation="add",
                         secret_key=device.secret_key)
    # before the node reported a config, a write is taken unchecked
    await nodes.set_params(owner, node_id=device.node_id, params={"Light": {"Power": "on"}})
    store.nodes[device.node_id].apply_config({**LED_LIGHT, "node_id": device.node_id},
                                             FakeClock().now())
    node = store.nodes[device.node_id]
    before = (node.params_version, dict(node.desired), list(nodes.fake_commands.sent))
    for params, reason in (({"Light": {"Brightness": 150}}, "param_out_of_bounds"),
                           ({"Light": {"Power": "on"}}, "param_wrong_type"),
                           ({"Lamp": {"Power": True}}, "param_unknown_device"),
                           ({"Light": {"Power": True, "Colour": 1}}, "param_unknown"),
                           ({"Local Control": {"POP": "x"}}, "param_not_writable")):
        with pytest.raises(ValidationFailed) as caught:
            await nodes.set_params(owner, node_id=device.node_id, params=params)
        assert caught.value.reason == reason
        node = store.nodes[device.node_id]
        assert (node.params_version, node.desired, nodes.fake_commands.sent) == before
    await nodes.set_params(owner, node_id=device.node_id,
                           params={"Light": {"Brightness": 40.0, "Name": "Hall"}})
    assert nodes.fake_commands.sent[-1] == \
        (device.node_id, {"Light": {"Brightness": 40, "Name": "Hall"}})
