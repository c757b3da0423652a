"""GraphQL Int is a 32-bit signed integer: a value beyond it, as a variable or as a literal,
in a query or a mutation, is the client's error (GRAPHQL_VALIDATION), never INTERNAL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Env

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
NODES_BY_VARIABLE = "query($first: Int) { nodes(first: $first) { totalCount } }"
SET_PARAMS_BY_VARIABLE = """mutation($version: Int) {
  setNodeParams(input: {nodeId: "n1", params: {}, expectedVersion: $version}) {
    results { ok } } }"""
SET_PARAMS_BY_INPUT = """mutation($input: SetNodeParamsInput!) {
  setNodeParams(input: $input) { results { ok } } }"""


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@pytest.mark.parametrize("value", [INT_MAX + 1, INT_MIN - 1, 2**63, 10**40, 1e40, 1.5, "25"])
async def test_query_variable_outside_int_is_a_validation_error(env: Env, value: Any) -> None:
    token = await env.user("owner@example.com")
    body = await env.gql(NODES_BY_VARIABLE, {"first": value}, token)
    assert body.get("data") is None
    assert codes(body) == ["GRAPHQL_VALIDATION"], body
    assert "Int cannot represent" in body["errors"][0]["message"]


@pytest.mark.parametrize("literal", [str(INT_MAX + 1), str(INT_MIN - 1), str(10**40)])
async def test_query_literal_outside_int_is_a_validation_error(env: Env, literal: str) -> None:
    token = await env.user("owner@example.com")
    body = await env.gql(f"{{ nodes(first: {literal}) {{ totalCount }} }}", token=token)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body


async def test_mutation_variable_outside_int_is_a_validation_error(env: Env) -> None:
    token = await env.user("owner@example.com")
    body = await env.gql(SET_PARAMS_BY_VARIABLE, {"version": 2**32}, token)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body
    nested = {"nodes": [{"nodeId": "n1", "params": {}, "expectedVersion": 2**40}]}
    body = await env.gql(SET_PARAMS_BY_INPUT, {"input": nested}, token)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body


async def test_mutation_literal_outside_int_is_a_validation_error(env: Env) -> None:
    token = await env.user("owner@example.com")
    body = await env.gql(SET_PARAMS_BY_VARIABLE.replace("$version", str(2**32))
                         .replace("mutation($version: Int)", "mutation"), token=token)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body


async def test_int_bounds_themselves_are_accepted(env: Env) -> None:
    token = await env.user("owner@example.com")
    for value in (INT_MAX, INT_MIN):
        body = await env.gql(NODES_BY_VARIABLE, {"first": value}, token)
        assert "INTERNAL" not in codes(body) and "GRAPHQL_VALIDATION" not in codes(body), body
