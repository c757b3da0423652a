"""S13: request size and shape limits. Oversized bodies get 413 without being buffered whole,
hostile JSON gets a 4xx (never a 500) with a stable RainMaker error_code on REST, and GraphQL
documents beyond the configured depth, alias and token limits are rejected before execution."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fleetgate.settings import Settings
from tests.conftest import PASSWORD, Env, start_env, with_settings

LIMIT = 64 * 1024
MAX_DEPTH = 2
INVALID_BODY = 100006


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Env]:
    async for e in start_env(with_settings(settings, max_body_bytes=LIMIT,
                                           graphql_max_depth=MAX_DEPTH)):
        yield e


def lenient_client(env: Env) -> httpx.AsyncClient:
    """A client that reports a crash as the 500 a real server would send (instead of raising),
    so a test can assert on it."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app,
                                                           raise_app_exceptions=False),
                             base_url="http://testserver")


def padded_login(size: int) -> bytes:
    """A login body of exactly `size` bytes."""
    base = {"user_name": "someone@example.com", "password": "Wrong-pass9", "pad": ""}
    empty = len(json.dumps(base).encode())
    base["pad"] = "x" * (size - empty)
    raw = json.dumps(base).encode()
    assert len(raw) == size
    return raw


async def chunks(total: int, chunk: int = 16 * 1024) -> AsyncIterator[bytes]:
    """A streamed body with no Content-Length (chunked), produced lazily."""
    sent = 0
    yield b'{"query": "{ __typename }", "pad": "'
    while sent < total:
        yield b"x" * chunk
        sent += chunk
    yield b'"}'


def assert_rainmaker_413(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["status"] == "failure" and body["error_code"] == INVALID_BODY, body


def assert_graphql_413(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text
    body = r.json()
    assert "data" not in body or body["data"] is None
    assert body["errors"] and body["errors"][0]["message"]


# ---------------------------------------------------------------- body size


async def test_rest_body_over_the_limit_gets_413_with_a_rainmaker_failure_body(
        limited: Env) -> None:
    r = await limited.client.post("/v1/login2", content=padded_login(LIMIT + 1),
                                  headers={"Content-Type": "application/json"})
    assert_rainmaker_413(r)


async def test_rest_body_at_the_limit_is_processed(limited: Env) -> None:
    r = await limited.client.post("/v1/login2", content=padded_login(LIMIT),
                                  headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error_code"] == 101009  # read, then wrong password


async def test_rest_chunked_body_over_the_limit_gets_413(limited: Env) -> None:
    r = await limited.client.post("/v1/login2", content=chunks(4 * LIMIT),
                                  headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert_rainmaker_413(r)


async def test_rest_default_limit_is_the_configured_one(env: Env) -> None:
    size = env.settings.max_body_bytes
    r = await env.client.post("/v1/login2", content=padded_login(size + 1),
                              headers={"Content-Type": "application/json"})
    assert_rainmaker_413(r)


async def test_every_rest_write_route_enforces_the_body_limit(limited: Env) -> None:
    token = await limited.user("someone@example.com")
    oversized = padded_login(LIMIT + 1)
    for method, path in [("POST", "/v1/user2"), ("PUT", "/v1/user2"), ("POST", "/v1/login2"),
                         ("POST", "/v1/logout2"), ("PUT", "/v1/password2"),
                         ("PUT", "/v1/forgotpassword2"), ("POST", "/v1/user"),
                         ("POST", "/v1/login")]:
        r = await limited.client.request(method, path, content=oversized, headers={
            "Content-Type": "application/json", "Authorization": token})
        assert_rainmaker_413(r)
    # and nothing of it took effect: the session is still alive
    r = await limited.client.get("/v1/user2", headers={"Authorization": token})
    assert r.status_code == 200


async def test_graphql_body_over_the_limit_gets_413(limited: Env) -> None:
    query = {"query": "{ __typename }", "pad": "x" * LIMIT}
    assert_graphql_413(await limited.client.post("/graphql", json=query))


async def test_graphql_chunked_body_over_the_limit_gets_413(limited: Env) -> None:
    r = await limited.client.post("/graphql", content=chunks(4 * LIMIT),
                                  headers={"Content-Type": "application/json"})
    assert_graphql_413(r)


@pytest.mark.parametrize("path", ["/v1/login2", "/graphql"])
async def test_an_oversized_streamed_body_is_not_buffered_whole(env: Env, path: str) -> None:
    """S13: memory growth while refusing a 16x-limit body (at the default 1 MiB limit) stays
    under 2x the limit: the body is abandoned once it passes the limit."""
    limit = env.settings.max_body_bytes
    async with lenient_client(env) as client:
        await client.post(path, content=b"{}", headers={"Content-Type": "application/json"})
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            r = await client.post(path, content=chunks(16 * limit, chunk=64 * 1024),
                                  headers={"Content-Type": "application/json"})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert r.status_code == 413
    assert peak - before < 2 * limit, f"peak grew {(peak - before) // 1024} KiB"


# ---------------------------------------------------------------- hostile JSON


def nested(depth: int) -> bytes:
    return b'{"user_name": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [33, 1_000, 10_000, 100_000])
async def test_deeply_nested_json_on_rest_is_a_400_not_a_500(env: Env, depth: int) -> None:
    async with lenient_client(env) as client:
        r = await client.post("/v1/login2", content=nested(depth),
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text[:200]
    assert r.json()["error_code"] == INVALID_BODY


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
async def test_deeply_nested_json_on_graphql_is_a_4xx_not_a_500(env: Env, depth: int) -> None:
    body = b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * depth + \
        b"]" * depth + b"}}"
    async with lenient_client(env) as client:
        r = await client.post("/graphql", content=body,
                              headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, r.text[:200]
        if depth <= 10_000:  # GET variables ride in the URL
            r = await client.get("/graphql", params={"query": "{ __typename }",
                                                     "variables": "[" * depth + "]" * depth})
            assert 400 <= r.status_code < 500, r.text[:200]


@pytest.mark.parametrize("raw", [b"{bad", b"123", b'"text"', b"null", b"true", b"[]",
                                 b'{"query": "{ __typename }", "x": "\xff\xfe"}', b"",
                                 b'{"query": 5}', b'{"query": "{ __typename }", "variables": 7}'],
                         ids=["malformed", "number", "string", "null", "bool", "empty-list",
                              "invalid-utf8", "empty", "query-not-string", "variables-scalar"])
async def test_malformed_graphql_requests_are_4xx_not_500(env: Env, raw: bytes) -> None:
    async with lenient_client(env) as client:
        r = await client.post("/graphql", content=raw,
                              headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])


AUTH = "auth"  # marker: send the signed-in user's token

REST_BAD_INPUT: list[Any] = [
    # (method, path, raw body, expected RainMaker error_code)
    ("POST", "/v1/login2", b"{bad", 100006),
    ("POST", "/v1/login2", b"", 100006),
    ("POST", "/v1/login2", b"[]", 100006),
    ("POST", "/v1/login2", b'"just a string"', 100006),
    ("POST", "/v1/login2", b'{"user_name": "\xff\xfe"}', 100006),
    ("POST", "/v1/login2", b"{}", 101001),
    ("POST", "/v1/login2", b'{"user_name": 123, "password": "Secret-pass1"}', 101001),
    ("POST", "/v1/login2", b'{"user_name": null, "password": "Secret-pass1"}', 101001),
    ("POST", "/v1/login2", b'{"user_name": "a@example.com"}', 101003),
    ("POST", "/v1/login2", b'{"user_name": "a@example.com", "password": 123}', 101032),
    ("POST", "/v1/login2", b'{"user_name": "a@example.com", "password": ["x"]}', 101032),
    ("POST", "/v1/login2", b'{"refreshtoken": 123}', 101017),
    ("POST", "/v1/login2", b'{"refreshtoken": {"a": 1}}', 101017),
    ("POST", "/v1/user2", b"{}", 101001),
    ("POST", "/v1/user2", b'{"user_name": ["a"], "password": "Secret-pass1"}', 101001),
    ("POST", "/v1/user2", b'{"user_name": "a@example.com"}', 101003),
    ("POST", "/v1/user2", b'{"user_name": "a@example.com", "password": 12345678}', 101032),
    ("POST", "/v1/user2", b'{"user_name": "not-an-email", "password": "Secret-pass1"}', 101002),
    ("POST", "/v1/user2", b'{"user_name": "+12", "password": "Secret-pass1"}', 101037),
    ("POST", "/v1/user2", b'{"user_name": "a@example.com", "password": "short"}', 101004),
    ("PUT", "/v1/user2", b'{"name": 5}', 100006),
    ("PUT", "/v1/user2", b'{"name": "a\\u0000b"}', 100006),
    ("PUT", "/v1/user2", b"{}", 101045),
    ("PUT", "/v1/password2", b'{"password": "Secret-pass1", "newpassword": 12345678}', 101032),
    ("PUT", "/v1/password2", b'{"password": "Secret-pass1"}', 101018),
    ("PUT", "/v1/password2", b"[1, 2]", 100006),
    ("PUT", "/v1/forgotpassword2", b'{"user_name": 7}', 101001),
    ("PUT", "/v1/forgotpassword2", b'{"user_name": "a@example.com", "password": "New-pass12"}',
     101030),
    ("GET", "/v1/user2?custom_data=maybe", None, 100006),
    ("POST", "/v1/logout2?logout_all=yes", None, 101036),
]


@pytest.mark.parametrize("method,path,raw,code", REST_BAD_INPUT,
                         ids=[f"{m} {p} {(r or b'')[:40]!r}" for m, p, r, _ in REST_BAD_INPUT])
async def test_malformed_wrong_typed_or_missing_rest_input_is_400_with_a_stable_error_code(
        env: Env, method: str, path: str, raw: bytes | None, code: int) -> None:
    token = await env.user("a@example.com")
    async with lenient_client(env) as client:
        r = await client.request(method, path, content=raw, headers={
            "Content-Type": "application/json", "Authorization": token})
    assert r.status_code == 400, (r.status_code, r.text[:200])
    body = r.json()
    assert body["status"] == "failure" and body["error_code"] == code, body


LONE_SURROGATE = "\\ud800"  # valid JSON, but a string that UTF-8 cannot encode

SURROGATE_INPUT: list[Any] = [
    pytest.param("POST", "/v1/login2",
                 f'{{"user_name": "a@example.com", "password": "Aa1{LONE_SURROGATE}xxxx"}}',
                 id="login password"),
    pytest.param("POST", "/v1/user2",
                 f'{{"user_name": "new@example.com", "password": "Aa1{LONE_SURROGATE}xxxx"}}',
                 id="sign-up password"),
    pytest.param("POST", "/v1/user2", f'{{"user_name": "a{LONE_SURROGATE}@example.com", '
                                      f'"password": "{PASSWORD}"}}', id="sign-up user name"),
    pytest.param("PUT", "/v1/user2", f'{{"name": "Al{LONE_SURROGATE}ice"}}', id="display name"),
    pytest.param("POST", "/v1/login2", f'{{"refreshtoken": "rt_{LONE_SURROGATE}"}}',
                 id="refresh token"),
    pytest.param("POST", "/v1/user2", f'{{"user_name": "pending@example.com", '
                                      f'"verification_code": "{LONE_SURROGATE}"}}',
                 id="verification code"),
    pytest.param("PUT", "/v1/forgotpassword2", f'{{"user_name": "a{LONE_SURROGATE}@x.com"}}',
                 id="forgot-password user name"),
]


@pytest.mark.parametrize("method,path,raw", SURROGATE_INPUT)
async def test_strings_that_are_not_valid_unicode_are_400_not_500(env: Env, method: str,
                                                                  path: str, raw: str) -> None:
    token = await env.user("a@example.com")
    r = await env.client.post("/v1/user2", json={"user_name": "pending@example.com",
                                                 "password": PASSWORD})
    assert r.status_code == 201
    async with lenient_client(env) as client:
        r = await client.request(method, path, content=raw.encode(), headers={
            "Content-Type": "application/json", "Authorization": token})
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert r.json()["status"] == "failure"


GRAPHQL_STRING_INPUTS = {
    "login password": 'login(input: {userName: "a@example.com", password: $v}) { accessToken }',
    "register name": 'register(input: {userName: "n@example.com", password: "Secret-pass1", '
                     'name: $v}) { verificationRequired }',
    "confirmation code": 'confirmRegistration(input: {userName: "pending@example.com", '
                         'verificationCode: $v}) { user { id } }',
    "refresh token": "refreshSession(input: {refreshToken: $v}) { accessToken }",
    "display name": "updateProfile(input: {name: $v}) { user { id } }",
    "new password": 'changePassword(input: {currentPassword: "Secret-pass1", newPassword: $v})'
                    " { ok }",
    "API key name": "createApiKey(input: {name: $v}) { key }",
}


@pytest.mark.parametrize("field", list(GRAPHQL_STRING_INPUTS))
async def test_graphql_variables_that_are_not_valid_unicode_are_refused_before_resolvers(
        env: Env, field: str) -> None:
    token = await env.provision("owner@acme.com", org="acme")
    query = f"mutation($v: String!) {{ {GRAPHQL_STRING_INPUTS[field]} }}"
    raw = json.dumps({"query": query})[:-1] + f', "variables": {{"v": "rt_{LONE_SURROGATE}"}}}}'
    async with lenient_client(env) as client:
        r = await client.post("/graphql", content=raw.encode(), headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    assert r.status_code == 400, (r.status_code, r.text[:200])
    # a valid surrogate pair (an emoji) is ordinary text and goes through
    ok = await env.gql("mutation($v: String!) { updateProfile(input: {name: $v}) "
                       "{ user { name } } }", {"v": "Alice \U0001F600"}, token=token)
    assert ok["data"]["updateProfile"]["user"]["name"] == "Alice \U0001F600"


async def test_graphql_string_literals_with_lone_surrogate_escapes_are_syntax_errors(
        env: Env) -> None:
    token = await env.provision("owner@acme.com", org="acme")
    body = await env.gql('mutation { updateProfile(input: {name: "Al\\uD800ice"}) '
                         "{ user { name } } }", token=token)
    assert body.get("data") is None and "Syntax Error" in body["errors"][0]["message"], body


# ---------------------------------------------------------------- GraphQL document limits


def assert_rejected(body: dict[str, Any], needle: str) -> None:
    assert body.get("data") is None, body
    messages = " | ".join(e["message"] for e in body["errors"])
    assert needle in messages, messages


def assert_not_rejected_for(body: dict[str, Any], needle: str) -> None:
    messages = " | ".join(e["message"] for e in body.get("errors") or [])
    assert needle not in messages, messages


async def test_a_query_deeper_than_the_limit_is_rejected(limited: Env) -> None:
    admin = await limited.provision("owner@acme.com", org="acme")
    deep = await limited.gql("{ apiKeys { edges { node { id } } } }", token=admin)
    assert_rejected(deep, "exceeds maximum operation depth")
    at_limit = await limited.gql("{ apiKeys { pageInfo { hasNextPage } } }", token=admin)
    assert at_limit.get("errors") is None, at_limit


async def test_depth_through_fragments_counts_too(limited: Env) -> None:
    admin = await limited.provision("owner@acme.com", org="acme")
    query = """query { apiKeys { ...E } }
               fragment E on ApiKeyConnection { edges { ...N } }
               fragment N on ApiKeyEdge { node { id } }"""
    assert_rejected(await limited.gql(query, token=admin), "exceeds maximum operation depth")


async def test_the_default_depth_limit_rejects_deep_documents(env: Env) -> None:
    limit = env.settings.graphql_max_depth
    query = "{ me " + "{ a " * limit + "{ id }" + " }" * limit + " }"
    assert_rejected(await env.gql(query), f"exceeds maximum operation depth of {limit}")


async def test_more_aliases_than_the_limit_are_rejected(env: Env) -> None:
    limit = env.settings.graphql_max_aliases

    def aliases(n: int) -> str:
        return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"

    assert_rejected(await env.gql(aliases(limit + 1)), "aliases found")
    flood = await env.gql(aliases(1000))  # refused by the alias or the token limit
    assert flood.get("data") is None and flood["errors"], flood
    ok = await env.gql(aliases(limit))
    assert ok.get("errors") is None and len(ok["data"]) == limit


def document_of_tokens(count: int) -> str:
    """A valid query of exactly `count` lexical tokens (few fields, so validation is cheap)."""
    directive_field = "__typename @include(if: true)"  # 8 tokens: name @ name ( name : value )
    body_tokens = count - 2  # the braces
    fields = [directive_field] * (body_tokens // 8) + ["__typename"] * (body_tokens % 8)
    return "{ " + " ".join(fields) + " }"


async def test_more_tokens_than_the_limit_are_rejected(env: Env) -> None:
    limit = env.settings.graphql_max_tokens
    assert_rejected(await env.gql(document_of_tokens(limit + 1)), f"more than {limit} tokens")
    at_limit = await env.gql(document_of_tokens(limit))
    assert_not_rejected_for(at_limit, "tokens")
    assert at_limit.get("errors") is None and at_limit["data"]["__typename"] == "Query"


async def test_a_token_flood_is_rejected_cheaply_without_execution(env: Env) -> None:
    flood = "{ " + "__typename " * 50_000 + "}"
    assert_rejected(await env.gql(flood), "tokens")


async def test_api_keys_page_size_beyond_the_maximum_is_a_validation_error(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    query = "query($n: Int!) { apiKeys(first: $n) { edges { cursor } } }"
    for n in (1000, 101, 0, -1):
        body = await env.gql(query, {"n": n}, token=admin)
        assert body.get("data") is None, body
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION", (n, body)
    ok = await env.gql(query, {"n": 100}, token=admin)
    assert ok.get("errors") is None, ok
    # an Int beyond 32 bits is refused by GraphQL itself, still without a 500
    huge = await env.gql(query, {"n": 2**40}, token=admin)
    assert huge.get("data") is None and huge["errors"]
