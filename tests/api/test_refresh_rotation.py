"""S8: refresh tokens, as each dialect's clients use them.

GraphQL refreshSession rotates: each refresh token works once, and presenting a rotated one
revokes the whole family (session). RainMaker's POST /v1/login2 {"refreshtoken": ...} keeps
the token: esp-rainmaker-cli stores the login's refresh token and drops any new one, so the
same token extends its session for the session's lifetime and the answer hands it back. A
token that a rotation replaced is a reuse on both dialects. A failed refresh answers 400 with
RainMaker's error_code 101017; a revoked session's access tokens answer 401 on the next request.
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


async def rotate(env: Env, token: str) -> dict[str, Any] | None:
    """GraphQL refreshSession: the new tokens, or None when it was refused."""
    body = await env.gql(GQL_REFRESH, {"t": token})
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return None
    return body["data"]["refreshSession"]  # type: ignore[no-any-return]


async def profile_status(env: Env, access_token: str) -> int:
    r = await env.client.get("/v1/user2", headers={"Authorization": access_token})
    return r.status_code


def assert_refresh_refused(r: httpx.Response) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status"] == "failure" and body["error_code"] == REFRESH_FAILED, body
    assert "accesstoken" not in body and "refreshtoken" not in body


async def test_cli_sequence_login_extend_and_extend_again_with_the_same_token(env: Env) -> None:
    await env.signup(USER)
    login = await env.login(USER)
    for _ in range(3):  # the CLI extends whenever its access token is about to expire
        r = await refresh(env, login["refreshtoken"])
        assert r.status_code == 200, r.text
        extended = r.json()
        assert extended["status"] == "success" and extended["idtoken"]
        assert extended["refreshtoken"] == login["refreshtoken"]
        assert await profile_status(env, extended["accesstoken"]) == 200
    assert await profile_status(env, login["accesstoken"]) == 200


async def test_concurrent_extensions_with_a_kept_token_all_succeed(env: Env) -> None:
    await env.signup(USER)
    login = await env.login(USER)
    results = await asyncio.gather(*(refresh(env, login["refreshtoken"]) for _ in range(4)))
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    assert (await refresh(env, login["refreshtoken"])).status_code == 200


async def test_graphql_rotation_of_a_login2_token_makes_its_reuse_on_rest_a_reuse(
        env: Env) -> None:
    await env.signup(USER)
    login = await env.login(USER)
    rotated = await rotate(env, login["refreshtoken"])
    assert rotated is not None and rotated["refreshToken"] != login["refreshtoken"]
    assert_refresh_refused(await refresh(env, login["refreshtoken"]))  # replaced: a reuse
    assert await rotate(env, rotated["refreshToken"]) is None
    assert await profile_status(env, rotated["accessToken"]) == 401


async def test_graphql_refresh_returns_new_tokens_including_a_new_refresh_token(
        env: Env) -> None:
    await env.signup(USER)
    first = await env.login(USER)
    second = await rotate(env, first["refreshtoken"])
    assert second is not None
    assert second["refreshToken"].startswith("rt_")
    assert second["refreshToken"] != first["refreshtoken"]
    assert second["accessToken"] and second["idToken"]
    assert await profile_status(env, second["accessToken"]) == 200
    # the new refresh token is itself good for exactly the next rotation
    assert await rotate(env, second["refreshToken"]) is not None


async def test_reused_refresh_token_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    first = await env.login(USER)
    newest = await rotate(env, first["refreshtoken"])
    assert newest is not None

    assert await rotate(env, first["refreshtoken"]) is None  # the replay

    # every token of the family is dead now: the newest refresh token and all access tokens
    assert await rotate(env, newest["refreshToken"]) is None
    assert_refresh_refused(await refresh(env, newest["refreshToken"]))
    assert await profile_status(env, newest["accessToken"]) == 401
    assert await profile_status(env, first["accesstoken"]) == 401
    me = await env.gql("{ me { id } }", token=newest["accessToken"])
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_replaying_a_token_from_deep_in_the_chain_revokes_the_family(env: Env) -> None:
    await env.signup(USER)
    login = await env.login(USER)
    chain = [login["refreshtoken"]]
    access = [login["accesstoken"]]
    for _ in range(4):
        step = await rotate(env, chain[-1])
        assert step is not None
        chain.append(step["refreshToken"])
        access.append(step["accessToken"])
    assert await rotate(env, chain[1]) is None
    assert await rotate(env, chain[-1]) is None
    for token in access:
        assert await profile_status(env, token) == 401


async def test_revoking_one_family_leaves_the_users_other_sessions_alone(env: Env) -> None:
    await env.signup(USER)
    phone = await env.login(USER)
    laptop = await env.login(USER)
    rotated = await rotate(env, phone["refreshtoken"])
    assert rotated is not None
    assert await rotate(env, phone["refreshtoken"]) is None
    assert await profile_status(env, rotated["accessToken"]) == 401
    assert await profile_status(env, laptop["accesstoken"]) == 200
    assert (await refresh(env, laptop["refreshtoken"])).status_code == 200


async def test_refresh_token_of_a_logged_out_session_is_refused(env: Env) -> None:
    await env.signup(USER)
    tokens = await env.login(USER)
    assert (await refresh(env, tokens["refreshtoken"])).status_code == 200
    r = await env.client.post("/v1/logout2", headers={"Authorization": tokens["accesstoken"]})
    assert r.status_code == 200
    assert_refresh_refused(await refresh(env, tokens["refreshtoken"]))
    assert await rotate(env, tokens["refreshtoken"]) is None


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
    assert_refresh_refused(await refresh(env, second["refreshToken"]))


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
