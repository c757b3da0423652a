"""R3 and R4 (SECURITY.md): schemathesis, in-process, over every GraphQL root query and
mutation, with valid documents (R3) and invalid ones (R4: Mode.NEGATIVE of hypothesis-graphql,
which must every one be answered with errors or a 400, never data alone and never a 5xx).

The schema is loaded by introspection (`schemathesis.graphql.from_asgi("/graphql", app)`) and
run by schemathesis' engine with a superadmin's token. schemathesis' own GraphQL checks take
any resolver error with a `path` for a server error, which our expected refusals (NOT_FOUND,
VALIDATION, CONFLICT... with `extensions.code`) are not; so its checks are off and an
`after_call` hook judges every answer instead: a 5xx, an error without `extensions.code`, or
one whose code is INTERNAL (what graphql_api/errors.py masks an unexpected exception as) is a
failure. Mutations that end the caller's session (logout, changePassword) are left out so the
run keeps testing as a signed-in superadmin; their own tests cover them.

Knobs: FLEETGATE_FUZZ_EXAMPLES (examples per field; this test uses 3/5 of it, at least 10)
and FLEETGATE_FUZZ_SEED, as for the REST fuzz test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from schemathesis.python import asgi

from domain.access.model import Caller
from fleetgate.app import create_app
from fleetgate.bootstrap import migrate
from fleetgate.container import Container
from fleetgate.settings import Settings
from tests.conftest import PASSWORD
from tests.fuzz.test_rest_schemathesis import MAX_EXAMPLES, SEED, run_engine

ADMIN = "fuzz-graphql@example.com"
SESSION_ENDING = ("logout", "changePassword")
_NAMES = st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,12}\Z")
_LEAVES = st.one_of(st.text(max_size=20).map(nodes.String),
                    st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
                    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
                    st.booleans().map(nodes.Boolean), st.just(graphql.NullValueNode()))


def _object(fields: dict[str, Any]) -> graphql.ObjectValueNode:
    return nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=value)
                         for key, value in fields.items()])


# the JSON scalar (node params, metadata, job metadata...): any JSON value as a literal
JSON_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(nodes.List),
    st.dictionaries(_NAMES, inner, max_size=4).map(_object)), max_leaves=12)
schemathesis.graphql.scalar("JSON", JSON_VALUES)
schemathesis.graphql.scalar("Upload", st.just(graphql.NullValueNode()))  # multipart only


@pytest.fixture
def graphql_schema(settings: Settings) -> Iterator[tuple[Any, str]]:
    settings = Settings(**{**{f: getattr(settings, f) for f in settings.__dataclass_fields__},
                           "login_limit_per_ip": 1_000_000,
                           "login_limit_per_user": 1_000_000})
    container = Container(settings=settings)

    async def prepare() -> str:
        await migrate(container)
        await container.registration().provision_user(user_name=ADMIN, password=PASSWORD,
                                                      org_name="fuzz", superadmin=True)
        tokens = await container.sessions().login(Caller(ip="127.0.0.1"), user_name=ADMIN,
                                                  password=PASSWORD)
        await container.engine().dispose()  # its connections belong to this event loop
        return str(tokens.access_token)

    token = asyncio.run(prepare())
    app = create_app(settings, container=container)
    config: dict[str, Any] = {"generation": {"max-examples": max(10, MAX_EXAMPLES * 3 // 5),
                                             "mode": "all"},
                              "checks": {"enabled": False},
                              "output": {"sanitization": {"enabled": False}}}
    if SEED != "random":
        config["seed"] = int(SEED)
    try:
        schema = schemathesis.graphql.from_asgi("/graphql", app,
                                                config=schemathesis.Config.from_dict(config))
        yield schema, token
    finally:
        asgi.shutdown_lifespans()


def _problem(response: Any) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return "the answer is not JSON"
    if not isinstance(body, dict):
        return "the answer is not a JSON object"
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if not code or code in ("INTERNAL", "INTERNAL_SERVER_ERROR"):
            return f"error without a stable code: {error}"
    return None


@pytest.mark.timeout(900)  # thousands of generated requests: minutes on a busy machine
def test_graphql_answers_every_generated_document_without_an_unexpected_error(
        graphql_schema: tuple[Any, str]) -> None:
    schema, token = graphql_schema
    schema = schema.exclude(name=[f"Mutation.{name}" for name in SESSION_ENDING])
    problems: dict[str, str] = {}
    answered: dict[str, int] = {}
    negatives = 0

    @schema.auth(refresh_interval=None)
    class Superadmin:
        def get(self, _case: Any, _ctx: Any) -> str:
            return token

        def set(self, case: Any, data: str, _ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    @schema.hook("after_call")
    def judge(_context: Any, case: Any, response: Any) -> None:
        nonlocal negatives
        label = case.operation.label
        answered[label] = answered.get(label, 0) + 1
        problem = _problem(response)
        if problem is None and case.meta is not None and \
                case.meta.generation.mode.is_negative:
            negatives += 1
            body = response.json()
            if response.status_code != 400 and not body.get("errors"):
                problem = "an invalid document was answered without errors"
        if problem is not None:
            problems.setdefault(label, f"{problem}\nquery: {case.body}")

    run = run_engine(schema)

    assert not run.errors, "\n".join(run.errors)
    fields = {result.ok().label for result in schema.get_all_operations()}
    assert len(fields) >= 80, sorted(fields)  # every root query and mutation but two
    untested = {label for label in fields if answered.get(label, 0) == 0}
    assert not untested, f"never exercised: {sorted(untested)}"
    assert negatives >= 500, negatives  # R4: at least 500 invalid documents
    assert not problems, f"{len(problems)} field(s) failed unexpectedly:\n\n" + \
        "\n\n".join(f"[{label}] {text}" for label, text in sorted(problems.items()))
    print(f"\nGraphQL fuzz: {len(fields)} root fields, {sum(answered.values())} documents, "
          f"{negatives} of them invalid")
