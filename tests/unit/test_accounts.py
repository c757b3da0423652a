"""Account use cases against in-memory fakes: rules and end state, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.access.model import Caller, Permission, Principal, PrincipalKind
from domain.accounts.api_keys import ApiKeys
from domain.accounts.model import SUPERADMIN, CodePurpose
from domain.accounts.probing import Limits
from domain.accounts.profile import Profiles
from domain.accounts.registration import Registration
from domain.accounts.sessions import Sessions
from domain.accounts.tokens import RefreshMode
from domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)
from tests.unit.fakes import (
    AllowAll,
    FakeClock,
    FakeHasher,
    FakeOutbox,
    FakeRateLimiter,
    FakeTokens,
    InMemoryUnitOfWork,
    SequentialIds,
)
from tests.unit.fakes.accounts import InMemoryPrincipals
from tests.unit.fakes.store import Store

PW = "Secret-pass1"
ANON = Caller(ip="198.51.100.1")


@dataclass
class World:
    store: Store
    clock: FakeClock
    outbox: FakeOutbox
    limiter: FakeRateLimiter
    authorizer: AllowAll
    hasher: FakeHasher
    registration: Registration
    sessions: Sessions
    profiles: Profiles
    api_keys: ApiKeys

    async def confirmed_user(self, user_name: str = "ann@example.com") -> Caller:
        await self.registration.sign_up(ANON, user_name=user_name, password=PW)
        await self.registration.confirm_sign_up(ANON, user_name=user_name,
                                                code=self.outbox.last_code(user_name))
        tokens = await self.sessions.login(ANON, user_name=user_name, password=PW)
        return Caller(principal=await self.sessions.authenticate(tokens.access_token),
                      ip="198.51.100.1")


@pytest.fixture
def world() -> World:
    store, clock, ids = Store(), FakeClock(), SequentialIds()
    outbox, limiter, authorizer, hasher = FakeOutbox(), FakeRateLimiter(), AllowAll(), FakeHasher()

    def uow(org_id: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(store, org_id)

    common = dict(uow=uow, ids=ids, clock=clock, authorizer=authorizer)
    limits = Limits(per_ip=1000, per_user=1000)
    return World(
        store=store, clock=clock, outbox=outbox, limiter=limiter, authorizer=authorizer,
        hasher=hasher,
        registration=Registration(**common, hasher=hasher, outbox=outbox, limiter=limiter,
                                  limits=limits),
        sessions=Sessions(**common, hasher=hasher, tokens=FakeTokens(clock), limiter=limiter,
                          principals=InMemoryPrincipals(store), limits=limits),
        profiles=Profiles(**common, hasher=hasher, outbox=outbox, limiter=limiter,
                          limits=limits),
        api_keys=ApiKeys(**common),
    )


async def test_sign_up_creates_unconfirmed_user_and_mails_a_code(world: World) -> None:
    user = await world.registration.sign_up(ANON, user_name="Ann@Example.com", password=PW)
    assert user.user_name == "ann@example.com" and not user.confirmed
    assert world.store.users[user.id].password_hash != PW
    assert world.outbox.sent[-1].kind == CodePurpose.SIGN_UP.value
    assert world.store.orgs[user.org_id].name == "default"


async def test_unconfirmed_user_cannot_log_in(world: World) -> None:
    await world.registration.sign_up(ANON, user_name="ann@example.com", password=PW)
    with pytest.raises(Unauthenticated) as err:
        await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    assert err.value.reason == "not_verified"


async def test_wrong_code_is_refused_and_attempts_are_limited(world: World) -> None:
    await world.registration.sign_up(ANON, user_name="ann@example.com", password=PW)
    right = world.outbox.last_code("ann@example.com")
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            await world.registration.confirm_sign_up(ANON, user_name="ann@example.com",
                                                     code="000000")
    with pytest.raises(ValidationFailed):  # the right code no longer works: attempts used up
        await world.registration.confirm_sign_up(ANON, user_name="ann@example.com", code=right)


async def test_expired_code_is_refused(world: World) -> None:
    await world.registration.sign_up(ANON, user_name="ann@example.com", password=PW)
    world.clock.advance(hours=25)
    with pytest.raises(ValidationFailed):
        await world.registration.confirm_sign_up(
            ANON, user_name="ann@example.com", code=world.outbox.last_code("ann@example.com"))


async def test_confirmed_user_name_cannot_be_taken_again(world: World) -> None:
    await world.confirmed_user()
    with pytest.raises(Conflict):
        await world.registration.sign_up(ANON, user_name="ann@example.com", password=PW)


@pytest.mark.parametrize("password", ["short1A", "alllowercase1", "ALLUPPER1", "NoDigits",
                                      "Has space1", "A1a" * 90, 12345678, None])
async def test_password_policy_is_enforced(world: World, password: object) -> None:
    with pytest.raises(ValidationFailed):
        await world.registration.sign_up(ANON, user_name="ann@example.com", password=password)
    assert not world.store.users


@pytest.mark.parametrize("user_name", ["", "not-an-email", "a@b", "+12", None, 5, "x" * 300])
async def test_user_names_must_be_emails_or_phone_numbers(world: World, user_name: object) -> None:
    with pytest.raises(ValidationFailed):
        await world.registration.sign_up(ANON, user_name=user_name, password=PW)


async def test_sign_up_with_organization_name_founds_an_org_with_a_superadmin(world: World) -> None:
    user = await world.registration.sign_up(ANON, user_name="boss@acme.io", password=PW,
                                            organization_name="Acme")
    assert SUPERADMIN in user.roles
    assert world.store.orgs[user.org_id].name == "Acme"
    with pytest.raises(Conflict):
        await world.registration.sign_up(ANON, user_name="other@acme.io", password=PW,
                                         organization_name="Acme")


async def test_wrong_password_and_unknown_user_answer_alike(world: World) -> None:
    await world.confirmed_user()
    with pytest.raises(Unauthenticated) as wrong:
        await world.sessions.login(ANON, user_name="ann@example.com", password="Wrong-pass1")
    with pytest.raises(Unauthenticated) as unknown:
        await world.sessions.login(ANON, user_name="nobody@example.com", password=PW)
    assert (wrong.value.message, wrong.value.reason) == (unknown.value.message,
                                                         unknown.value.reason)


async def test_login_is_rate_limited_per_user_name(world: World) -> None:
    await world.confirmed_user()
    world.limiter.limit = 3
    world.limiter.counts.clear()
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await world.sessions.login(ANON, user_name="ann@example.com", password="Nope-nope1")
    with pytest.raises(RateLimited) as err:
        await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    assert err.value.retry_after


async def test_login_upgrades_a_weak_hash(world: World) -> None:
    caller = await world.confirmed_user()
    assert caller.principal and caller.principal.user_id
    world.hasher.version = "v2"
    await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    assert world.store.users[caller.principal.user_id].password_hash.startswith("v2$")


async def test_refresh_rotates_and_reuse_revokes_the_session(world: World) -> None:
    await world.confirmed_user()
    first = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    second = await world.sessions.refresh(ANON, refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(Unauthenticated) as err:
        await world.sessions.refresh(ANON, refresh_token=first.refresh_token)
    assert err.value.reason == "refresh_reused"
    with pytest.raises(Unauthenticated):  # the newest token of the family is dead too
        await world.sessions.refresh(ANON, refresh_token=second.refresh_token)
    with pytest.raises(Unauthenticated):
        await world.sessions.authenticate(second.access_token)


async def test_logout_ends_only_the_current_session_unless_all(world: World) -> None:
    caller = await world.confirmed_user()
    other = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    await world.sessions.logout(caller)
    with pytest.raises(Unauthenticated):
        assert caller.principal
        await world.sessions.authenticate(f"access|{caller.principal.user_id}|"
                                          f"{caller.principal.org_id}|"
                                          f"{caller.principal.session_id}")
    other_caller = Caller(principal=await world.sessions.authenticate(other.access_token))
    await world.sessions.logout(other_caller, logout_all=True)
    with pytest.raises(Unauthenticated):
        await world.sessions.authenticate(other.access_token)


async def test_change_password_needs_the_old_one_and_ends_all_sessions(world: World) -> None:
    caller = await world.confirmed_user()
    with pytest.raises(ValidationFailed):
        await world.profiles.change_password(caller, password="Wrong-pass1",
                                             new_password="Newer-pass2")
    await world.profiles.change_password(caller, password=PW, new_password="Newer-pass2")
    assert all(s.revoked_at for s in world.store.sessions.values())
    await world.sessions.login(ANON, user_name="ann@example.com", password="Newer-pass2")


async def test_password_reset_with_code(world: World) -> None:
    await world.confirmed_user()
    await world.profiles.request_password_reset(ANON, user_name="ann@example.com")
    code = world.outbox.last_code("ann@example.com")
    await world.profiles.reset_password(ANON, user_name="ann@example.com", code=code,
                                        new_password="Reset-pass3")
    await world.sessions.login(ANON, user_name="ann@example.com", password="Reset-pass3")
    with pytest.raises(ValidationFailed):  # a code works once
        await world.profiles.reset_password(ANON, user_name="ann@example.com", code=code,
                                            new_password="Again-pass4")


async def test_password_reset_for_unknown_user_answers_alike_and_mails_nothing(
        world: World) -> None:
    await world.profiles.request_password_reset(ANON, user_name="nobody@example.com")
    assert not [m for m in world.outbox.sent if m.to == "nobody@example.com"]
    with pytest.raises(ValidationFailed) as err:
        await world.profiles.reset_password(ANON, user_name="nobody@example.com",
                                            code="123456", new_password="Secret-pass9")
    assert err.value.reason == "code_incorrect"


async def test_account_deletion_needs_a_request_then_the_code(world: World) -> None:
    caller = await world.confirmed_user()
    with pytest.raises(ValidationFailed) as err:
        await world.profiles.confirm_account_deletion(caller, code="123456")
    assert err.value.reason == "no_delete_request"
    await world.profiles.request_account_deletion(caller)
    await world.profiles.confirm_account_deletion(
        caller, code=world.outbox.last_code("ann@example.com"))
    assert not world.store.users


async def test_superadmin_cannot_delete_itself(world: World) -> None:
    user = await world.registration.provision_user(user_name="root@example.com", password=PW,
                                                   superadmin=True)
    tokens = await world.sessions.login(ANON, user_name=user.user_name, password=PW)
    caller = Caller(principal=await world.sessions.authenticate(tokens.access_token))
    with pytest.raises(Forbidden):
        await world.profiles.request_account_deletion(caller)


async def test_every_use_case_asks_the_authorizer_first(world: World) -> None:
    caller = await world.confirmed_user()
    world.authorizer.denied = {"/v1/user2"}
    with pytest.raises(Forbidden):
        await world.profiles.update_profile(caller, name="Changed")
    assert world.authorizer.checked[-1][1] == Permission("/v1/user2", "PUT")
    assert caller.principal
    assert world.store.users[caller.principal.user_id or ""].name == ""


async def test_protected_use_cases_need_a_principal(world: World) -> None:
    with pytest.raises(Unauthenticated):
        await world.profiles.get_profile(ANON)


async def test_api_keys_are_shown_once_and_stored_hashed(world: World) -> None:
    admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="u1",
                                       roles=frozenset({SUPERADMIN})))
    issued = await world.api_keys.create_api_key(admin, name="ci")
    stored = world.store.keys[issued.record.id]
    assert issued.key.startswith(f"sk_{stored.id}_")
    assert issued.key not in repr(stored)
    principal = await world.sessions.authenticate(issued.key)
    assert principal.kind is PrincipalKind.API_KEY and principal.org_id == "org-a"
    await world.api_keys.revoke_api_key(admin, key_id=stored.id)
    with pytest.raises(Unauthenticated):
        await world.sessions.authenticate(issued.key)


async def test_api_key_of_another_org_is_not_found(world: World) -> None:
    a = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="u1",
                                   roles=frozenset({SUPERADMIN})))
    b = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-b", user_id="u2",
                                   roles=frozenset({SUPERADMIN})))
    issued = await world.api_keys.create_api_key(a, name="ci")
    with pytest.raises(NotFound):
        await world.api_keys.revoke_api_key(b, key_id=issued.record.id)
    keys, _ = await world.api_keys.list_api_keys(b)
    assert keys == []


async def test_api_key_pagination(world: World) -> None:
    a = Caller(principal=Principal(kind=PrincipalKind.USER, org_id="org-a", user_id="u1",
                                   roles=frozenset({SUPERADMIN})))
    for i in range(5):
        world.clock.advance(seconds=1)
        await world.api_keys.create_api_key(a, name=f"k{i}")
    page, more = await world.api_keys.list_api_keys(a, limit=2)
    assert [k.name for k in page] == ["k0", "k1"] and more
    page, more = await world.api_keys.list_api_keys(a, after=page[-1].id, limit=10)
    assert [k.name for k in page] == ["k2", "k3", "k4"] and not more
    with pytest.raises(ValidationFailed):
        await world.api_keys.list_api_keys(a, limit=1000)


@pytest.mark.parametrize("field", ["name", "password"])
async def test_lone_surrogates_are_refused_as_validation_errors(world: World, field: str) -> None:
    caller = await world.confirmed_user()
    with pytest.raises(ValidationFailed):
        if field == "name":
            await world.profiles.update_profile(caller, name="bad\ud800")
        else:
            await world.registration.sign_up(ANON, user_name="x@example.com",
                                             password="Abcdefg1\ud800")


async def test_any_presented_refresh_token_string_is_simply_unknown(world: World) -> None:
    with pytest.raises(Unauthenticated):
        await world.sessions.refresh(ANON, refresh_token="rt_\ud800")


async def test_kept_refresh_token_extends_its_session_again_hours_later(world: World) -> None:
    # esp-rainmaker-cli: login, extend, extend again later, always with the login's token
    await world.confirmed_user()
    login = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    for hours in (1, 2, 5, 24):
        world.clock.advance(hours=hours)
        extended = await world.sessions.refresh(ANON, refresh_token=login.refresh_token,
                                                mode=RefreshMode.KEEP)
        assert extended.refresh_token == login.refresh_token
        principal = await world.sessions.authenticate(extended.access_token)
        assert principal.user_id is not None


async def test_kept_refresh_token_ends_with_its_session(world: World) -> None:
    await world.confirmed_user()
    login = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    world.clock.advance(days=30, seconds=1)
    with pytest.raises(Unauthenticated) as err:
        await world.sessions.refresh(ANON, refresh_token=login.refresh_token,
                                     mode=RefreshMode.KEEP)
    assert err.value.reason == "refresh_failed"


async def test_a_rotated_token_presented_for_keeping_is_still_a_reuse(world: World) -> None:
    await world.confirmed_user()
    login = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    rotated = await world.sessions.refresh(ANON, refresh_token=login.refresh_token)
    with pytest.raises(Unauthenticated) as err:
        await world.sessions.refresh(ANON, refresh_token=login.refresh_token,
                                     mode=RefreshMode.KEEP)
    assert err.value.reason == "refresh_reused"
    with pytest.raises(Unauthenticated):  # the whole session went with it
        await world.sessions.refresh(ANON, refresh_token=rotated.refresh_token)


async def test_rotation_still_detects_reuse_after_the_token_was_kept(world: World) -> None:
    await world.confirmed_user()
    login = await world.sessions.login(ANON, user_name="ann@example.com", password=PW)
    await world.sessions.refresh(ANON, refresh_token=login.refresh_token, mode=RefreshMode.KEEP)
    rotated = await world.sessions.refresh(ANON, refresh_token=login.refresh_token)
    assert rotated.refresh_token != login.refresh_token
    with pytest.raises(Unauthenticated) as err:
        await world.sessions.refresh(ANON, refresh_token=login.refresh_token)
    assert err.value.reason == "refresh_reused"
