"""Issue 17 item 4: "Invalid request body" (REST) says what is wrong: not JSON (and where),
which field (its path inside the body), which type or rule; the status (400) and RainMaker's
error_code (100006) stay as they were. Finer RainMaker messages (a missing user name, a bad
tag...) are kept: the detail is for the bodies that had only the generic message."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rest_compat import schemas as s
from tests.conftest import Env

INVALID_BODY = 100006
JSON = {"Content-Type": "application/json"}


def description(r: httpx.Response) -> str:
    assert r.status_code == 400, (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    assert body["status"] == "failure" and body["error_code"] == INVALID_BODY, body
    return str(body["description"])


# ---------------------------------------------------------------- the body is not JSON


async def test_a_body_that_is_not_json_names_the_position(env: Env) -> None:
    r = await env.client.post("/v1/login2", content=b'{"user_name": "a@example.com",}',
                              headers=JSON)
    assert description(r) == ("Invalid request body: not JSON: Expecting property name "
                              "enclosed in double quotes at line 1, column 31 (character 30)")


async def test_an_empty_body_says_so(env: Env) -> None:
    r = await env.client.post("/v1/login2", content=b"", headers=JSON)
    assert description(r) == "Invalid request body: the body is empty; send a JSON object"


@pytest.mark.parametrize(("raw", "kind"), [(b"[]", "an array"), (b"42", "a number"),
                                           (b'"x"', "a string"), (b"null", "null")])
async def test_json_that_is_not_an_object_names_what_it_is(env: Env, raw: bytes,
                                                           kind: str) -> None:
    r = await env.client.post("/v1/login2", content=raw, headers=JSON)
    assert description(r) == f"Invalid request body: must be a JSON object, not {kind}"


async def test_a_body_that_is_not_utf8_says_so(env: Env) -> None:
    r = await env.client.post("/v1/login2", content=b'{"user_name": "\xff"}', headers=JSON)
    assert description(r) == "Invalid request body: not UTF-8 text: byte 15 cannot be decoded"


async def test_a_body_nested_too_deep_says_so(env: Env) -> None:
    raw = b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}"
    r = await env.client.post("/v1/login2", content=raw, headers=JSON)
    assert description(r) == "Invalid request body: nested deeper than 32 levels"


# ---------------------------------------------------------------- the body breaks its schema


async def test_a_field_of_the_wrong_type_names_field_and_type(env: Env) -> None:
    token = await env.user("someone@example.com")
    r = await env.client.post("/v1/logout2", json={"refreshtoken": 5},
                              headers={"Authorization": token})
    assert description(r) == ("Invalid request body: refreshtoken: must be a string, "
                              "not an integer")


async def test_a_value_too_long_names_the_bound(env: Env) -> None:
    token = await env.user("someone@example.com")
    r = await env.client.post("/v1/logout2", json={"refreshtoken": "x" * 513},
                              headers={"Authorization": token})
    assert description(r) == ("Invalid request body: refreshtoken: must be at most 512 "
                              "characters long")


async def test_a_bad_item_names_its_path(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="acme")
    r = await env.client.post("/v1/admin/otajob", json={
        "nodes": ["lamp-1", 7], "ota_job_name": "j", "ota_image_id": "img-1"},
        headers={"Authorization": admin})
    assert description(r) == "Invalid request body: nodes[1]: must be a string, not an integer"


async def test_a_short_pattern_is_shown(env: Env) -> None:
    admin = await env.provision("ops@acme.io", org="acme")
    r = await env.client.post("/v1/admin/otajob", json={
        "ota_job_name": "j", "ota_image_id": "img 1", "nodes": ["lamp-1"]},
        headers={"Authorization": admin})
    assert description(r) == ("Invalid request body: ota_image_id: must match the pattern "
                              "^[A-Za-z0-9_-]{1,64}$")


async def test_finer_rainmaker_messages_are_kept(env: Env) -> None:
    r = await env.client.post("/v1/login2", json={"password": "x"})
    assert r.status_code == 400 and r.json()["description"] == "User name is missing"


# ---------------------------------------------------------------- the words, rule by rule


@pytest.mark.parametrize(("schema", "body", "said"), [
    (s.LOGIN, {}, "needs refreshtoken or user_name and password"),
    (s.FORGOT_PASSWORD, {"user_name": "a@b.co", "password": "Abcdefg1"},
     "verification_code: is required with password"),
    (s.PASSWORD_CHANGE, {"password": "x"}, "newpassword: is required"),
    (s.PASSWORD_CHANGE, {"password": "x", "newpassword": "Short1"},
     "newpassword: must be at least 8 characters long"),
    (s.UPDATE_USER, {"name": ""}, "name: must not be empty"),
    (s.UPDATE_USER, {"name": "\x01"}, "name: must be up to 256 characters, not blank, no "
     "control characters other than white space around the name (which is dropped)"),
    (s.obj({"a": {"enum": ["x", "y"]}}), {"a": "z"}, 'a: must be one of "x", "y"'),
    (s.obj({"n": {"type": "integer", "minimum": 1}}), {"n": 0}, "n: must be at least 1"),
    (s.obj({"n": {"type": "integer", "maximum": 9}}), {"n": 10}, "n: must be at most 9"),
    (s.obj({"a": {"type": "array", "maxItems": 2}}), {"a": [1, 2, 3]},
     "a: must have at most 2 items"),
    (s.obj({"a": {"type": "array", "items": s.obj({"b": s.STR}, ("b",))}}), {"a": [{}]},
     "a[0].b: is required"),
    (s.obj({"a": s.obj({"b": s.STR}, additional=False)}), {"a": {"b": "x", "c\n": 1}},
     'a."c\\n": is not a known property'),
    (s.obj({"a": s.STR}, additional=False), {"zz": 1}, "zz: is not a known property"),
    (s.obj({"a": s.STR}), {"a": "\ud800"}, "a: must be Unicode text (it holds a lone "
     "surrogate)"),
    (s.obj({"a": {"type": ["string", "null"]}}), {"a": 1},
     "a: must be a string or null, not an integer"),
])
def test_each_violation_says_where_and_what(schema: dict[str, Any], body: Any,
                                            said: str) -> None:
    violation = s.validate(schema, body)
    assert violation is not None
    assert violation.describe() == said


def test_the_coarse_fields_explain_functions_read_are_unchanged() -> None:
    nested = s.obj({"a": s.obj({"b": s.STR})})
    violation = s.validate(nested, {"a": {"b": 1}})
    assert violation is not None
    assert (violation.field, violation.keyword, violation.missing) == ("a", "properties", False)
    assert violation.path == ("a", "b")
    missing = s.validate(s.UPDATE_USER, {})
    assert missing is not None and (missing.field, missing.keyword, missing.missing) == (
        "name", "required", True)
    assert json.dumps(missing.describe()) == '"name: is required"'
