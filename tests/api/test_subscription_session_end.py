"""Live data ends with the session (issue 15 item 7): a graphql-transport-ws socket is closed
with 4401 when its sign-in ends (logout, logout everywhere, password change, token expiry,
API key revoked, account deleted) and 4403 when it is no longer allowed what it subscribed
to; other users' sockets stay open and keep receiving. With two app instances on one
database (two replicas; PostgreSQL when DATABASE_URL says so) a logout on one closes the
socket on the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import timedelta
from typing import Any

import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect

from adapters.events import PgSessionSignals
from adapters.security.jwt_tokens import JwtTokenIssuer
from adapters.security.system import SystemClock
from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.api_keys import ApiKeys
from domain.accounts.profile import Profiles
from domain.accounts.sessions import Sessions
from domain.errors import Unauthenticated
from fleetgate.settings import Settings
from graphql_api.live import LiveSession
from tests.api.test_graphql_nodes import claimed_node
from tests.api.test_graphql_subscriptions import (
    device_says,
    next_message,
    next_update,
    socket,
    subscribe,
)
from tests.conftest import ON_POSTGRES, PASSWORD, SECRET, Env, start_env
from tests.unit.test_accounts import World, world  # noqa: F401 - the fakes' fixture

CLOSE_WITHIN = 5.0  # seconds: the bound on "at once" (a signal takes milliseconds)


async def closed(ws: AsyncWebSocketSession, *, within: float = CLOSE_WITHIN
                 ) -> tuple[int, str | None, float]:
    """Waits for the server to close the socket: (code, reason, seconds it took). Any frame
    arriving first (an event after the session ended) fails the test."""
    started = time.perf_counter()
    with pytest.raises(WebSocketDisconnect) as disconnect:
        message = await ws.receive_json(timeout=within)
        pytest.fail(f"a frame arrived instead of the close: {message}")
    return disconnect.value.code, disconnect.value.reason, time.perf_counter() - started


async def streaming(env: Env, ws: AsyncWebSocketSession, node_id: str, level: int) -> None:
    """The socket is subscribed to node_id's updates and receives them."""
    await device_says(env, node_id, "params/local", {"Light": {"level": level}})
    assert (await next_update(ws))["params"] == {"Light": {"level": level}}


async def listening(env: Env, token: str, node_id: str, ws: AsyncWebSocketSession) -> None:
    assert (await next_message(ws))["type"] == "connection_ack"
    await subscribe(env, ws, "1", variables={"ids": [node_id]})
    await streaming(env, ws, node_id, 1)


async def _rest(env: Env, method: str, path: str, token: str, body: Any = None) -> None:
    r = await env.client.request(method, path, headers={"Authorization": token}, json=body)
    assert r.status_code == 200, r.text


async def logout(env: Env, token: str) -> None:
    await _rest(env, "POST", "/v1/logout2", token)


async def logout_everywhere(env: Env, token: str) -> None:
    await _rest(env, "POST", "/v1/logout2?logout_all=true", token)


async def change_password(env: Env, token: str) -> None:
    await _rest(env, "PUT", "/v1/password2", token,
                {"password": PASSWORD, "newpassword": "Other-pass2"})


async def delete_account(env: Env, token: str) -> None:
    await _rest(env, "DELETE", "/v1/user2?request=true", token)
    code = await env.outbox_code("alice@example.com")
    await _rest(env, "DELETE", f"/v1/user2?verification_code={code}", token)


Ending = Callable[[Env, str], Awaitable[None]]


@pytest.mark.parametrize("end", [logout, logout_everywhere, change_password, delete_account],
                         ids=lambda f: f.__name__)
async def test_ending_the_session_closes_the_socket_with_4401(env: Env, end: Ending) -> None:
    alice = await env.user("alice@example.com")
    bob = await env.user("bob@example.com")
    alice_node, bob_node = await claimed_node(env, alice), await claimed_node(env, bob)
    async with socket(env, alice) as a, socket(env, bob) as b:
        await listening(env, alice, alice_node, a)
        await listening(env, bob, bob_node, b)

        await end(env, alice)
        code, reason, took = await closed(a)
        assert (code, reason) == (4401, "Session ended")
        assert took < CLOSE_WITHIN
        # the subscription let go of the event feed; bob's socket streams on
        await streaming(env, b, bob_node, 2)
        assert len(env.container.events()._subscribers) == 1


async def test_logout_ends_only_that_session_not_the_users_other_sessions(env: Env) -> None:
    phone = await env.user("alice@example.com")
    laptop = (await env.login("alice@example.com"))["accesstoken"]
    node_id = await claimed_node(env, phone)
    async with socket(env, phone) as on_phone, socket(env, laptop) as on_laptop:
        await listening(env, phone, node_id, on_phone)
        assert (await next_message(on_laptop))["type"] == "connection_ack"
        await subscribe(env, on_laptop, "1", variables={"ids": [node_id]})

        await logout(env, phone)
        assert (await closed(on_phone))[0] == 4401
        await device_says(env, node_id, "params/local", {"Light": {"level": 7}})
        assert (await next_update(on_laptop))["params"] == {"Light": {"level": 7}}


async def test_the_socket_closes_when_its_token_expires(env: Env) -> None:
    alice = await env.user("alice@example.com")
    bob = await env.user("bob@example.com")
    alice_node, bob_node = await claimed_node(env, alice), await claimed_node(env, bob)
    principal = await env.container.sessions().authenticate(alice)
    assert principal.user_id and principal.session_id
    # the same session, with an access token that lives one second
    short = JwtTokenIssuer(SECRET, SystemClock(), access_ttl=timedelta(seconds=1)).access_token(
        user_id=principal.user_id, org_id=principal.org_id, session_id=principal.session_id)
    async with socket(env, short) as a, socket(env, bob) as b:
        await listening(env, short, alice_node, a)
        await listening(env, bob, bob_node, b)
        code, reason, took = await closed(a, within=1 + CLOSE_WITHIN)
        assert (code, reason) == (4401, "Session expired")
        assert took < 1 + CLOSE_WITHIN
        await streaming(env, b, bob_node, 2)


CREATE_KEY = 'mutation { createApiKey(input: {name: "ci"}) { key apiKey { id } } }'
REVOKE_KEY = 'mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id } } }'


async def test_revoking_an_api_key_closes_its_sockets_and_no_other(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="acme")
    keys = []
    for _ in range(2):
        created = (await env.gql(CREATE_KEY, token=admin))["data"]["createApiKey"]
        keys.append((created["key"], created["apiKey"]["id"]))
    (revoked, revoked_id), (kept, _) = keys
    async with socket(env, revoked) as gone, socket(env, kept) as stays:
        for ws in (gone, stays):
            assert (await next_message(ws))["type"] == "connection_ack"
        body = await env.gql(REVOKE_KEY, {"id": revoked_id}, admin)
        assert "errors" not in body, body
        assert (await closed(gone))[:2] == (4401, "Session ended")
        await stays.send_json({"type": "ping"})
        assert await next_message(stays) == {"type": "pong"}


DENY_NODES = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                             "Resource": ["/v1/admin/nodes"]},
                            {"Effect": "Deny", "Action": ["api:*"], "Resource": ["/v1/user/*"]}]}
ALLOW_ADMIN_NODES = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                                    "Resource": ["/v1/admin/nodes"]}]}


async def test_a_subscriber_no_longer_allowed_is_closed_with_4403(env: Env) -> None:
    pat = await env.user("pat@example.com")
    sam = await env.user("sam@example.com")
    admin = await env.provision("ops@example.com", superadmin=True)
    pat_node, sam_node = await claimed_node(env, pat), await claimed_node(env, sam)
    await _rest(env, "POST", "/v1/admin/policy", admin,
                {"policy_name": "muted", "policy_json": ALLOW_ADMIN_NODES})
    await _rest(env, "POST", "/v1/admin/role", admin,
                {"role_name": "muted", "policies": ["muted"], "role_level": 3})
    await _rest(env, "PUT", "/v1/admin/user_role?user_name=pat@example.com&operation=add", admin,
                {"roles": ["muted"]})
    async with socket(env, pat) as p, socket(env, sam) as s:
        await listening(env, pat, pat_node, p)
        await listening(env, sam, sam_node, s)
        # pat's role now denies what nodeUpdates needs: the next event finds out
        await _rest(env, "PUT", "/v1/admin/policy?policy_name=muted", admin,
                    {"policy_json": DENY_NODES})
        await device_says(env, pat_node, "params/local", {"Light": {"level": 2}})
        assert (await closed(p))[:2] == (4403, "Forbidden")
        await streaming(env, s, sam_node, 3)


async def test_a_logout_on_one_replica_closes_the_socket_on_the_other(settings: Settings
                                                                     ) -> None:
    async for a in start_env(settings):
        async for b in start_env(settings):
            alice = await a.user("alice@example.com")
            bob = await a.user("bob@example.com")
            alice_node, bob_node = await claimed_node(a, alice), await claimed_node(a, bob)
            async with socket(b, alice) as on_b, socket(b, bob) as bob_on_b:
                await listening(b, alice, alice_node, on_b)
                await listening(b, bob, bob_node, bob_on_b)

                await logout(a, alice)  # through replica A
                code, _, took = await closed(on_b)
                assert code == 4401 and took < CLOSE_WITHIN
                await streaming(b, bob_on_b, bob_node, 2)
            signals = b.container.session_signals()
            if ON_POSTGRES:  # it came over LISTEN/NOTIFY, not through this process
                assert isinstance(signals, PgSessionSignals) and signals.notifications >= 1


class _Feed:
    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}

    def watch(self, subject: str) -> asyncio.Event:
        return self.events.setdefault(subject, asyncio.Event())

    def unwatch(self, subject: str, event: asyncio.Event) -> None:
        self.events.pop(subject, None)


async def test_the_sign_in_is_checked_again_when_memberships_are_re_read() -> None:
    """Without any signal (one lost between replicas), the credential is checked again
    before memberships are re-read, and a failed check ends the socket with 4401."""
    principal = Principal(kind=PrincipalKind.USER, org_id="o", user_id="u", session_id="s",
                          roles=frozenset())
    valid = True
    renewed: list[Principal] = []

    async def authenticate(token: str) -> Principal:
        if not valid:
            raise Unauthenticated("You were logged out", reason="session_ended")
        return principal

    closes: list[tuple[int, str]] = []

    async def close(code: int, reason: str) -> None:
        closes.append((code, reason))
        subscription.cancel()

    live = LiveSession(token="t", principal=principal, remaining=None,
                       authenticate=authenticate, feed=_Feed(), renewed=renewed.append,
                       recheck_every=timedelta(0))
    guard = asyncio.create_task(live.guard(close))
    await asyncio.sleep(0)  # the guard starts listening
    await live.check_due()
    assert renewed == [principal] and not closes
    valid = False
    subscription = asyncio.create_task(live.check_due())
    await asyncio.wait_for(guard, 5)
    assert closes == [(4401, "Session ended")]
    with pytest.raises(asyncio.CancelledError):
        await subscription


class FakeSessionSignals:
    """Records each signal with whether the signalled credential still authenticates at
    that moment: a signal must come after the change committed, never before."""

    def __init__(self) -> None:
        self.sessions: Any = None
        self.token = ""
        self.sent: list[tuple[frozenset[str], bool]] = []

    async def changed(self, subjects: Collection[str]) -> None:
        try:
            await self.sessions.authenticate(self.token)
            still_valid = True
        except Unauthenticated:
            still_valid = False
        self.sent.append((frozenset(subjects), still_valid))


@pytest.mark.parametrize("ending", ["logout", "logout_all", "change_password", "api_key"])
async def test_use_cases_signal_the_subject_after_their_commit(
        world: World, ending: str) -> None:  # noqa: F811 - the imported fixture
    """Domain rule, against the in-memory fakes: the use cases that end a credential send
    its subject once, when the credential already fails to authenticate."""
    signals = FakeSessionSignals()
    common: dict[str, Any] = dict(uow=world.sessions._uow, ids=world.profiles._ids,
                                  clock=world.clock, authorizer=world.authorizer)
    tokens = world.sessions._tokens
    sessions = Sessions(**common, hasher=world.hasher, tokens=tokens, limiter=world.limiter,
                        principals=world.sessions._principals, signals=signals)
    signals.sessions = sessions
    caller = await world.confirmed_user()
    principal = caller.require_principal()
    assert principal.user_id and principal.session_id
    signals.token = tokens.access_token(user_id=principal.user_id, org_id=principal.org_id,
                                        session_id=principal.session_id)
    subject = f"user:{principal.user_id}"
    if ending in ("logout", "logout_all"):
        await sessions.logout(caller, logout_all=ending == "logout_all")
    elif ending == "change_password":
        profiles = Profiles(**common, hasher=world.hasher, outbox=world.outbox,
                            limiter=world.limiter, signals=signals)
        await profiles.change_password(caller, password=PASSWORD, new_password="Other-pass2")
    else:
        keys = ApiKeys(**common, signals=signals)
        admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=principal.org_id,
                                           user_id="admin", roles=frozenset({"admin"})))
        issued = await keys.create_api_key(admin, name="ci")
        signals.token = issued.key
        await keys.revoke_api_key(admin, key_id=issued.record.id)
        subject = f"apikey:{issued.record.id}"
    assert signals.sent == [(frozenset({subject}), False)]
