"""`fleetgate policy export | import`: an organization's policies and roles as files (a
policies file and roles.yaml), written and read back through the same use cases as the APIs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain.access.model import Caller, Principal, PrincipalKind
from domain.access.rbac.model import (
    BUILTIN_ROLES,
)
from domain.accounts.model import SUPERADMIN
from domain.errors import NotFound, ValidationFailed
from fleetgate.policy_tools import policy_file


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
    for policy in sorted(await access.policies.policies(caller), key=lambda p: p.name):
        path = policy_dir / f"{policy.name}.json"
        path.write_text(json.dumps(policy.as_json(), indent=2, ensure_ascii=False) + "\n")
        written.append(str(path))
    roles = [{"name": r.name, "level": r.level, "policies": list(r.policies)}
             for r in sorted(await access.roles.roles(caller), key=lambda r: r.name)
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
    existing = {p.name: p for p in await access.policies.policies(caller)}
    changes: list[str] = []
    for name, document in policies.items():
        current = existing.get(name)
        if current is None:
            await access.policies.create_policy(caller, name=name, policy_json=document)
            changes.append(f"created policy {name}")
        elif dict(current.document.raw) != document:
            await access.policies.update_policy(caller, name=name, policy_json=document)
            changes.append(f"updated policy {name}")
    for spec in roles:
        name, wanted, level = spec["name"], list(spec.get("policies") or []), spec.get("level")
        try:
            current_role = (await access.roles.roles(caller, name=name))[0]
        except NotFound:
            current_role = None
        if current_role is None:
            await access.roles.create_role(caller, name=name, policies=wanted, level=level)
            changes.append(f"created role {name}")
            continue
        missing = [p for p in wanted if p not in current_role.policies]
        new_level = level if level is not None and level != current_role.level else None
        if missing or new_level is not None:
            await access.roles.update_role(caller, name=name, operation="add",
                                     policies=missing or None, level=new_level)
            what = [f"+{p}" for p in missing] + ([f"level {new_level}"] if new_level else [])
            changes.append(f"updated role {name}: {', '.join(what)}")
    return changes
