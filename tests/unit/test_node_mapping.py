"""User-node mapping beyond the provisioned key (the two-sided handshake, challenge-response),
what goes with the last mapping, and the user's node edits: domain with in-memory ports."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN, END_USER
from domain.devices.mapping import NodeMapping
from domain.devices.model import ParamsHistoryEntry
from domain.devices.nodes import UserNodes
from domain.devices.provisioning import ProvisionedNode, Provisioning
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.devices import FakeNodeCommands, FakeSignatures
from tests.unit.fakes.store import Store

KEY = "PUB:node-key"


def user(uid: str, org: str = "org-a") -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=uid,
                                      roles=frozenset({END_USER})))


@dataclass
class World:
    store: Store
    clock: FakeClock
    nodes: UserNodes
    mapping: NodeMapping
    device: ProvisionedNode
    keyless: ProvisionedNode


@pytest.fixture
async def w() -> World:
    store, clock, ids = Store(), FakeClock(), SequentialIds()
    common = dict(uow=lambda org: InMemoryUnitOfWork(store, org), ids=ids, clock=clock,
                  authorizer=AllowAll())
    provisioning = Provisioning(**common, signatures=FakeSignatures())  # type: ignore[arg-type]
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="adm",
                                       roles=frozenset({ADMIN})))
    issued = await provisioning.create_registration_token(admin, node_name="Lamp")
    device = await provisioning.provision_node(Caller(), token=issued.token, public_key=KEY)
    issued = await provisioning.create_registration_token(admin, node_name="Plug")
    keyless = await provisioning.provision_node(Caller(), token=issued.token)
    return World(store=store, clock=clock,
                 nodes=UserNodes(**common, commands=FakeNodeCommands(),  # type: ignore[arg-type]
                                 mapping_ttl_seconds=60),
                 mapping=NodeMapping(**common, signatures=FakeSignatures(),  # type: ignore[arg-type]
                                     ttl_seconds=60),
                 device=device, keyless=keyless)


def half(node_id: str, secret: str, user_id: str = "", reset: bool = False) -> bytes:
    return json.dumps({"node_id": node_id, "user_id": user_id, "secret_key": secret,
                       "reset": reset}).encode()


async def status(w: World, uid: str, request_id: str) -> str:
    return (await w.nodes.mapping_status(user(uid), request_id=request_id)).status


# the two-sided handshake --------------------------------------------------------------

async def test_user_half_then_node_half_confirms(w: World) -> None:
    node_id = w.device.node_id
    request = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                     secret_key="phone-made-secret", tags=["room:hall"],
                                     metadata={"serial": "x1"})
    assert request.status == "requested" and await status(w, "u1", request.id) == "requested"
    assert not w.store.memberships
    assert await w.mapping.node_half(node_id, half(node_id, "another")) == "waiting"
    assert await status(w, "u1", request.id) == "requested"
    assert await w.mapping.node_half(node_id, half(node_id, "phone-made-secret", "u1")) \
        == "confirmed"
    assert await status(w, "u1", request.id) == "confirmed"
    assert w.store.memberships[(node_id, "u1")].role == "primary"
    node = w.store.nodes[node_id]
    assert node.tags == ["room:hall"] and node.metadata == {"serial": "x1"}


async def test_node_half_first_then_user_half_confirms_at_once(w: World) -> None:
    node_id = w.device.node_id
    assert await w.mapping.node_half(node_id, half(node_id, "s3cret")) == "waiting"
    assert await w.mapping.node_half(node_id, half(node_id, "s3cret")) == "duplicate"
    request = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                     secret_key="s3cret")
    assert request.status == "confirmed"
    assert w.store.memberships[(node_id, "u1")].role == "primary"
    # the node half is used up: another user with the same secret only waits
    other = await w.nodes.map_node(user("u2"), node_id=node_id, operation="add",
                                   secret_key="s3cret")
    assert other.status == "requested"


async def test_node_half_naming_another_user_does_not_confirm(w: World) -> None:
    node_id = w.device.node_id
    request = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                     secret_key="s3cret")
    assert await w.mapping.node_half(node_id, half(node_id, "s3cret", "u2")) == "waiting"
    assert await status(w, "u1", request.id) == "requested"


async def test_unanswered_request_times_out(w: World) -> None:
    node_id = w.device.node_id
    request = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                     secret_key="s3cret")
    w.clock.advance(seconds=61)
    assert await status(w, "u1", request.id) == "timedout"
    assert await w.mapping.node_half(node_id, half(node_id, "s3cret")) == "waiting"
    assert await status(w, "u1", request.id) == "timedout"
    assert not w.store.memberships


async def test_owned_node_is_discarded_without_reset_and_taken_over_with_it(w: World) -> None:
    node_id = w.device.node_id
    await w.nodes.map_node(user("owner"), node_id=node_id, operation="add",
                           secret_key=w.device.secret_key)
    first = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                   secret_key="k1")
    assert await w.mapping.node_half(node_id, half(node_id, "k1")) == "discarded"
    assert await status(w, "u1", first.id) == "discarded"
    w.store.params_history[(node_id, 1)] = ParamsHistoryEntry(
        org_id="org-a", node_id=node_id, version=1, at=w.clock.now(), params={"L": {"p": 1}})
    second = await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                                    secret_key="k2")
    assert await w.mapping.node_half(node_id, half(node_id, "k2", reset=True)) == "confirmed"
    assert await status(w, "u1", second.id) == "confirmed"
    assert set(w.store.memberships) == {(node_id, "u1")}
    assert not w.store.params_history  # reset drops the node's history


@pytest.mark.parametrize("payload", [
    b"", b"not json", b"[]", b'{"secret_key": 5}', b'{"secret_key": ""}',
    b'{"secret_key": "k", "reset": "yes"}', b'{"secret_key": "k", "node_id": "OTHER"}',
    b'{"secret_key": "k", "user_id": 7}', b"\xff\xfe", b"[" * 5000, b"{" + b" " * 5000 + b"}",
])
async def test_malformed_node_halves_are_dropped(w: World, payload: bytes) -> None:
    outcome = await w.mapping.node_half(w.device.node_id, payload)
    assert outcome.startswith("dropped")
    assert not w.store.mapping_requests


async def test_node_halves_of_unknown_nodes_are_dropped(w: World) -> None:
    assert (await w.mapping.node_half("NOPE", half("NOPE", "k"))).startswith("dropped")
    assert (await w.mapping.node_half("../x", half("../x", "k"))).startswith("dropped")


async def test_a_chatty_node_cannot_grow_pending_halves_without_bound(w: World) -> None:
    node_id = w.device.node_id
    outcomes = [await w.mapping.node_half(node_id, half(node_id, f"k{i}")) for i in range(30)]
    assert outcomes.count("waiting") == 20
    assert len(w.store.mapping_requests) == 20


# challenge-response ---------------------------------------------------------------------

async def test_challenge_signed_by_the_node_key_maps_the_node(w: World) -> None:
    request = await w.mapping.initiate_challenge(user("u1"))
    assert request.challenge and request.status == "requested"
    signature = FakeSignatures.sign(KEY, request.challenge.encode())
    with pytest.raises(ValidationFailed) as wrong:
        await w.mapping.verify_challenge(user("u1"), request_id=request.id,
                                         node_id=w.device.node_id, challenge_response="00ff")
    assert wrong.value.reason == "invalid_challenge_response"
    with pytest.raises(NotFound):  # someone else's request
        await w.mapping.verify_challenge(user("u2"), request_id=request.id,
                                         node_id=w.device.node_id, challenge_response=signature)
    confirmed = await w.mapping.verify_challenge(
        user("u1"), request_id=request.id, node_id=w.device.node_id,
        challenge_response=signature, tags=["a:b"])
    assert confirmed.status == "confirmed"
    assert w.store.memberships[(w.device.node_id, "u1")].role == "primary"
    assert w.store.nodes[w.device.node_id].tags == ["a:b"]
    with pytest.raises(ValidationFailed) as again:
        await w.mapping.verify_challenge(user("u1"), request_id=request.id,
                                         node_id=w.device.node_id, challenge_response=signature)
    assert again.value.reason == "mapping_already_confirmed"


async def test_challenge_times_out_and_needs_a_node_key(w: World) -> None:
    request = await w.mapping.initiate_challenge(user("u1"), timeout_seconds=5)
    with pytest.raises(ValidationFailed) as keyless:  # a node without a key cannot sign
        await w.mapping.verify_challenge(
            user("u1"), request_id=request.id, node_id=w.keyless.node_id,
            challenge_response=FakeSignatures.sign(KEY, request.challenge.encode()))
    assert keyless.value.reason == "invalid_challenge_response"
    w.clock.advance(seconds=6)
    with pytest.raises(ValidationFailed) as late:
        await w.mapping.verify_challenge(
            user("u1"), request_id=request.id, node_id=w.device.node_id,
            challenge_response=FakeSignatures.sign(KEY, request.challenge.encode()))
    assert late.value.reason == "mapping_timed_out"
    forever = await w.mapping.initiate_challenge(user("u1"), timeout_seconds=0)
    assert forever.expires_at is None


@pytest.mark.parametrize("value", [-1, 10**12, True, "5", float("nan")])
async def test_challenge_timeout_is_validated(w: World, value: object) -> None:
    with pytest.raises(ValidationFailed):
        await w.mapping.initiate_challenge(user("u1"), timeout_seconds=value)


async def test_challenge_for_an_owned_node_conflicts(w: World) -> None:
    await w.nodes.map_node(user("owner"), node_id=w.device.node_id, operation="add",
                           secret_key=w.device.secret_key)
    request = await w.mapping.initiate_challenge(user("u1"))
    with pytest.raises(Conflict):
        await w.mapping.verify_challenge(
            user("u1"), request_id=request.id, node_id=w.device.node_id,
            challenge_response=FakeSignatures.sign(KEY, request.challenge.encode()))


async def test_bad_public_key_is_refused_at_provisioning() -> None:
    store, clock, ids = Store(), FakeClock(), SequentialIds()
    provisioning = Provisioning(uow=lambda org: InMemoryUnitOfWork(store, org), ids=ids,
                                clock=clock, authorizer=AllowAll(), signatures=FakeSignatures())
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="adm",
                                       roles=frozenset({ADMIN})))
    issued = await provisioning.create_registration_token(admin, node_name="Lamp")
    with pytest.raises(ValidationFailed):
        await provisioning.provision_node(Caller(), token=issued.token, public_key="garbage")
    assert not store.nodes  # nothing written; the token is still usable
    assert await provisioning.provision_node(Caller(), token=issued.token)


# what goes with the mapping; the user's node edits ---------------------------------------

async def test_last_unmapping_deletes_history_but_not_while_others_remain(w: World) -> None:
    node_id = w.device.node_id
    await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                           secret_key=w.device.secret_key)
    w.store.params_history[(node_id, 1)] = ParamsHistoryEntry(
        org_id="org-a", node_id=node_id, version=1, at=w.clock.now(), params={"L": {"p": 1}})
    await w.nodes.map_node(user("u1"), node_id=node_id, operation="remove")
    assert not w.store.memberships and not w.store.params_history
    with pytest.raises(NotFound):
        await w.nodes.map_node(user("u1"), node_id=node_id, operation="remove")


async def test_tags_and_metadata_follow_thing_shadow_rules(w: World) -> None:
    node_id = w.device.node_id
    await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                           secret_key=w.device.secret_key)
    await w.nodes.update_node(user("u1"), node_id=node_id, tags=["a:1", "b:2"],
                              metadata={"k": {"x": 1, "y": [1, 2]}, "drop": 1})
    node = await w.nodes.update_node(user("u1"), node_id=node_id, tags=["a:1"],
                                     metadata={"k": {"y": [3]}, "drop": None})
    assert node.tags == ["a:1", "b:2"]
    assert node.metadata == {"k": {"x": 1, "y": [3]}}
    node = await w.nodes.update_node(user("u1"), node_id=node_id, metadata={})
    assert node.metadata == {"k": {"x": 1, "y": [3]}}
    node = await w.nodes.update_node(user("u1"), node_id=node_id, metadata=None)
    assert node.metadata is None
    node = await w.nodes.remove_tags(user("u1"), node_id=node_id, tags=["a:1", "zz:9"])
    assert node.tags == ["b:2"]
    with pytest.raises(ValidationFailed):
        await w.nodes.update_node(user("u1"), node_id=node_id)
    with pytest.raises(ValidationFailed):
        await w.nodes.update_node(user("u1"), node_id=node_id, tags=["no-colon"])
    with pytest.raises(NotFound):
        await w.nodes.update_node(user("u2"), node_id=node_id, tags=["a:1"])


async def test_delete_node_is_for_the_primary_and_drops_every_association(w: World) -> None:
    node_id = w.device.node_id
    await w.nodes.map_node(user("u1"), node_id=node_id, operation="add",
                           secret_key=w.device.secret_key, tags=["a:1"])
    from domain.sharing.model import NodeMembership
    w.store.memberships[(node_id, "u2")] = NodeMembership(
        node_id=node_id, org_id="org-a", user_id="u2", role="secondary",
        created_at=w.clock.now())
    with pytest.raises(Forbidden):
        await w.nodes.delete_node(user("u2"), node_id=node_id)
    with pytest.raises(NotFound):
        await w.nodes.delete_node(user("u3"), node_id=node_id)
    await w.nodes.delete_node(user("u1"), node_id=node_id)
    assert not w.store.memberships and not w.store.mapping_requests
    assert w.store.nodes[node_id].tags == []
    again = await w.nodes.map_node(user("u3"), node_id=node_id, operation="add",
                                   secret_key=w.device.secret_key)
    assert again.status == "confirmed"  # the node stays provisioned and can be claimed again
