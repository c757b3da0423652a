"""The JSON Schemas of the Roles and Policy Manager and User Role Mapping bodies and queries
(policy_json with its statements and node filters), RainMaker's failures for bodies that
break them, and the entries of the answers."""

from __future__ import annotations

from typing import Any

from domain.access.rbac.model import ACTIONS, MAX_ROLE_POLICIES, NAME_MAX, NAME_MIN, Policy, Role
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import invalid_body
from rest_compat.schemas import Violation

_EDGE = f"[^{s.CONTROL}{s.WHITESPACE}]"
NAME = {"type": "string", "minLength": NAME_MIN, "maxLength": NAME_MAX,
        "pattern": f"^{_EDGE}([^{s.CONTROL}]*{_EDGE})?$",
        "description": "2..256 characters, no control characters, no white space at either "
                       "end; names starting RM_DEFAULT_ and the built-in role names are "
                       "reserved"}
LOOKUP = NAME
_ACTIONS = [a for action in ACTIONS for a in (action, action.lower())]
_STATEMENT_KEYS = {"Effect": {"type": "string", "enum": ["Allow", "Deny", "allow", "deny"]},
                   "Action": {"type": "array", "minItems": 1, "maxItems": 6,
                              "items": {"type": "string", "enum": _ACTIONS}},
                   "Resource": {"type": "array", "minItems": 1, "items": {
                       "type": "string", "minLength": 1, "maxLength": 196,
                       "pattern": r"^/[A-Za-z0-9_{}./-]*[*]?$"}},
                   "Sid": {"type": "string", "maxLength": 128}}
STATEMENT = {"anyOf": [
    s.obj(_STATEMENT_KEYS, ("Effect", "Action", "Resource"), additional=False),
    s.obj({k.lower(): v for k, v in _STATEMENT_KEYS.items()}, ("effect", "action", "resource"),
          additional=False)],
    "description": "Effect Allow|Deny, Action api:Get|api:Put|api:Post|api:Delete|api:Patch|"
                   "api:*, Resource canonical REST paths ('/v1/admin/*' wildcards, "
                   "'/admin/...' and '/{version}/...' mean /v1); lower-case keys are accepted "
                   "too. Resources must match a path of GET /v1/admin/api_paths_methods"}
_TAG = {"type": "string", "minLength": 3, "maxLength": 256,
        "pattern": f"^[^:{s.CONTROL}]{{1,128}}:[^{s.CONTROL}]{{1,127}}$"}
_TYPE = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": f"^[^{s.CONTROL}]+$"}
FILTER = s.obj({
    "type": {"type": "string", "enum": ["nodes"]},
    "rules": s.obj({"tags": {"type": "array", "minItems": 1, "items": _TAG},
                    "type": {"type": "array", "minItems": 1, "items": _TYPE}},
                   additional=False, anyOf=[{"required": ["tags"]}, {"required": ["type"]}])},
    ("type", "rules"), additional=False)
POLICY_JSON = s.obj({
    "version": {"type": "string", "maxLength": 32},
    "filters": {"type": "array", "items": FILTER},
    "statement": {"type": "array", "minItems": 1, "items": STATEMENT}}, ("statement",),
    additional=False,
    description="At most 2 KB as compact JSON. Node filters narrow the nodes a role reaches "
                "through /v1/admin/nodes: a node matches a filter when it has any of its tags "
                "and one of its types (each when given), and a role reaches the nodes matching "
                "any filter of the policies that allow it")
CREATE_POLICY = s.obj({"policy_name": NAME, "policy_json": POLICY_JSON},
                      ("policy_name", "policy_json"))
UPDATE_POLICY = s.obj({"policy_json": POLICY_JSON}, ("policy_json",))
POLICY_ENTRY = s.obj({"policy_name": s.STR, "policy_json": {"type": "object"}},
                     ("policy_name", "policy_json"))
POLICIES = s.obj({"policies": {"type": "array", "items": POLICY_ENTRY}}, ("policies",))
LEVEL = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
POLICY_NAMES = {"type": "array", "minItems": 1, "maxItems": MAX_ROLE_POLICIES,
                "items": LOOKUP}
CREATE_ROLE = s.obj({"role_name": NAME, "policies": POLICY_NAMES, "role_level": LEVEL},
                    ("role_name", "policies", "role_level"))
UPDATE_ROLE = s.obj({"policies": POLICY_NAMES, "role_level": LEVEL},
                    anyOf=[{"required": ["policies"]}, {"required": ["role_level"]}])
ROLE_ENTRY = s.obj({"role_name": s.STR, "policies": {"type": "array", "items": s.STR},
                    "role_level": {"type": "integer"}, "builtin": {"type": "boolean"}},
                   ("role_name", "policies", "role_level"))
ROLES = s.obj({"roles": {"type": "array", "items": ROLE_ENTRY}}, ("roles",))
USER_ROLES = s.obj({"roles": {"type": "array", "minItems": 1, "maxItems": 50,
                              "items": LOOKUP}}, ("roles",))
ROLE_NAMES = s.obj({"roles": {"type": "array", "items": s.STR}}, ("roles",))
USER_NAMES = s.obj({"users": {"type": "array", "items": s.STR}}, ("users",))
AUDIT_ENTRY = s.obj({"id": s.STR, "timestamp": {"type": "integer"}, "actor": s.STR,
                     "actor_name": s.STR, "action": s.STR, "target": s.STR,
                     "before": {}, "after": {}}, ("id", "timestamp", "action", "target"))
AUDIT = s.obj({"audit_logs": {"type": "array", "items": AUDIT_ENTRY}, "next_id": s.STR},
              ("audit_logs",))
PATHS = {"type": "array", "items": s.obj({"path": s.STR,
                                           "methods": {"type": "array", "items": s.STR}},
                                          ("path", "methods"))}
OPERATION = {"type": "string", "enum": ["add", "remove"]}
FORCE = s.FLAG
ALL_PATHS = s.FLAG
START_ID = {"type": "string", "maxLength": 64}
NUM_RECORDS = {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}
LOOKUP_USER = s.USER_NAME
USER_QUERY = ({"name": "user_name", "in": "query", "schema": LOOKUP_USER},
              {"name": "user_id", "in": "query", "schema": {"type": "string", "minLength": 1,
                                                            "maxLength": 64}})


def query_param(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "required": required}


def explain_policy(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "policy_name":
        if violation.missing:
            return ValidationFailed("Policy name is missing", reason="policy_name_missing")
        return ValidationFailed("Name must be 2 to 256 characters long",
                                reason="access_name_length")
    if violation.field == "policy_json" and violation.missing:
        return ValidationFailed("Policy json is missing", reason="policy_json_missing")
    if violation.field == "policy_json":
        return ValidationFailed("Json policy is invalid", reason="invalid_policy_json")
    return invalid_body(violation)


def explain_role(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    field = violation.field
    if field == "role_name":
        if violation.missing:
            return ValidationFailed("Role name is missing", reason="role_name_missing")
        return ValidationFailed("Name must be 2 to 256 characters long",
                                reason="access_name_length")
    if field == "role_level":
        return ValidationFailed("Role Level must be a whole number from 1 up",
                                reason="invalid_role_level")
    if field == "policies" and violation.keyword == "maxItems":
        return ValidationFailed(f"You can specify maximum {MAX_ROLE_POLICIES} policies",
                                reason="too_many_policies")
    if field == "policies" or violation.keyword == "anyOf":
        return ValidationFailed("Policy name is missing", reason="policy_name_missing")
    return invalid_body(violation)


def explain_user_roles(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "roles" and isinstance(body.get("roles"), list) and body["roles"] \
            and violation.keyword != "maxItems":
        return ValidationFailed("Invalid role name", reason="invalid_role_name")
    if violation.field == "roles" and violation.keyword == "maxItems":
        return ValidationFailed("At most 50 roles at once", reason="invalid_body")
    if violation.field == "roles":
        return ValidationFailed("Please specify at least one role", reason="roles_missing")
    return invalid_body(violation)


def policy_entry(policy: Policy) -> dict[str, Any]:
    return policy.as_json()


def role_entry(role: Role) -> dict[str, Any]:
    entry = role.as_json()
    if role.org_id == "*":
        entry["builtin"] = True
    return entry


def public_path(path: str) -> str:
    """RainMaker lists paths with its version placeholder: /{version}/admin/role."""
    return "/{version}" + path[3:] if path.startswith("/v1/") else path
