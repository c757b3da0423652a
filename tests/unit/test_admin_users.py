"""Admin user management against in-memory fakes: the rules of /v1/admin/user2."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.access.assignments import UserRoleChanges
from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.admin_requests import parse_epoch
from domain.accounts.admin_users import AdminUsers
from domain.accounts.model import ADMIN, END_USER, SUPERADMIN, Organization, Session, User
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.unit.fakes import (
    AllowAll,
    FakeClock,
    FakeHasher,
    FakeOutbox,
    InMemoryUnitOfWork,
    SequentialIds,
)
from tests.unit.fakes.store import Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _user(store: Store, user_id: str, org: str, *roles: str) -> Caller:
    store.users[user_id] = User(id=user_id, org_id=org, user_name=f"{user_id}@{org}.com",
                                password_hash="x", created_at=T0, confirmed=True,
                                roles={END_USER, *roles})
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id=user_id,
                                      user_name=f"{user_id}@{org}.com",
                                      roles=frozenset({END_USER, *roles})))


@pytest.fixture
def store() -> Store:
    s = Store()
    for org in ("acme", "other"):
        s.orgs[org] = Organization(id=org, name=org, created_at=T0)
    return s


@pytest.fixture
def outbox() -> FakeOutbox:
    return FakeOutbox()


@pytest.fixture
def admin_users(store: Store, outbox: FakeOutbox) -> AdminUsers:
    return AdminUsers(uow=lambda org: InMemoryUnitOfWork(store, org), ids=SequentialIds(),
                      clock=FakeClock(T0), hasher=FakeHasher(), outbox=outbox,
                      authorizer=AllowAll(), roles=UserRoleChanges())


async def test_created_user_is_mailed_a_reset_code_and_joins_the_callers_organization(
        store: Store, outbox: FakeOutbox, admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    user = await admin_users.create_user(root, user_name="New@Acme.com", admin=True)
    stored = store.users[user.id]
    assert stored.org_id == "acme" and stored.user_name == "new@acme.com"
    assert stored.roles == {END_USER, ADMIN}
    assert outbox.last_code("new@acme.com")


async def test_a_user_name_taken_in_another_organization_is_not_told(
        store: Store, outbox: FakeOutbox, admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    _user(store, "boss", "other", SUPERADMIN)
    before = dict(store.users)
    await admin_users.create_user(root, user_name="boss@other.com")  # answered as if created
    assert store.users == before  # nothing created, nothing changed
    assert [m.kind for m in outbox.sent if m.to == "boss@other.com"] == ["account_exists"]
    with pytest.raises(Conflict):  # in the caller's own organization it is said
        await admin_users.create_user(root, user_name="root@acme.com")


async def test_admin_cannot_create_an_admin(store: Store, admin_users: AdminUsers) -> None:
    adm = _user(store, "adm", "acme", ADMIN)
    with pytest.raises((Forbidden, ValidationFailed)):
        await admin_users.create_user(adm, user_name="x@acme.com", admin=True)
    assert all(u.user_name != "x@acme.com" for u in store.users.values())


async def test_update_refuses_flags_that_change_nothing(store: Store,
                                                        admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    _user(store, "adm", "acme", ADMIN)
    for flags, reason in (({"admin": True}, "already_admin"),
                          ({"super_admin": False}, "not_superadmin"), ({}, "no_role_change")):
        with pytest.raises(ValidationFailed) as caught:
            await admin_users.update_user(root, user_name="adm@acme.com", **flags)
        assert caught.value.reason == reason


async def test_update_and_delete_of_oneself_are_prohibited(store: Store,
                                                           admin_users: AdminUsers) -> None:
    adm = _user(store, "adm", "acme", ADMIN)
    with pytest.raises(Forbidden) as caught:
        await admin_users.update_user(adm, user_name="adm@acme.com", admin=False)
    assert caught.value.reason == "self_operation"
    with pytest.raises(Forbidden):
        await admin_users.delete_user(adm, user_name="adm@acme.com")


async def test_another_organizations_user_is_unknown(store: Store,
                                                     admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    _user(store, "u", "other")
    with pytest.raises(NotFound):
        await admin_users.update_user(root, user_name="u@other.com", admin=True)
    with pytest.raises(NotFound):
        await admin_users.delete_user(root, user_name="u@other.com")
    page = await admin_users.get_users(root, all_users=True)
    assert [u.user_name for u in page.users] == ["root@acme.com"]


async def test_admins_list_everyone_but_superadmins(store: Store,
                                                    admin_users: AdminUsers) -> None:
    adm = _user(store, "adm", "acme", ADMIN)
    _user(store, "root", "acme", SUPERADMIN)
    _user(store, "plain", "acme")
    page = await admin_users.get_users(adm, all_users=True)
    assert [u.user_name for u in page.users] == ["adm@acme.com", "plain@acme.com"]
    assert page.total == 2
    with pytest.raises(Forbidden):
        await admin_users.get_users(adm, superadmin=True)


async def test_listing_pages_follow_user_names(store: Store, admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    for name in ("b", "a", "c"):
        _user(store, name, "acme")
    first = await admin_users.get_users(root, all_users=True, num_records=2)
    assert [u.user_name for u in first.users] == ["a@acme.com", "b@acme.com"]
    assert first.next_id == "c@acme.com" and first.total == 4
    rest = await admin_users.get_users(root, all_users=True, num_records=2,
                                       start_id=first.next_id)
    assert [u.user_name for u in rest.users] == ["c@acme.com", "root@acme.com"]
    assert rest.next_id is None
    for bad in (0, 101, True, "5"):
        with pytest.raises(ValidationFailed):
            await admin_users.get_users(root, num_records=bad)


async def test_active_count_counts_distinct_users_signed_in_since(
        store: Store, admin_users: AdminUsers) -> None:
    root = _user(store, "root", "acme", SUPERADMIN)
    _user(store, "u", "acme")
    _user(store, "v", "other")
    for sid, uid, org, day in (("s1", "u", "acme", 2), ("s2", "u", "acme", 3),
                               ("s3", "root", "acme", 1), ("s4", "v", "other", 3)):
        at = datetime(2026, 1, day, tzinfo=UTC)
        store.sessions[sid] = Session(id=sid, org_id=org, user_id=uid, created_at=at,
                                      expires_at=at)
    since = int(datetime(2026, 1, 2, tzinfo=UTC).timestamp())
    assert await admin_users.active_count(root, start_time=str(since)) == 1
    assert await admin_users.active_count(root, start_time="0") == 2


@pytest.mark.parametrize("raw", [None, "", "abc", "-1", "1.5", "123456789012", True, -3])
def test_start_time_must_be_epoch_seconds(raw: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_epoch(raw)
    assert caught.value.reason == "invalid_active_start_time"
