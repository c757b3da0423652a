"""Policy author tooling behind `fleetgate policy check | export | import` (policies/README.md).

- lint_policy: what is wrong (errors) or suspicious (warnings) in a RainMaker policy_json,
  checked against the API catalogue the gateway serves.
- run_table: a decision table (YAML) of expected allow/deny answers, decided by the real
  CasbinAuthorizer with the built-in rules and the role's compiled rules, without a database.
- export_org / import_org: an organization's policies and roles as files, written and read
  through the RolesAndPolicies use cases (validation, role levels and the audit trail apply).
"""

from __future__ import annotations

import functools
import json
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
    ANY_METHOD,
    DENY,
    NodeReach,
    PolicyDocument,
    Role,
    check_level,
    compile_role,
    key_match,
    parse_policy,
)
from domain.errors import ValidationFailed
from fleetgate.catalogue import ApiCatalogue

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # ERROR | WARNING
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


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


# --- the catalogue ---------------------------------------------------------------------------

@functools.cache
def build_catalogue() -> ApiCatalogue:
    """Every REST path and declared permission, as the gateway would serve them (no database
    is opened: the app is only built, not started)."""
    from fleetgate.app import create_app
    from fleetgate.settings import Settings

    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="s" * 40))
    catalogue: ApiCatalogue = app.state.container.catalogue()
    return catalogue


def builtin_rows() -> list[list[str]]:
    return read_rule_file(POLICY_DIR / "builtin.csv")


# --- linting ---------------------------------------------------------------------------------

def _covers(pattern: str, resource: str) -> bool:
    """Whether every path `resource` (itself possibly ending in "*") names is matched by
    `pattern`: the same pattern, or a wildcard prefix of it."""
    if pattern == resource:
        return True
    return pattern.endswith("*") and resource.startswith(pattern[:-1])


def _broad(resource: str) -> bool:
    """"/*", "/v1/*" or a whole API area such as "/v1/admin/*"."""
    if not resource.endswith("*"):
        return False
    parts = [p for p in resource[:-1].split("/") if p]
    return len(parts) <= 2


def lint_policy(raw: object, catalogue: ApiCatalogue) -> list[Finding]:
    """Errors: the document does not parse (schema, size, unknown action or effect) or a
    resource matches no API path. Warnings: an Allow fully shadowed by a Deny of the same
    document; an Allow of "/*" or of a whole API area ("/v1/admin/*")."""
    try:
        document = parse_policy(raw)
    except ValidationFailed as exc:
        return [Finding(ERROR, f"{exc.message} ({exc.reason})")]
    findings: list[Finding] = []
    paths = [path for path, _ in catalogue.paths()]
    seen: set[str] = set()
    for st in document.statements:
        for resource in st.resources:
            if resource not in seen and not any(key_match(p, resource) for p in paths):
                findings.append(Finding(ERROR, f"resource {resource!r} matches no API path "
                                               "(fleetgate serves none there)"))
            seen.add(resource)
    denies = [(r, m) for st in document.statements if st.effect == DENY
              for r in st.resources for m in st.methods]
    for st in document.statements:
        if st.effect != ALLOW:
            continue
        for resource in st.resources:
            for method in st.methods:
                shadow = next(((r, m) for r, m in denies if _covers(r, resource)
                               and m in (method, ANY_METHOD)), None)
                if shadow is not None:
                    findings.append(Finding(
                        WARNING, f"Allow {method} {resource} is shadowed by Deny "
                                 f"{shadow[1]} {shadow[0]}: it never grants anything"))
            if _broad(resource):
                methods = ", ".join(st.methods)
                findings.append(Finding(
                    WARNING, f"Allow {methods} on {resource!r} is a wildcard grant of a whole "
                             "API area; name the paths, or add Deny statements for what the "
                             "role must not reach"))
    return findings


def policy_file(raw: Any, default_name: str) -> tuple[str, Any]:
    """(policy name, policy_json) of a policy file: {"policy_name", "policy_json"} as
    `fleetgate policy export` writes it, or the bare policy_json (named after the file)."""
    if isinstance(raw, dict) and "policy_json" in raw:
        name = raw.get("policy_name") or default_name
        return str(name), raw["policy_json"]
    return default_name, raw


# --- decision tables -------------------------------------------------------------------------

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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TableError(f"{path}: not JSON ({exc})") from exc


def check_file(path: Path, table_path: Path | None = None) -> tuple[bool, list[str]]:
    """`fleetgate policy check`: (passed, lines to print). Fails on any lint error, a
    malformed table or a failed row; warnings do not fail."""
    import yaml

    lines: list[str] = []
    try:
        name, document = policy_file(_read_json(path), path.stem)
    except TableError as exc:
        return False, [f"error: {exc}"]
    findings = lint_policy(document, build_catalogue())
    lines.extend(f"{path.name}: {f}" for f in findings)
    ok = not any(f.level == ERROR for f in findings)
    if table_path is None:
        sibling = path.with_name(f"{path.stem}.table.yaml")
        table_path = sibling if sibling.exists() else None
    if table_path is None:
        lines.append(f"{path.name}: no decision table ({path.stem}.table.yaml)")
    else:
        try:
            table = yaml.safe_load(table_path.read_text())
            policies = {name: document}
            role = table.get("role") if isinstance(table, dict) else None
            wanted = role.get("policies", []) if isinstance(role, dict) else []
            for other in wanted if isinstance(wanted, list) else []:
                candidate = table_path.with_name(f"{other}.json")
                if other not in policies and isinstance(other, str) and candidate.exists():
                    policies[other] = policy_file(_read_json(candidate), other)[1]
            results = run_table(table, policies, builtin_rows())
        except (TableError, yaml.YAMLError) as exc:
            return False, [*lines, f"error: {table_path.name}: {exc}"]
        lines.extend(f"{table_path.name}: {r}" for r in results)
        failed = sum(not r.passed for r in results)
        ok = ok and not failed
        lines.append(f"{table_path.name}: {len(results) - failed} passed, {failed} failed")
    lines.append("OK" if ok else "FAILED")
    return ok, lines
