"""S8: refresh tokens rotate; presenting a rotated one revokes the whole family (session).

The REST dialect is RainMaker's: POST /v1/login2 {"refreshtoken": ...} extends a session.
A failed refresh answers 400 with RainMaker's error_code 101017 (RainMaker clients expect 400
there); a revoked session's access tokens answer 401 on the next request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import PASSWORD, Env

REFRESH_FAILED = 101017
USER = "rotator@example.com"

GQL_LOGIN = """mutation($u: String!, $p: String!) {
  login(input: {userName: $u, password: $p}) { accessToken idToken refreshToken expiresIn } }"""
GQL_REFRESH = """mutation($t: String!) {
  refreshSession(input: {refreshToken: $t}) { accessToken idToken refreshToken expiresIn } }"""


async def refresh(env: Env, token: str) -> httpx.Response:
    return await env.client.post("/v1/login2", json={"refreshtoken": token})


async def profile_status(env: Env, access_token: str) -> int:
    r = await env.client.get("/v1/user2", headers={"Authorization": access_token})
    return r.status_code


def assert_refresh_refused(r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, r.text
    body = r.json()
    assert body["status"] == "failure" and body["error_code"] == REFRESH_FAILED, body
    assert "accesstoken" not in body and "refreshtoken" not in body


async def test_refresh_returns_new_tokens_including_a_new_refresh_token(env: Env) -> None:
    await env.signup(USER)
    first = await env.login(USER)
    r = await refresh(env, first["refreshtoken"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["status"] == "success"
    assert second["refreshtoken"].startswith("rt_")
    assert second["refreshtoken"] != first["refreshtoken"]
    assert second["accesstoken"] and second["idtoken"]
    assert await profile_status(env, second["accesstoken"]) == 200
    # the new refresh token is itself good for exactly the next rotation
    r = await refresh(env, second["refreshtoken"])
    assert r.status_code == 200, r.text


async def test_reused_refresh_token_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    first = await env.login(USER)
    r = await refresh(env, first["refreshtoken"])
    assert r.status_code == 200
    newest = r.json()

    assert_refresh_refused(await refresh(env, first["refreshtoken"]))  # the replay

    # every token of the family is dead now: the newest refresh token and all access tokens
    assert_refresh_refused(await refresh(env, newest["refreshtoken"]))
    assert await profile_status(env, newest["accesstoken"]) == 401
    assert await profile_status(env, first["accesstoken"]) == 401
    me = await env.gql("{ me { id } }", token=newest["accesstoken"])
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_replaying_a_token_from_deep_in_the_chain_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    chain = [await env.login(USER)]
    for _ in range(4):
        r = await refresh(env, chain[-1]["refreshtoken"])
        assert r.status_code == 200
        chain.append(r.json())
    assert_refresh_refused(await refresh(env, chain[1]["refreshtoken"]))
    assert_refresh_refused(await refresh(env, chain[-1]["refreshtoken"]))
    for tokens in chain:
        assert await profile_status(env, tokens["accesstoken"]) == 401


async def test_revoking_one_family_leaves_the_users_other_sessions_alone(env: Env) -> None:
    await env.signup(USER)
    phone = await env.login(USER)
    laptop = await env.login(USER)
    r = await refresh(env, phone["refreshtoken"])
    assert r.status_code == 200
    assert_refresh_refused(await refresh(env, phone["refreshtoken"]))
    assert await profile_status(env, r.json()["accesstoken"]) == 401
    assert await profile_status(env, laptop["accesstoken"]) == 200
    r = await refresh(env, laptop["refreshtoken"])
    assert r.status_code == 200


async def test_refresh_token_of_a_logged_out_session_is_refused(env: Env) -> None:
    await env.signup(USER)
    tokens = await env.login(USER)
    r = await env.client.post("/v1/logout2", headers={"Authorization": tokens["accesstoken"]})
    assert r.status_code == 200
    assert_refresh_refused(await refresh(env, tokens["refreshtoken"]))


async def test_unknown_and_malformed_refresh_tokens_are_refused(env: Env) -> None:
    await env.signup(USER)
    tokens = await env.login(USER)
    for bogus in ("rt_" + "A" * 43, "not-a-refresh-token", tokens["accesstoken"],
                  tokens["idtoken"], "rt_"):
        assert_refresh_refused(await refresh(env, bogus))
    # none of those touched the real family
    assert (await refresh(env, tokens["refreshtoken"])).status_code == 200


async def test_refresh_with_another_users_name_is_refused(env: Env) -> None:
    await env.signup(USER)
    await env.signup("other@example.com")
    tokens = await env.login(USER)
    r = await env.client.post("/v1/login2", json={"refreshtoken": tokens["refreshtoken"],
                                                  "user_name": "other@example.com"})
    assert_refresh_refused(r)


async def test_concurrent_refreshes_with_one_token_let_exactly_one_win_and_revoke_the_family(
        env: Env) -> None:
    await env.signup(USER)
    for trial in range(6):
        tokens = await env.login(USER)
        results = await asyncio.gather(refresh(env, tokens["refreshtoken"]),
                                       refresh(env, tokens["refreshtoken"]))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 400], (trial, [(r.status_code, r.text) for r in results])
        winner = next(r.json() for r in results if r.status_code == 200)
        loser = next(r for r in results if r.status_code != 200)
        assert_refresh_refused(loser)
        # the race counts as a reuse: the winner's brand-new tokens are dead as well
        assert_refresh_refused(await refresh(env, winner["refreshtoken"]))
        assert await profile_status(env, winner["accesstoken"]) == 401
        assert await profile_status(env, tokens["accesstoken"]) == 401


async def test_many_concurrent_refreshes_with_one_token_let_at_most_one_win(env: Env) -> None:
    await env.signup(USER)
    tokens = await env.login(USER)
    results = await asyncio.gather(*(refresh(env, tokens["refreshtoken"]) for _ in range(8)))
    wins = [r.json() for r in results if r.status_code == 200]
    assert len(wins) <= 1, [r.text for r in results]
    for r in results:
        if r.status_code != 200:
            assert_refresh_refused(r)
    for win in wins:
        assert_refresh_refused(await refresh(env, win["refreshtoken"]))
        assert await profile_status(env, win["accesstoken"]) == 401


async def _gql_ok(env: Env, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = await env.gql(query, variables)
    assert body.get("errors") is None, body
    return body["data"]  # type: ignore[no-any-return]


async def test_graphql_refresh_session_rotates_and_reuse_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    first = (await _gql_ok(env, GQL_LOGIN, {"u": USER, "p": PASSWORD}))["login"]
    second = (await _gql_ok(env, GQL_REFRESH, {"t": first["refreshToken"]}))["refreshSession"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["expiresIn"] > 0
    me = await env.gql("{ me { id } }", token=second["accessToken"])
    assert me.get("errors") is None

    replay = await env.gql(GQL_REFRESH, {"t": first["refreshToken"]})
    assert replay.get("data") is None
    assert replay["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    newest = await env.gql(GQL_REFRESH, {"t": second["refreshToken"]})
    assert newest["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    me = await env.gql("{ me { id } }", token=second["accessToken"])
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # and the same family is dead on REST too
    assert await profile_status(env, second["accessToken"]) == 401


async def test_graphql_concurrent_refresh_session_race_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    for trial in range(4):
        tokens = (await _gql_ok(env, GQL_LOGIN, {"u": USER, "p": PASSWORD}))["login"]
        results = await asyncio.gather(
            env.gql(GQL_REFRESH, {"t": tokens["refreshToken"]}),
            env.gql(GQL_REFRESH, {"t": tokens["refreshToken"]}))
        wins = [r["data"]["refreshSession"] for r in results if not r.get("errors")]
        losses = [r for r in results if r.get("errors")]
        assert len(wins) == 1 and len(losses) == 1, (trial, results)
        assert losses[0]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        again = await env.gql(GQL_REFRESH, {"t": wins[0]["refreshToken"]})
        assert again["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert await profile_status(env, wins[0]["accessToken"]) == 401
