"""Issue 17 item 4: /graphql answers a request it cannot run (bad JSON, a content type it does
not read, no query, a wrong method, a batch) as GraphQL JSON errors,
{"errors": [{"message", "extensions": {"code"}}]}, with a stable code and the HTTP status
that fits, never a plain-text or HTML body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from fleetgate.settings import Settings
from tests.conftest import Env, start_env, with_settings

JSON = {"Content-Type": "application/json"}
QUERY = json.dumps({"query": "{ __typename }"}).encode()


def refusal(r: httpx.Response, status: int, code: str) -> str:
    """The single error's message, once the answer is checked to be a GraphQL refusal."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": code}, error
    assert isinstance(error["message"], str) and error["message"]
    return str(error["message"])


async def post(env: Env, content: bytes, headers: dict[str, str] | None = None
               ) -> httpx.Response:
    return await env.client.post("/graphql", content=content,
                                 headers=JSON if headers is None else headers)


async def test_a_body_that_is_not_json_says_where_it_breaks(env: Env) -> None:
    message = refusal(await post(env, b'{"query": "{ __typename }",}'), 400, "INVALID_JSON")
    assert "not valid JSON" in message and "line 1, column 28" in message, message


@pytest.mark.parametrize(("raw", "kind"), [(b"123", "a number"), (b'"text"', "a string"),
                                           (b"null", "null"), (b"true", "a boolean")])
async def test_json_that_is_not_an_object_is_invalid_json(env: Env, raw: bytes,
                                                          kind: str) -> None:
    message = refusal(await post(env, raw), 400, "INVALID_JSON")
    assert message == f"The request JSON must be an object, not {kind}"


async def test_a_body_that_is_not_utf8_is_invalid_json(env: Env) -> None:
    message = refusal(await post(env, b'{"query": "\xff"}'), 400, "INVALID_JSON")
    assert "UTF-8" in message


async def test_a_lone_surrogate_is_invalid_json(env: Env) -> None:
    refusal(await post(env, b'{"query": "{ __typename }", "variables": {"a": "\\ud800"}}'),
            400, "INVALID_JSON")


async def test_bad_variables_in_a_get_are_invalid_json(env: Env) -> None:
    r = await env.client.get("/graphql", params={"query": "{ __typename }", "variables": "{"},
                             headers={"Accept": "application/json"})
    refusal(r, 400, "INVALID_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml",
                                          "application/x-www-form-urlencoded", None])
async def test_a_content_type_it_does_not_read_is_415(env: Env,
                                                      content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    message = refusal(await post(env, QUERY, headers), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "application/json" in message


async def test_no_query_is_missing_query(env: Env) -> None:
    refusal(await post(env, b"{}"), 400, "MISSING_QUERY")
    r = await env.client.get("/graphql", headers={"Accept": "application/json"})
    refusal(r, 400, "MISSING_QUERY")


@pytest.mark.parametrize("body", [{"query": 5}, {"query": "{ __typename }", "variables": 5},
                                  {"query": "{ __typename }", "extensions": []}])
async def test_members_of_the_wrong_kind_are_bad_request(env: Env,
                                                         body: dict[str, Any]) -> None:
    refusal(await post(env, json.dumps(body).encode()), 400, "BAD_REQUEST")


async def test_a_batch_is_refused_as_unsupported(env: Env) -> None:
    message = refusal(await post(env, b'[{"query": "{ __typename }"}]'), 400,
                      "BATCHING_NOT_SUPPORTED")
    assert "one operation per request" in message


async def test_an_unknown_operation_name_is_unknown_operation(env: Env) -> None:
    body = json.dumps({"query": "query A { __typename }", "operationName": "B"}).encode()
    refusal(await post(env, body), 400, "UNKNOWN_OPERATION")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_a_wrong_method_is_405_with_allow(env: Env, method: str) -> None:
    r = await env.client.request(method, "/graphql", content=QUERY, headers=JSON)
    refusal(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "GET, POST"


async def test_a_mutation_over_get_is_405_post_only(env: Env) -> None:
    r = await env.client.get("/graphql", params={"query": "mutation { __typename }"},
                             headers={"Accept": "application/json"})
    message = refusal(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "POST" and "POST" in message


async def test_an_upload_without_a_token_is_401_unauthenticated(env: Env) -> None:
    r = await env.client.post("/graphql", data={"operations": "{}", "map": "{}"},
                              files={"0": ("a.bin", b"x", "application/octet-stream")})
    refusal(r, 401, "UNAUTHENTICATED")


async def test_a_malformed_upload_map_is_bad_request(env: Env) -> None:
    token = await env.user("someone@example.com")
    r = await env.client.post(
        "/graphql", headers={"Authorization": f"Bearer {token}"},
        data={"operations": json.dumps({"query": "{ __typename }", "variables": {}}),
              "map": json.dumps({"0": ["query"]})},
        files={"0": ("a.bin", b"x", "application/octet-stream")})
    refusal(r, 400, "BAD_REQUEST")


async def test_a_good_request_still_runs(env: Env) -> None:
    r = await post(env, QUERY)
    assert r.status_code == 200 and r.json() == {"data": {"__typename": "Query"}}


async def test_in_production_graphiql_and_queries_over_get_are_refused_as_json(
        settings: Settings) -> None:
    async for prod in start_env(with_settings(settings, production=True)):
        r = await prod.client.get("/graphql", headers={"Accept": "text/html"})
        refusal(r, 404, "NOT_FOUND")
        r = await prod.client.get("/graphql", params={"query": "{ __typename }"},
                                  headers={"Accept": "application/json"})
        refusal(r, 405, "METHOD_NOT_ALLOWED")
        assert r.headers["allow"] == "POST"
