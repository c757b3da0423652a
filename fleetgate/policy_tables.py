"""Decision tables (policies/README.md): rows of expected allow/deny answers, decided by the
real CasbinAuthorizer with the built-in rules and the table's role compiled in its
organization, without a database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.authz.casbin_authorizer import CasbinAuthorizer
from adapters.sql.policy_store import read_rule_file
from domain.access.model import Permission, Principal, PrincipalKind
from domain.access.rbac.model import (
    ALLOW,
    DENY,
    NodeReach,
    PolicyDocument,
    Role,
    compile_role,
)
from domain.access.rbac.validation import check_level, parse_policy
from domain.errors import ValidationFailed

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


@dataclass(frozen=True, slots=True)
class RowResult:
    index: int  # 1-based row number in the table
    description: str  # "org-a [pune-ops] GET /v1/admin/nodes"
    expected: str  # "allow" | "deny"
    actual: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def __str__(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        extra = f" ({self.detail})" if self.detail else ""
        return (f"{verdict} row {self.index}: {self.description}: expected {self.expected}, "
                f"got {self.actual}{extra}")


class TableError(ValueError):
    """The decision table itself is malformed."""


def builtin_rows() -> list[list[str]]:
    return read_rule_file(POLICY_DIR / "builtin.csv")


def _strings(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TableError(f"{what} must be a string or a list of strings")
    return list(value)


def _table_role(table: Mapping[str, Any], org: str) -> Role:
    spec = table.get("role")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise TableError("the table needs role: {name: ..., policies: [...]}")
    try:
        level = check_level(spec.get("level", 2))
    except ValidationFailed as exc:
        raise TableError(f"role level: {exc.message}") from exc
    now = datetime.now(UTC)
    return Role(org_id=org, name=spec["name"], level=level,
                policies=_strings(spec.get("policies", []), "role policies"),
                created_at=now, updated_at=now)


def run_table(table: Mapping[str, Any], policies: Mapping[str, Any],
              builtin: Iterable[Sequence[str]], *, model_path: Path | None = None
              ) -> list[RowResult]:
    """Decides every row of a decision table (format: policies/README.md) with the
    CasbinAuthorizer loaded with the built-in rules and the table's role compiled in its
    organization. `policies` maps policy names to their policy_json."""
    if not isinstance(table, Mapping):
        raise TableError("a decision table is a mapping with role, org and rows")
    org = table.get("org")
    if not isinstance(org, str) or not org:
        raise TableError("the table needs org: <organization>")
    role = _table_role(table, org)
    documents: dict[str, PolicyDocument] = {}
    for name in role.policies:
        if name not in policies:
            raise TableError(f"role {role.name!r} names policy {name!r}, which is not given")
        try:
            documents[name] = parse_policy(policies[name])
        except ValidationFailed as exc:
            raise TableError(f"policy {name!r} is invalid: {exc.message}") from exc
    rows = [*builtin, *(r.row() for r in compile_role(role, documents))]
    filters = {(org, name): doc.filters for name, doc in documents.items() if doc.filters}

    class _NoStore:
        async def load_rules(self) -> list[list[str]]:
            return []

        async def load_filters(self) -> dict[tuple[str, str], tuple[NodeReach, ...]]:
            return {}

    authorizer = CasbinAuthorizer(model_path or POLICY_DIR / "model.conf", _NoStore())
    authorizer.load(rows, filters)
    spec_rows = table.get("rows")
    if not isinstance(spec_rows, list) or not spec_rows:
        raise TableError("the table needs rows: [...]")
    return [_decide(authorizer, i, row, org, role.name) for i, row in enumerate(spec_rows, 1)]


def _decide(authorizer: CasbinAuthorizer, index: int, row: Any, org: str,
            role_name: str) -> RowResult:
    if not isinstance(row, dict):
        raise TableError(f"row {index} is not a mapping")
    unknown = set(row) - {"org", "roles", "resource", "action", "node", "expect", "note"}
    if unknown:
        raise TableError(f"row {index}: unknown key {sorted(unknown)[0]!r}")
    resource, action, expect = row.get("resource"), row.get("action"), row.get("expect")
    if not isinstance(resource, str) or not resource.startswith("/"):
        raise TableError(f"row {index}: resource is a REST path such as /v1/admin/nodes")
    if not isinstance(action, str) or not action.strip():
        raise TableError(f"row {index}: action is an HTTP method such as GET")
    if expect not in (ALLOW, DENY):
        raise TableError(f"row {index}: expect is allow or deny")
    method = action.strip().upper().removeprefix("API:")
    row_org = row.get("org", org)
    if not isinstance(row_org, str) or not row_org:
        raise TableError(f"row {index}: org is an organization name")
    roles = _strings(row.get("roles", [role_name]), f"row {index}: roles")
    principal = Principal(kind=PrincipalKind.USER, org_id=row_org, user_id="u1",
                          roles=frozenset(roles))
    permission = Permission(resource, method)
    allowed = authorizer.allowed(principal, permission)
    detail = ""
    if not allowed:
        _, deciding, _ = authorizer.explain(principal, permission)
        denies = [r for r in deciding if r.effect != ALLOW]
        detail = (f"denied by Deny {denies[0].action} {denies[0].resource}"
                  f"{f' of {denies[0].policy}' if denies[0].policy else ''}"
                  if denies else "no rule allows it")
    node = row.get("node")
    where = ""
    if node is not None:
        if not isinstance(node, dict) or set(node) - {"tags", "type"}:
            raise TableError(f"row {index}: node is {{tags: [...], type: ...}}")
        tags = _strings(node.get("tags", []), f"row {index}: node tags")
        node_type = node.get("type", "")
        if not isinstance(node_type, str):
            raise TableError(f"row {index}: node type is a string")
        where = f" on node {node_type or '?'} {tags}"
        if allowed:
            reach = authorizer.node_reach(principal, permission)
            allowed = reach is None or any(r.matches(tags, node_type) for r in reach)
            detail = "" if allowed else "the node is outside the node filters"
    description = f"{row_org} [{', '.join(sorted(roles))}] {method} {resource}{where}"
    return RowResult(index=index, description=description, expected=expect,
                     actual=ALLOW if allowed else DENY, detail=detail)
