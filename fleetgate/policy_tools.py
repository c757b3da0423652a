"""Policy author tooling behind `fleetgate policy check | export | import` (policies/README.md):
policy files, and the check command over the linter (policy_lint.py) and the decision
tables (policy_tables.py). Export and import (policy_exchange.py) write and read policies
through the access use cases (validation, role levels and the audit trail apply).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fleetgate.catalogue import ApiCatalogue
from fleetgate.policy_lint import ERROR, lint_policy
from fleetgate.policy_tables import TableError, builtin_rows, run_table


@functools.cache
def build_catalogue() -> ApiCatalogue:
    """Every REST path and declared permission, as the gateway would serve them (no database
    is opened: the app is only built, not started)."""
    from fleetgate.app import create_app
    from fleetgate.settings import Settings

    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret="s" * 40))
    catalogue: ApiCatalogue = app.state.container.catalogue()
    return catalogue


def policy_file(raw: Any, default_name: str) -> tuple[str, Any]:
    """(policy name, policy_json) of a policy file: {"policy_name", "policy_json"} as
    `fleetgate policy export` writes it, or the bare policy_json (named after the file)."""
    if isinstance(raw, dict) and "policy_json" in raw:
        name = raw.get("policy_name") or default_name
        return str(name), raw["policy_json"]
    return default_name, raw


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
