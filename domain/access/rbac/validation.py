"""What policy authors may write, validated: policy and role names, role levels, a role's
policy list, and RainMaker policy_json read into a PolicyDocument."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from domain.access.rbac.model import (
    ACTIONS,
    ALLOW,
    BUILTIN_ROLES,
    DENY,
    MAX_ROLE_POLICIES,
    NAME_MAX,
    NAME_MIN,
    POLICY_MAX_BYTES,
    RESERVED_PREFIX,
    NodeReach,
    PolicyDocument,
    Statement,
)
from domain.accounts.model import is_text
from domain.errors import ValidationFailed

_RESOURCE = re.compile(r"^/[A-Za-z0-9_{}./\-]*\*?$")
_TAG = re.compile(r"^[^:\x00-\x1f]{1,128}:[^\x00-\x1f]{1,127}\Z")
_CONTROL = re.compile(r"[\x00-\x1f]")


# --- names -------------------------------------------------------------------------------

def _name_text(raw: object, *, what: str) -> str:
    """2..256 characters, no control characters, no white space at either end (names are
    exact: rest_compat states the same rule as a pattern)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(f"{what.capitalize()} name is missing",
                               reason=f"{what}_name_missing")
    if not is_text(raw) or not NAME_MIN <= len(raw) <= NAME_MAX or raw != raw.strip() \
            or any(ord(c) < 0x20 for c in raw):
        raise ValidationFailed("Name must be 2 to 256 characters long, without control "
                               "characters or white space at either end",
                               reason="access_name_length")
    return raw


def check_name(raw: object, *, what: str) -> str:
    """A policy or role name one creates or changes: not a built-in or reserved one."""
    name = _name_text(raw, what=what)
    if name.startswith(RESERVED_PREFIX) or name in BUILTIN_ROLES:
        raise ValidationFailed(f"Cannot create/update/delete default {what}",
                               reason=f"default_{what}")
    return name


def lookup_name(raw: object, *, what: str) -> str:
    """A name given to find something (built-in names allowed)."""
    if raw in BUILTIN_ROLES:
        return str(raw)
    return _name_text(raw, what=what)


def check_level(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw) \
            or not 1 <= raw <= 1_000_000:
        raise ValidationFailed("Role Level must be a whole number from 1 up",
                               reason="invalid_role_level")
    return int(raw)


def check_operation(raw: object) -> str:
    """How a role or a user's roles change: "add" or "remove" (any case), returned lower-case."""
    if raw in (None, ""):
        raise ValidationFailed("Operation is missing", reason="operation_missing")
    if not isinstance(raw, str) or raw.lower() not in ("add", "remove"):
        raise ValidationFailed("Please specify valid operation, Valid values are add or "
                               "remove", reason="invalid_role_operation")
    return raw.lower()


def check_policy_names(raw: object, *, allow_empty: bool = False) -> list[str]:
    if not isinstance(raw, list) or (not raw and not allow_empty):
        raise ValidationFailed("Policy name is missing", reason="policy_name_missing")
    names: list[str] = []
    for item in raw:
        name = lookup_name(item, what="policy")
        if name not in names:
            names.append(name)
    if len(names) > MAX_ROLE_POLICIES:
        raise ValidationFailed(f"You can specify maximum {MAX_ROLE_POLICIES} policies",
                               reason="too_many_policies")
    return names


# --- policy documents --------------------------------------------------------------------

def _invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(f"Json policy is invalid: {detail}", reason="invalid_policy_json")


def _field(item: Mapping[str, Any], name: str) -> Any:
    """RainMaker writes Effect/Action/Resource and effect/action/resource: either spelling."""
    for key in (name, name.lower()):
        if key in item:
            return item[key]
    raise _invalid(f"statement needs {name}")


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not value \
            or not all(isinstance(v, str) and v and is_text(v) for v in value):
        raise _invalid(f"{what} must be a non-empty list of strings")
    return list(value)


def canonical_resource(raw: str) -> str:
    """A REST path as permissions name it; RainMaker's unversioned "/admin/..." and
    "/{version}/admin/..." mean v1; EdgeFlow's "/api/v1/..." (billing) stays as it is."""
    path = raw
    if path.startswith("/{version}/"):  # how GET /v1/admin/api_paths_methods lists paths
        path = "/v1/" + path[len("/{version}/"):]
    if path.startswith("/") and not path.startswith(("/v1", "/api/")) \
            and path not in ("/", "/*"):
        path = "/v1" + path
    if not _RESOURCE.match(path) or "*" in path[:-1] or len(path) > 200:
        raise _invalid(f"resource {raw!r} is not an API path (\"/v1/admin/nodes\", "
                       "\"/v1/admin/*\")")
    return path


def parse_action(raw: str) -> str:
    for action, method in ACTIONS.items():
        if raw.lower() == action.lower():
            return method
    raise _invalid(f"unknown action {raw!r}; use one of {', '.join(ACTIONS)}")


def _filters(raw: object) -> tuple[NodeReach, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid("filters must be a list")
    out = []
    for item in raw:
        if not isinstance(item, dict) or item.get("type") != "nodes" \
                or not isinstance(item.get("rules"), dict):
            raise _invalid('a filter is {"type": "nodes", "rules": {"tags": [...], '
                           '"type": [...]}}')
        rules = item["rules"]
        unknown = set(rules) - {"tags", "type"}
        if unknown:
            raise _invalid(f"unknown filter rule {sorted(unknown)[0]!r}")
        tags = tuple(_strings(rules["tags"], "filter tags")) if "tags" in rules else ()
        types = tuple(_strings(rules["type"], "filter type")) if "type" in rules else ()
        if not tags and not types:
            raise _invalid("a node filter names tags or type")
        if any(not _TAG.match(t) for t in tags):
            raise _invalid('filter tags are "key:value"')
        if any(len(t) > 128 or _CONTROL.search(t) for t in types):
            raise _invalid("filter types are names of at most 128 characters")
        out.append(NodeReach(tags=tags, types=types))
    return tuple(out)


def parse_policy(raw: object) -> PolicyDocument:
    """Validates RainMaker policy_json (at most 2 KB as compact JSON) into a document."""
    if raw is None:
        raise ValidationFailed("Policy json is missing", reason="policy_json_missing")
    if not isinstance(raw, dict):
        raise _invalid("policy_json must be an object")
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
    except (UnicodeEncodeError, ValueError) as exc:
        raise _invalid("not encodable") from exc
    if size > POLICY_MAX_BYTES:
        raise ValidationFailed("Policy size limit exceeded, Size should be less than 2KB",
                               reason="policy_too_large")
    unknown = set(raw) - {"version", "filters", "statement"}
    if unknown:
        raise _invalid(f"unknown field {sorted(unknown)[0]!r}")
    version = raw.get("version", "1.0.0")
    if not isinstance(version, str) or len(version) > 32:
        raise _invalid("version must be a short string")
    statements_raw = raw.get("statement")
    if not isinstance(statements_raw, list) or not statements_raw:
        raise _invalid("statement must be a non-empty list")
    statements = []
    for item in statements_raw:
        if not isinstance(item, dict):
            raise _invalid("a statement is an object")
        unknown = {k.lower() for k in item} - {"effect", "action", "resource", "sid"}
        if unknown:
            raise _invalid(f"unknown statement field {sorted(unknown)[0]!r}")
        effect = _field(item, "Effect")
        if not isinstance(effect, str) or effect.lower() not in (ALLOW, DENY):
            raise _invalid(f"unknown effect {effect!r}; use Allow or Deny")
        methods = tuple(dict.fromkeys(parse_action(a) for a in _strings(
            _field(item, "Action"), "Action")))
        resources = tuple(dict.fromkeys(canonical_resource(r) for r in _strings(
            _field(item, "Resource"), "Resource")))
        statements.append(Statement(effect.lower(), methods, resources))
    return PolicyDocument(version=version, statements=tuple(statements),
                          filters=_filters(raw.get("filters")), raw=raw)
