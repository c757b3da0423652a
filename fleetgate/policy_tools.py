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
from domain.access.model import Caller, Permission, Principal, PrincipalKind
from domain.access.rbac.model import (
    ALLOW,
    ANY_METHOD,
    BUILTIN_ROLES,
    DENY,
    NodeReach,
    PolicyDocument,
    Role,
    check_level,
    compile_role,
    key_match,
    parse_policy,
)
from domain.accounts.model import SUPERADMIN
from domain.errors import NotFound, ValidationFailed
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


# --- export and import -----------------------------------------------------------------------

def operator(org_id: str) -> Caller:
    """The CLI operator, acting as the organization's superadmin (audited as apikey:cli)."""
    principal = Principal(kind=PrincipalKind.API_KEY, org_id=org_id, api_key_id="cli",
                          roles=frozenset({SUPERADMIN}))
    return Caller(principal=principal, ip="cli")


def _dump_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


async def export_org(access: Any, caller: Caller, directory: Path) -> list[str]:
    """Writes directory/policies/<name>.json and directory/roles.yaml; returns the files."""
    written: list[str] = []
    policy_dir = directory / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    for policy in sorted(await access.policies(caller), key=lambda p: p.name):
        path = policy_dir / f"{policy.name}.json"
        path.write_text(json.dumps(policy.as_json(), indent=2, ensure_ascii=False) + "\n")
        written.append(str(path))
    roles = [{"name": r.name, "level": r.level, "policies": list(r.policies)}
             for r in sorted(await access.roles(caller), key=lambda r: r.name)
             if r.name not in BUILTIN_ROLES and r.org_id != "*"]
    path = directory / "roles.yaml"
    path.write_text(_dump_yaml({"roles": roles}))
    written.append(str(path))
    return written


def read_export(directory: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(policy name → policy_json, roles) from a directory `export_org` wrote."""
    import yaml

    policies: dict[str, Any] = {}
    for path in sorted((directory / "policies").glob("*.json")):
        name, document = policy_file(json.loads(path.read_text()), path.stem)
        policies[name] = document
    roles_path = directory / "roles.yaml"
    roles: list[dict[str, Any]] = []
    if roles_path.exists():
        data = yaml.safe_load(roles_path.read_text()) or {}
        raw_roles = data.get("roles", []) if isinstance(data, dict) else data
        if not isinstance(raw_roles, list) or not all(
                isinstance(r, dict) and isinstance(r.get("name"), str) for r in raw_roles):
            raise ValidationFailed("roles.yaml is roles: [{name, level, policies}]",
                                   reason="invalid_roles_file")
        roles = raw_roles
    return policies, roles


async def import_org(access: Any, caller: Caller, directory: Path) -> list[str]:
    """Creates or updates the directory's policies, then its roles (create, or add missing
    policies and change the level). Returns what changed; nothing when already in place.
    Policies a role holds but the file omits are left attached."""
    policies, roles = read_export(directory)
    existing = {p.name: p for p in await access.policies(caller)}
    changes: list[str] = []
    for name, document in policies.items():
        current = existing.get(name)
        if current is None:
            await access.create_policy(caller, name=name, policy_json=document)
            changes.append(f"created policy {name}")
        elif dict(current.document.raw) != document:
            await access.update_policy(caller, name=name, policy_json=document)
            changes.append(f"updated policy {name}")
    for spec in roles:
        name, wanted, level = spec["name"], list(spec.get("policies") or []), spec.get("level")
        try:
            current_role = (await access.roles(caller, name=name))[0]
        except NotFound:
            current_role = None
        if current_role is None:
            await access.create_role(caller, name=name, policies=wanted, level=level)
            changes.append(f"created role {name}")
            continue
        missing = [p for p in wanted if p not in current_role.policies]
        new_level = level if level is not None and level != current_role.level else None
        if missing or new_level is not None:
            await access.update_role(caller, name=name, operation="add",
                                     policies=missing or None, level=new_level)
            what = [f"+{p}" for p in missing] + ([f"level {new_level}"] if new_level else [])
            changes.append(f"updated role {name}: {', '.join(what)}")
    return changes
