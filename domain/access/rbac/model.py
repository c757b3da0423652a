"""Organizations' own roles and policies (RainMaker's Roles and Policy Manager), as rules.

A policy is RainMaker's policy_json: statements {Effect, Action ["api:Get"...], Resource
[canonical REST paths, "*" wildcards]} and optional node filters. A role holds 1..10
policies and a role level (lower number = more power; superadmin 0, admin 1). Each role
compiles to flat rules (role, organization, resource, method, effect, policy) that the
Authorizer evaluates with Casbin; Deny overrides Allow.

Role levels rule who may do what to whom: assigning or removing a role, and
creating or changing one, needs a role of a strictly lower level number; level 0 may do
anything. Nobody can grant what they do not hold themselves.

Validating what policy authors write (names, levels, policy_json) is in validation.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.model import Permission, Principal
from domain.accounts.model import ADMIN, BUILTIN_ROLE_LEVELS, END_USER, SUPERADMIN
from domain.errors import Forbidden

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
