"""Organizations' own roles and policies (RainMaker's Roles and Policy Manager), as rules.

A policy is RainMaker's policy_json: statements {Effect, Action ["api:Get"...], Resource
[canonical REST paths, "*" wildcards]} and optional node filters. A role holds 1..10
policies and a role level (lower number = more power; superadmin 0, admin 1). Each role
compiles to flat rules (role, organization, resource, method, effect, policy) that the
Authorizer evaluates with Casbin; Deny overrides Allow.

Role levels rule who may do what to whom (DESIGN.md §3): assigning or removing a role, and
creating or changing one, needs a role of a strictly lower level number; level 0 may do
anything. Nobody can grant what they do not hold themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.model import Permission, Principal
from domain.accounts.model import ADMIN, BUILTIN_ROLE_LEVELS, END_USER, SUPERADMIN, is_text
from domain.errors import Forbidden, ValidationFailed

POLICY_MAX_BYTES = 2048
NAME_MIN, NAME_MAX = 2, 256
MAX_ROLE_POLICIES = 10
BUILTIN_ROLES = frozenset({SUPERADMIN, ADMIN, END_USER})
RESERVED_PREFIX = "RM_DEFAULT_"
ALLOW, DENY = "allow", "deny"
ANY_METHOD = "*"
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
ACTIONS = {f"api:{m.capitalize()}": m for m in METHODS} | {"api:*": ANY_METHOD}
NODES_RESOURCE = "/v1/admin/nodes"
_RESOURCE = re.compile(r"^/[A-Za-z0-9_{}./\-]*\*?$")
_TAG = re.compile(r"^[^:\x00-\x1f]{1,128}:[^\x00-\x1f]{1,127}\Z")
_CONTROL = re.compile(r"[\x00-\x1f]")


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str  # ALLOW | DENY
    methods: tuple[str, ...]  # HTTP methods or "*"
    resources: tuple[str, ...]  # canonical REST paths, optionally ending in "*"


@dataclass(frozen=True, slots=True)
class NodeReach:
    """One node filter: a node matches when it has any of the tags (if any are named) and
    its type is one of the types (if any are named)."""

    tags: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def matches(self, tags: Iterable[str], node_type: str) -> bool:
        if self.tags and not set(self.tags) & set(tags):
            return False
        return not self.types or node_type in self.types


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    version: str
    statements: tuple[Statement, ...]
    filters: tuple[NodeReach, ...]
    raw: Mapping[str, Any]


@dataclass(slots=True, kw_only=True)
class Policy:
    org_id: str
    name: str
    document: PolicyDocument
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"policy_name": self.name, "policy_json": dict(self.document.raw)}


@dataclass(slots=True, kw_only=True)
class Role:
    org_id: str
    name: str
    level: int
    policies: list[str] = field(default_factory=list)
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"role_name": self.name, "policies": list(self.policies),
                "role_level": self.level}


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule, as stored in casbin_rule (ptype p: v0..v5)."""

    subject: str
    domain: str
    resource: str
    action: str
    effect: str
    policy: str = ""

    def row(self) -> list[str]:
        return ["p", self.subject, self.domain, self.resource, self.action, self.effect,
                self.policy]

    @classmethod
    def from_row(cls, row: Sequence[str]) -> Rule:
        values = [*row[1:], "", "", "", "", "", ""][:6]
        return cls(*values)

    def matches(self, resource: str, action: str) -> bool:
        return key_match(resource, self.resource) and self.action in (action, ANY_METHOD)


def key_match(key: str, pattern: str) -> bool:
    """Casbin's keyMatch: pattern may end in "*", matching any rest."""
    star = pattern.find("*")
    if star == -1:
        return key == pattern
    return key[:star] == pattern[:star] if len(key) > star else key == pattern[:star]


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


def compile_role(role: Role, policies: Mapping[str, PolicyDocument]) -> list[Rule]:
    """The rules a role grants in its organization: one per (statement, action, resource)."""
    rules: dict[Rule, None] = {}
    for name in role.policies:
        document = policies.get(name)
        if document is None:
            continue
        for st in document.statements:
            for resource in st.resources:
                for method in st.methods:
                    rules[Rule(role.name, role.org_id, resource, method, st.effect, name)] = None
    return list(rules)


# --- role levels -------------------------------------------------------------------------

def level_of(role_names: Iterable[str], levels: Mapping[str, int]) -> int | None:
    """A holder's power: the lowest level among its roles (None: no role with a level)."""
    found = [BUILTIN_ROLE_LEVELS.get(r, levels.get(r)) for r in role_names]
    known = [lv for lv in found if lv is not None]
    return min(known) if known else None


def check_may_manage(actor_level: int | None, role_name: str, role_level: int) -> None:
    """Assigning, removing, creating or changing a role needs a strictly lower level number
    than that role's; level 0 may do anything."""
    if actor_level is None:
        raise Forbidden("Current user roles do not have role level",
                        reason="actor_has_no_level")
    if actor_level != 0 and actor_level >= role_level:
        raise Forbidden(f"Current user does not have role sufficient to manage role "
                        f"{role_name!r} (level {role_level}; yours is {actor_level})",
                        reason="role_level_insufficient")


def explain_rules(rules: Sequence[Rule], permission: Permission
                  ) -> tuple[list[Rule], list[Rule], bool]:
    """(matched, deciding, allowed) of the model's effect: some Allow and no Deny."""
    matched = [r for r in rules if r.matches(permission.resource, permission.action)]
    denies = [r for r in matched if r.effect != ALLOW]
    allows = [r for r in matched if r.effect == ALLOW]
    if denies:
        return matched, denies, False
    return matched, allows, bool(allows)


def reach_of(allow_rules: Sequence[Rule], filters: Mapping[tuple[str, str], tuple[NodeReach, ...]],
             builtin: bool) -> tuple[NodeReach, ...] | None:
    """Which nodes the allowing rules reach: None (all) when a built-in role or a policy
    without node filters allows it; else the union of the allowing policies' filters."""
    if builtin:
        return None
    reach: list[NodeReach] = []
    for rule in allow_rules:
        found = filters.get((rule.domain, rule.policy), ())
        if not rule.policy or not found:
            return None
        reach.extend(f for f in found if f not in reach)
    return tuple(reach)

# --- the audit trail ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: str
    org_id: str
    at: datetime
    actor: str  # "user:<id>" or "apikey:<id>"
    actor_name: str  # the user name, or the API key id
    action: str  # policy.create, role.update, user_role.add ...
    target: str  # the policy or role name, or the user name
    before: Any = None
    after: Any = None


def actor_of(principal: Principal) -> tuple[str, str]:
    return principal.subject, principal.user_name or principal.api_key_id or ""


@dataclass(frozen=True, slots=True)
class Explanation:
    allowed: bool
    user_id: str
    user_name: str
    roles: tuple[str, ...]
    matched: tuple[Rule, ...]  # every rule that matched the request
    deciding: tuple[Rule, ...]  # the Deny rules that refused it, or the Allow rules
    node_reach: tuple[NodeReach, ...] | None  # None: every node of the organization
    node_in_reach: bool | None  # whether node_id (when given) is within reach
    reason: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_id: str | None


def decision_reason(deciding: Sequence[Rule], *, allowed: bool, in_reach: bool) -> str:
    """Why explain() decided as it did, in words."""
    return ("denied by a Deny rule" if any(r.effect != ALLOW for r in deciding)
            else "no rule allows it" if not allowed
            else "the node is outside the role's node filters" if not in_reach
            else "allowed")
