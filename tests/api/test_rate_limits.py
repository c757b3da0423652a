"""S11: brute force is limited per user name and per client IP, on REST (429 + Retry-After +
RainMaker failure body) and on GraphQL (RATE_LIMITED), and GraphQL aliases cannot multiply
attempts past the limit. Sign-up, confirmation and password reset are limited too."""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fleetgate.settings import Settings
from tests.conftest import PASSWORD, Env, start_env, with_settings

PER_USER, PER_IP = 3, 5
RATE_LIMITED = 101057
BAD_CREDENTIALS = 101009
WRONG = "Wrong-pass9"


async def _env(settings: Settings, **changes: Any) -> AsyncIterator[Env]:
    async for e in start_env(with_settings(settings, **changes)):
        yield e


@pytest.fixture
async def user_limited(settings: Settings) -> AsyncIterator[Env]:
    """Low per-user-name limit, generous per-IP limit."""
    async for e in _env(settings, login_limit_per_user=PER_USER, login_limit_per_ip=1000):
        yield e


@pytest.fixture
async def ip_limited(settings: Settings) -> AsyncIterator[Env]:
    """Low per-IP limit, generous per-user-name limit."""
    async for e in _env(settings, login_limit_per_user=1000, login_limit_per_ip=PER_IP):
        yield e


async def make_user(env: Env, user_name: str) -> None:
    """A confirmed user, created without signing in (env.provision would spend an attempt)."""
    await env.container.registration().provision_user(user_name=user_name, password=PASSWORD)


def other_ip_client(env: Env, ip: str = "198.51.100.23") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app, client=(ip, 5000)),
                             base_url="http://testserver")


async def login(client: httpx.AsyncClient, user_name: str, password: str) -> httpx.Response:
    return await client.post("/v1/login2", json={"user_name": user_name, "password": password})


def assert_rate_limited(r: httpx.Response) -> int:
    """429, a Retry-After of at most the 60 s window, and RainMaker's failure body."""
    assert r.status_code == 429, r.text
    retry_after = r.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), r.headers
    assert 1 <= int(retry_after) <= 60
    body = r.json()
    assert body["status"] == "failure" and body["error_code"] == RATE_LIMITED, body
    assert isinstance(body["description"], str) and body["description"]
    return int(retry_after)


async def test_failed_logins_per_user_name_beyond_the_limit_get_429(user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    for _ in range(PER_USER):
        r = await login(env.client, "alice@example.com", WRONG)
        assert r.status_code == 400 and r.json()["error_code"] == BAD_CREDENTIALS
    assert_rate_limited(await login(env.client, "alice@example.com", WRONG))
    # while limited, even the right password is refused: guessing cannot go on
    assert_rate_limited(await login(env.client, "alice@example.com", PASSWORD))
    # the same account spelled differently is the same account
    assert_rate_limited(await login(env.client, "ALICE@Example.COM", PASSWORD))
    # from another address too: the per-user limit follows the account, not the client
    async with other_ip_client(env) as elsewhere:
        assert_rate_limited(await login(elsewhere, "alice@example.com", PASSWORD))


async def test_the_per_user_limit_does_not_lock_out_other_users(user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    await make_user(env, "bob@example.com")
    for _ in range(PER_USER + 2):
        await login(env.client, "alice@example.com", WRONG)
    assert_rate_limited(await login(env.client, "alice@example.com", PASSWORD))
    r = await login(env.client, "bob@example.com", PASSWORD)
    assert r.status_code == 200, r.text


async def test_unknown_user_names_are_limited_like_real_ones(user_limited: Env) -> None:
    env = user_limited
    for _ in range(PER_USER):
        r = await login(env.client, "ghost@example.com", WRONG)
        assert r.status_code == 400 and r.json()["error_code"] == BAD_CREDENTIALS
    assert_rate_limited(await login(env.client, "ghost@example.com", WRONG))


async def test_logins_per_ip_beyond_the_limit_get_429(ip_limited: Env) -> None:
    env = ip_limited
    await make_user(env, "alice@example.com")
    for i in range(PER_IP):  # spraying over many user names from one address
        r = await login(env.client, f"spray{i}@example.com", WRONG)
        assert r.status_code == 400, r.text
    assert_rate_limited(await login(env.client, "spray-next@example.com", WRONG))
    assert_rate_limited(await login(env.client, "alice@example.com", PASSWORD))
    # another address is not affected
    async with other_ip_client(env) as elsewhere:
        r = await login(elsewhere, "alice@example.com", PASSWORD)
        assert r.status_code == 200, r.text


GQL_LOGIN_FIELD = ('{alias}: login(input: {{userName: "{user}", password: "{password}"}}) '
                   '{{ accessToken }}')


def aliased_logins(pairs: list[tuple[str, str]]) -> str:
    fields = " ".join(GQL_LOGIN_FIELD.format(alias=f"a{i}", user=u, password=p)
                      for i, (u, p) in enumerate(pairs))
    return f"mutation {{ {fields} }}"


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def test_n_aliased_successful_logins_count_as_n_attempts(user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    body = await env.gql(aliased_logins([("alice@example.com", PASSWORD)] * (PER_USER + 2)))
    # the first PER_USER aliases ran (and counted); the next one was refused
    assert codes(body) == ["RATE_LIMITED"], body
    error = body["errors"][0]
    assert error["path"] == [f"a{PER_USER}"]
    assert isinstance(error["extensions"]["retryAfter"], int)
    assert 1 <= error["extensions"]["retryAfter"] <= 60
    # the counter is shared with REST: the account is now limited there too
    assert_rate_limited(await login(env.client, "alice@example.com", PASSWORD))


async def _attempts_before_limit(env: Env, pairs: list[tuple[str, str]]) -> int:
    """Sends the aliased document until RATE_LIMITED; counts the attempts actually answered."""
    answered = 0
    for _ in range(20):
        body = await env.gql(aliased_logins(pairs))
        found = codes(body)
        assert found and set(found) <= {"UNAUTHENTICATED", "RATE_LIMITED"}, body
        answered += found.count("UNAUTHENTICATED")
        if "RATE_LIMITED" in found:
            return answered
    raise AssertionError("never rate limited")


async def test_aliased_wrong_passwords_never_get_more_guesses_than_the_per_user_limit(
        user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    guesses = [("alice@example.com", f"Guess-pass{i}") for i in range(10)]
    assert await _attempts_before_limit(env, guesses) == PER_USER
    assert_rate_limited(await login(env.client, "alice@example.com", PASSWORD))


async def test_aliased_logins_over_many_users_count_against_the_per_ip_limit(
        ip_limited: Env) -> None:
    env = ip_limited
    pairs = [(f"spray{i}@example.com", WRONG) for i in range(10)]
    assert await _attempts_before_limit(env, pairs) == PER_IP
    assert_rate_limited(await login(env.client, "someone@example.com", WRONG))


async def test_graphql_batching_is_off_so_it_cannot_multiply_attempts(user_limited: Env) -> None:
    env = user_limited
    op = {"query": aliased_logins([("alice@example.com", WRONG)])}
    r = await env.client.post("/graphql", json=[op] * 10)
    assert 400 <= r.status_code < 500
    for _ in range(PER_USER):  # nothing of the batch ran or counted
        r = await login(env.client, "alice@example.com", WRONG)
        assert r.status_code == 400


async def test_sign_up_is_limited_per_user_name_and_per_ip(user_limited: Env,
                                                           settings: Settings) -> None:
    env = user_limited
    body = {"user_name": "newbie@example.com", "password": PASSWORD}
    for _ in range(PER_USER):  # re-sign-up of an unconfirmed name re-issues a code
        r = await env.client.post("/v1/user2", json=body)
        assert r.status_code == 201, r.text
    assert_rate_limited(await env.client.post("/v1/user2", json=body))

    async for ip_env in _env(settings, login_limit_per_user=1000, login_limit_per_ip=PER_IP):
        for i in range(PER_IP):
            r = await ip_env.client.post("/v1/user2", json={"user_name": f"n{i}@example.com",
                                                            "password": PASSWORD})
            assert r.status_code == 201, r.text
        assert_rate_limited(await ip_env.client.post(
            "/v1/user2", json={"user_name": "one-more@example.com", "password": PASSWORD}))
        register = await ip_env.gql(
            'mutation($p: String!) { register(input: {userName: "gql@example.com", '
            'password: $p}) { verificationRequired } }', {"p": PASSWORD})
        assert codes(register) == ["RATE_LIMITED"], register


async def test_confirmation_code_guessing_is_limited(user_limited: Env) -> None:
    env = user_limited
    r = await env.client.post("/v1/user2", json={"user_name": "newbie@example.com",
                                                 "password": PASSWORD})
    assert r.status_code == 201
    for i in range(PER_USER):
        r = await env.client.post("/v1/user2", json={"user_name": "newbie@example.com",
                                                     "verification_code": f"00000{i}"})
        assert r.status_code == 400, r.text
    assert_rate_limited(await env.client.post(
        "/v1/user2", json={"user_name": "newbie@example.com", "verification_code": "000009"}))


async def test_forgot_password_is_limited(user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    for _ in range(PER_USER):
        r = await env.client.put("/v1/forgotpassword2", json={"user_name": "alice@example.com"})
        assert r.status_code == 200, r.text
    assert_rate_limited(await env.client.put("/v1/forgotpassword2",
                                             json={"user_name": "alice@example.com"}))
    # guessing the reset code shares the same budget
    assert_rate_limited(await env.client.put(
        "/v1/forgotpassword2", json={"user_name": "alice@example.com",
                                     "verification_code": "123456", "password": "New-pass12"}))
    gql = await env.gql('mutation { requestPasswordReset(input: {userName: "alice@example.com"})'
                        ' { ok } }')
    assert codes(gql) == ["RATE_LIMITED"], gql


async def test_reset_code_guessing_is_limited(user_limited: Env) -> None:
    env = user_limited
    await make_user(env, "alice@example.com")
    r = await env.client.put("/v1/forgotpassword2", json={"user_name": "alice@example.com"})
    assert r.status_code == 200
    answers = []
    for i in range(PER_USER + 1):
        r = await env.client.put("/v1/forgotpassword2", json={
            "user_name": "alice@example.com", "verification_code": f"99999{i}",
            "password": "New-pass12"})
        answers.append(r)
    assert all(r.status_code == 400 for r in answers[:PER_USER - 1]), [a.text for a in answers]
    assert_rate_limited(answers[-1])


REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS") or os.environ.get("REDIS_URL") or ""


@pytest.mark.skipif(not REDIS_URL, reason="no Redis configured (REDIS_URL_FOR_TESTS)")
async def test_redis_limiter_shared_by_replicas_limits_per_user(settings: Settings) -> None:
    """Two app instances on one Redis act as one deployment: attempts add up across them."""
    # keys in Redis outlive the test and may be shared: a fresh user name and client address
    user = f"redis-{uuid.uuid4().hex[:12]}@example.com"
    ip = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    limited = with_settings(settings, redis_url=REDIS_URL, login_limit_per_user=PER_USER,
                            login_limit_per_ip=1000)
    async for first in start_env(limited):
        async for second in start_env(limited):
            replicas = [other_ip_client(first, ip), other_ip_client(second, ip)]
            await make_user(first, user)
            for _trial in range(2):  # a fixed window may roll over mid-trial: retry once
                window = int(time.time() // 60)
                statuses = [await login(replicas[i % 2], user, WRONG)
                            for i in range(PER_USER + 1)]
                if int(time.time() // 60) == window:
                    break
                user = f"redis-{uuid.uuid4().hex[:12]}@example.com"
                await make_user(first, user)
            assert [r.status_code for r in statuses[:PER_USER]] == [400] * PER_USER
            assert_rate_limited(statuses[-1])
            for client in replicas:
                await client.aclose()
            await first.container.limiter().close()
            await second.container.limiter().close()
