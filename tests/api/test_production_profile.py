"""S14: the production profile (FLEETGATE_ENV=production) serves no GraphiQL, refuses
introspection and queries via GET, masks unexpected errors (no stack traces, no SQL), and
answers CORS only for the configured origins.

Each production assertion has a development counterpart, so a check cannot pass merely
because the feature it probes does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from adapters.sql.engine import make_engine
from fleetgate.settings import Settings
from tests.conftest import Env, start_env, with_settings

APP_ORIGIN = "https://app.example.com"
LEAKS = ("Traceback", "traceback", "File \"", "sqlite", "psycopg", "asyncpg", "OperationalError",
         "ProgrammingError", "api_keys", "SELECT", "sqlalchemy", ".py")


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[Env]:
    async for e in start_env(with_settings(settings, production=True,
                                           cors_origins=(APP_ORIGIN,))):
        yield e


def lenient_client(env: Env) -> httpx.AsyncClient:
    """Reports a crash as the 500 a server would send, instead of raising it into the test."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app,
                                                           raise_app_exceptions=False),
                             base_url="http://testserver")


def assert_no_leak(raw: str) -> None:
    for needle in LEAKS:
        assert needle not in raw, f"{needle!r} leaked: {raw[:300]}"


# ---------------------------------------------------------------- GraphiQL


async def test_graphiql_is_not_served_in_production(prod: Env) -> None:
    for accept in ("text/html", "text/html,application/xhtml+xml,*/*;q=0.8", "*/*"):
        r = await prod.client.get("/graphql", headers={"Accept": accept})
        assert not r.headers.get("content-type", "").startswith("text/html"), r.headers
        assert "graphiql" not in r.text.lower()
        assert r.status_code >= 400


async def test_graphiql_is_served_in_development_control(env: Env) -> None:
    r = await env.client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


# ---------------------------------------------------------------- introspection

INTROSPECTION = {
    "__schema": "{ __schema { types { name } } }",
    "__type": '{ __type(name: "Query") { fields { name } } }',
    "in a fragment": "{ ...F } fragment F on Query { __schema { queryType { name } } }",
    "aliased": "{ s: __schema { queryType { name } } }",
    "nested under a field": "{ me { id } __type(name: \"ApiKey\") { name } }",
}


@pytest.mark.parametrize("case", list(INTROSPECTION))
async def test_introspection_is_disabled_in_production(prod: Env, case: str) -> None:
    body = await prod.gql(INTROSPECTION[case])
    assert body.get("data") is None, body
    assert any("introspection" in e["message"].lower() for e in body["errors"]), body


async def test_introspection_works_in_development_control(env: Env) -> None:
    body = await env.gql(INTROSPECTION["__schema"])
    assert body.get("errors") is None and body["data"]["__schema"]["types"]


async def test_typename_is_not_introspection_and_still_works(prod: Env) -> None:
    body = await prod.gql("{ __typename }")
    assert body == {"data": {"__typename": "Query"}}


# ---------------------------------------------------------------- GET


async def test_queries_via_get_are_refused_in_production(prod: Env) -> None:
    r = await prod.client.get("/graphql", params={"query": "{ __typename }"})
    assert 400 <= r.status_code < 500, r.text
    assert "Query" not in r.text  # nothing was executed


async def test_mutations_via_get_are_refused_everywhere(prod: Env, env: Env) -> None:
    mutation = 'mutation { requestPasswordReset(input: {userName: "x@example.com"}) { ok } }'
    for e in (prod, env):
        r = await e.client.get("/graphql", params={"query": mutation})
        assert 400 <= r.status_code < 500, r.text
        assert '"ok"' not in r.text


async def test_queries_via_get_work_in_development_control(env: Env) -> None:
    r = await env.client.get("/graphql", params={"query": "{ __typename }"})
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}


# ---------------------------------------------------------------- error masking


@pytest.fixture
async def broken_api_keys_table(prod: Env) -> AsyncIterator[Env]:
    """An infrastructure fault, not a mock: the api_keys table is renamed away (and back)."""
    url = prod.settings.database_url
    owner = make_engine(url, app_role=False) if url.startswith("postgresql") else \
        prod.container.engine()

    async def rename(old: str, new: str) -> None:
        async with owner.begin() as conn:
            await conn.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    await rename("api_keys", "api_keys_hidden")
    try:
        yield prod
    finally:
        await rename("api_keys_hidden", "api_keys")
        if owner is not prod.container.engine():
            await owner.dispose()


async def test_unexpected_graphql_errors_are_masked_without_stack_or_sql(
        broken_api_keys_table: Env) -> None:
    env = broken_api_keys_table
    admin = await env.provision("owner@acme.com", org="acme")
    async with lenient_client(env) as client:
        r = await client.post("/graphql", json={"query": "{ apiKeys { edges { cursor } } }"},
                              headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body.get("data") is None
    assert [e["message"] for e in body["errors"]] == ["Internal server error"]
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL"}
    assert_no_leak(r.text)


async def test_unexpected_rest_errors_are_a_bare_500_without_stack_or_sql(
        broken_api_keys_table: Env) -> None:
    env = broken_api_keys_table
    async with lenient_client(env) as client:  # an API key lookup now hits the missing table
        r = await client.get("/v1/user2", headers={"Authorization": "Bearer sk_0123abcd_secret"})
    assert r.status_code == 500
    assert_no_leak(r.text)


async def test_unexpected_rest_errors_answer_in_rainmaker_failure_shape(
        broken_api_keys_table: Env) -> None:
    env = broken_api_keys_table
    async with lenient_client(env) as client:
        r = await client.get("/v1/user2", headers={"Authorization": "Bearer sk_0123abcd_secret"})
    body = r.json()
    assert r.status_code == 500
    assert body == {"status": "failure", "description": "Internal server error",
                    "error_code": 100001}


async def test_expected_errors_keep_their_codes_in_production(prod: Env) -> None:
    body = await prod.gql("{ me { id } }", token="not-a-token")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert_no_leak(repr(body))


# ---------------------------------------------------------------- CORS and configuration


async def test_cors_answers_only_the_configured_origin(prod: Env) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    ok = await prod.client.options("/graphql", headers={"Origin": APP_ORIGIN, **preflight})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == APP_ORIGIN
    evil = await prod.client.options("/graphql", headers={"Origin": "https://evil.example",
                                                          **preflight})
    assert evil.status_code >= 400
    assert "access-control-allow-origin" not in evil.headers
    simple = await prod.client.post("/graphql", json={"query": "{ __typename }"},
                                    headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    assert simple.headers.get("access-control-allow-origin") != "*"


def test_fleetgate_env_production_selects_the_production_profile(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file from the working tree
    monkeypatch.setenv("FLEETGATE_SECRET", "s" * 48)
    monkeypatch.setenv("FLEETGATE_ENV", "production")
    monkeypatch.setenv("FLEETGATE_CORS_ORIGINS", f"{APP_ORIGIN},https://admin.example.com")
    settings = Settings.from_env()
    assert settings.production is True
    assert settings.cors_origins == (APP_ORIGIN, "https://admin.example.com")
    monkeypatch.setenv("FLEETGATE_ENV", "development")
    assert Settings.from_env().production is False
