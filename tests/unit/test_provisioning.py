"""Provisioning: one-time registration tokens exchanged for a node identity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN
from domain.devices.provisioning import Provisioning, device_secret_matches
from domain.errors import Unauthenticated, ValidationFailed
from domain.hashing import sha256_hex
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.store import Store

ADMIN_CALLER = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="a1",
                                          roles=frozenset({ADMIN})))
DEVICE = Caller(ip="192.0.2.10")


@pytest.fixture
def setup() -> tuple[Provisioning, Store, FakeClock]:
    store, clock = Store(), FakeClock()
    service = Provisioning(uow=lambda org: InMemoryUnitOfWork(store, org), ids=SequentialIds(),
                           clock=clock, authorizer=AllowAll())
    return service, store, clock


async def test_a_token_is_exchanged_once_for_a_node_of_the_admins_org(setup) -> None:  # type: ignore[no-untyped-def]
    service, store, _ = setup
    issued = await service.create_registration_token(ADMIN_CALLER, node_name="Lamp")
    assert issued.token not in str(store.tokens)  # only the hash is kept
    node = await service.provision_node(DEVICE, token=issued.token)
    assert store.nodes[node.node_id].org_id == "org-a"
    assert store.nodes[node.node_id].name == "Lamp"
    secrets = store.node_secrets[node.node_id]
    assert device_secret_matches(secrets.secret_key_hash, node.secret_key)
    assert secrets.mqtt_password_hash == sha256_hex(node.mqtt_password)
    with pytest.raises(Unauthenticated):
        await service.provision_node(DEVICE, token=issued.token)
    assert len(store.nodes) == 1


async def test_an_expired_token_is_refused(setup) -> None:  # type: ignore[no-untyped-def]
    service, store, clock = setup
    issued = await service.create_registration_token(ADMIN_CALLER, node_name="Lamp",
                                                     expires_in_minutes=5)
    clock.advance(minutes=6)
    with pytest.raises(Unauthenticated):
        await service.provision_node(DEVICE, token=issued.token)
    assert not store.nodes


@pytest.mark.parametrize("token", [None, "", "nrt_unknown", "garbage", 5, "nrt_" + "x" * 300])
async def test_unknown_or_malformed_tokens_are_refused_alike(setup, token: object) -> None:  # type: ignore[no-untyped-def]
    service, _, _ = setup
    with pytest.raises(Unauthenticated) as err:
        await service.provision_node(DEVICE, token=token)
    assert err.value.reason == "invalid_registration_token"


@pytest.mark.parametrize(("name", "ttl"), [("", 60), ("x" * 200, 60), ("ok", 0),
                                           ("ok", 20000), ("ok", True), (None, 60)])
async def test_token_input_is_validated(setup, name: object, ttl: object) -> None:  # type: ignore[no-untyped-def]
    service, store, _ = setup
    with pytest.raises(ValidationFailed):
        await service.create_registration_token(ADMIN_CALLER, node_name=name,
                                                expires_in_minutes=ttl)
    assert not store.tokens


async def test_token_lifetime_is_what_was_asked(setup) -> None:  # type: ignore[no-untyped-def]
    service, _, clock = setup
    issued = await service.create_registration_token(ADMIN_CALLER, node_name="Lamp",
                                                     expires_in_minutes=90)
    assert issued.record.expires_at - clock.now() == timedelta(minutes=90)
