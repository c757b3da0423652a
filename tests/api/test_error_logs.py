"""Issue 17 item 4: what the log says about an error. The client's mistakes (wrong password,
unknown node, a document that does not validate, forbidden, a transport error) are one INFO
line without a traceback, naming the operation, the code and the message, with the request
id; a dependency that did not answer is one WARNING line; only an unexpected failure is an
ERROR with its traceback. The same for REST (rest_compat)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from domain.errors import Unavailable
from fleetgate.observability.logs import RequestIdFilter, TextFormatter
from tests.conftest import Env

RID = "issue17-item4"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records as the server's handler sees them: with the request id on each."""
    caplog.set_level(logging.INFO)
    request_ids = RequestIdFilter()
    caplog.handler.addFilter(request_ids)
    yield caplog
    caplog.handler.removeFilter(request_ids)


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What Fleetgate and strawberry wrote (not the test client's own request lines)."""
    return [r for r in caplog.records if r.name.startswith(("fleetgate", "strawberry"))]


def the_line(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    records = ours(caplog)
    assert len(records) == 1, [(r.levelname, r.name, r.getMessage()) for r in records]
    return records[0]


def assert_client_mistake(record: logging.LogRecord, *parts: str) -> None:
    assert record.levelno == logging.INFO, (record.levelname, record.getMessage())
    assert record.exc_info is None and record.exc_text is None
    assert record.request_id == RID  # type: ignore[attr-defined]
    line = TextFormatter().format(record)
    assert "\n" not in line and "Traceback" not in line, line
    assert line.endswith(f" request_id={RID}"), line
    for part in parts:
        assert part in line, (part, line)


async def gql(env: Env, query: str, token: str | None = None,
              variables: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"X-Request-ID": RID}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = await env.client.post("/graphql", json={"query": query, "variables": variables or {}},
                              headers=headers)
    assert r.headers["x-request-id"] == RID
    return r.json()  # type: ignore[no-any-return]


def lenient(env: Env) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=env.app,
                                                           raise_app_exceptions=False),
                             base_url="http://testserver", headers={"X-Request-ID": RID})


# ---------------------------------------------------------------- GraphQL: the client's doing


async def test_a_wrong_password_is_one_info_line_without_traceback(
        env: Env, logs: pytest.LogCaptureFixture) -> None:
    await env.signup("someone@example.com")
    logs.clear()
    body = await gql(env, 'mutation SignIn { login(input: {userName: "someone@example.com", '
                          'password: "Wrong-pass9"}) { accessToken } }')
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert_client_mistake(the_line(logs), "INFO fleetgate.graphql", "GraphQL SignIn login:",
                          "UNAUTHENTICATED", body["errors"][0]["message"])


async def test_an_unknown_node_is_one_info_line(env: Env,
                                                logs: pytest.LogCaptureFixture) -> None:
    token = await env.user("owner@example.com")
    logs.clear()
    body = await gql(env, "query Lamp($id: ID!) { node(id: $id) { id } }", token,
                     {"id": "no-such-node"})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert_client_mistake(the_line(logs), "GraphQL Lamp node:", "NOT_FOUND")


async def test_a_forbidden_operation_is_one_info_line(env: Env,
                                                      logs: pytest.LogCaptureFixture) -> None:
    token = await env.user("enduser@example.com")
    logs.clear()
    body = await gql(env, 'mutation NewKey { createApiKey(input: {name: "x"}) { key } }', token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert_client_mistake(the_line(logs), "GraphQL NewKey createApiKey:", "FORBIDDEN")


async def test_a_document_that_does_not_validate_is_info_per_error(
        env: Env, logs: pytest.LogCaptureFixture) -> None:
    body = await gql(env, "query Broken { nope }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION"
    assert_client_mistake(the_line(logs), "GraphQL Broken:", "GRAPHQL_VALIDATION",
                          "Cannot query field 'nope'")


async def test_a_syntax_error_and_a_refused_variable_are_info(
        env: Env, logs: pytest.LogCaptureFixture) -> None:
    await gql(env, "query {")
    assert_client_mistake(the_line(logs), "GraphQL <anonymous>:", "GRAPHQL_VALIDATION",
                          "Syntax Error")
    logs.clear()
    token = await env.user("owner@example.com")
    logs.clear()
    await gql(env, "query Keys($n: Int!) { apiKeys(first: $n) { edges { cursor } } }", token,
              {"n": 2**40})
    assert_client_mistake(the_line(logs), "GraphQL Keys:", "GRAPHQL_VALIDATION")


async def test_client_text_cannot_forge_log_lines(env: Env,
                                                  logs: pytest.LogCaptureFixture) -> None:
    await gql(env, 'query { node(id: "x\\n2026-01-01 00:00:00 ERROR forged") { id } }')
    line = TextFormatter().format(the_line(logs))
    assert "\n" not in line, line


async def test_a_transport_error_is_one_info_line(env: Env,
                                                  logs: pytest.LogCaptureFixture) -> None:
    r = await env.client.post("/graphql", content=b"{bad", headers={
        "Content-Type": "application/json", "X-Request-ID": RID})
    assert r.status_code == 400
    assert_client_mistake(the_line(logs), "GraphQL request refused: 400 INVALID_JSON")


async def test_strawberry_no_longer_logs_client_errors_at_error(
        env: Env, logs: pytest.LogCaptureFixture) -> None:
    await gql(env, "query Broken { nope }")
    await gql(env, "{ me { id } }")  # not signed in
    assert not [r for r in logs.records if r.levelno >= logging.WARNING], logs.records
    assert not [r for r in logs.records if r.name.startswith("strawberry")]


# ---------------------------------------------------------------- GraphQL: not the client's


async def test_an_unexpected_failure_is_an_error_with_its_traceback(
        env: Env, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await env.user("owner@example.com")

    async def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the profile store exploded")

    monkeypatch.setattr(env.container.profiles(), "get_profile", broken)
    logs.clear()
    body = await gql(env, "query Me { me { id } }", token)
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL"}
    record = the_line(logs)
    assert record.levelno == logging.ERROR and record.name == "fleetgate.graphql"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert "GraphQL Me me: unexpected error" in record.getMessage()
    assert record.request_id == RID  # type: ignore[attr-defined]
    assert "Traceback" in TextFormatter().format(record)


async def test_a_dependency_that_did_not_answer_is_a_warning_without_traceback(
        env: Env, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await env.user("owner@example.com")

    async def timed_out(*_args: object, **_kw: object) -> None:
        raise Unavailable("The database did not answer in time", reason="db_timeout")

    monkeypatch.setattr(env.container.profiles(), "get_profile", timed_out)
    logs.clear()
    body = await gql(env, "query Me { me { id } }", token)
    assert body["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
    record = the_line(logs)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "GraphQL Me me: UNAVAILABLE (db_timeout)" in record.getMessage()


# ---------------------------------------------------------------- REST


async def test_rest_client_mistakes_are_one_info_line_each(
        env: Env, logs: pytest.LogCaptureFixture) -> None:
    await env.signup("someone@example.com")
    logs.clear()
    r = await env.client.post("/v1/login2", json={"user_name": "someone@example.com",
                                                  "password": "Wrong-pass9"},
                              headers={"X-Request-ID": RID})
    assert r.status_code == 400
    assert_client_mistake(the_line(logs), "INFO fleetgate.rest", "REST POST /v1/login2: 400",
                          r.json()["description"])
    logs.clear()
    r = await env.client.post("/v1/login2", content=b"{bad", headers={
        "Content-Type": "application/json", "X-Request-ID": RID})
    assert r.status_code == 400
    assert_client_mistake(the_line(logs), "REST POST /v1/login2: 400 VALIDATION (invalid_body)")
    logs.clear()
    r = await env.client.get("/v1/user/nodes", headers={"X-Request-ID": RID})
    assert r.status_code == 401
    assert_client_mistake(the_line(logs), "REST GET /v1/user/nodes: 401 UNAUTHENTICATED")


async def test_rest_unexpected_failures_are_an_error_with_the_traceback(
        env: Env, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await env.user("owner@example.com")

    async def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the profile store exploded")

    monkeypatch.setattr(env.container.profiles(), "get_profile", broken)
    logs.clear()
    async with lenient(env) as client:
        r = await client.get("/v1/user2", headers={"Authorization": token})
    assert r.status_code == 500
    errors = [rec for rec in ours(logs) if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].name == "fleetgate.rest"
    assert errors[0].exc_info is not None and isinstance(errors[0].exc_info[1], RuntimeError)
    assert errors[0].request_id == RID  # type: ignore[attr-defined]


async def test_rest_a_dependency_that_did_not_answer_is_a_warning(
        env: Env, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await env.user("owner@example.com")

    async def timed_out(*_args: object, **_kw: object) -> None:
        raise Unavailable("The database did not answer in time", reason="db_timeout")

    monkeypatch.setattr(env.container.profiles(), "get_profile", timed_out)
    logs.clear()
    r = await env.client.get("/v1/user2", headers={"Authorization": token, "X-Request-ID": RID})
    assert r.status_code == 503
    record = the_line(logs)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "REST GET /v1/user2: 503 UNAVAILABLE (db_timeout)" in record.getMessage()
