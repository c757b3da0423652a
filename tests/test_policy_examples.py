"""`fleetgate policy check` passes on every example in policies/examples (how CI checks
them), fails on a broken table, and export → import copies one organization's policies
and roles into another, idempotently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from fleetgate.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "policies" / "examples"
SECRET = "x" * 40


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_example_policy_checks(path: Path) -> None:
    assert path.with_name(f"{path.stem}.table.yaml").exists(), "every example has a table"
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output and result.output.rstrip().endswith("OK")


def test_check_fails_on_a_failed_row_and_on_lint_errors(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"statement": [
        {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/admin/nodes"]}]}))
    table = tmp_path / "t.yaml"
    table.write_text(yaml.safe_dump({
        "role": {"name": "r", "policies": ["p"]}, "org": "o",
        "rows": [{"resource": "/v1/admin/nodes", "action": "GET", "expect": "allow"},
                 {"resource": "/v1/admin/nodes", "action": "PUT", "expect": "allow"}]}))
    result = CliRunner().invoke(main, ["policy", "check", str(policy), "--table", str(table)])
    assert result.exit_code == 1
    assert "PASS row 1" in result.output and "FAIL row 2" in result.output
    policy.write_text(json.dumps({"statement": [
        {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/admin/nowhere"]}]}))
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])
    assert result.exit_code == 1 and "matches no API path" in result.output


def _cli(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result


def test_export_import_round_trip(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db", "FLEETGATE_SECRET": SECRET,
           "LOG_LEVEL": "WARNING"}
    for org in ("org-a", "org-b"):
        _cli(env, "org", "create", org)
        _cli(env, "user", "create", f"root@{org}.example", "--password", "Secret-pass1",
             "--superadmin", "--org", org)
    source = tmp_path / "source"
    (source / "policies").mkdir(parents=True)
    for path in EXAMPLES.glob("*.json"):
        shutil.copy(path, source / "policies" / path.name)
    roles = [yaml.safe_load(t.read_text())["role"] for t in sorted(EXAMPLES.glob("*.table.yaml"))]
    (source / "roles.yaml").write_text(yaml.safe_dump({"roles": roles}))

    first = _cli(env, "policy", "import", "--org", "org-a", str(source)).output
    assert "created policy pune-ops" in first and "created role pune-ops" in first
    assert _cli(env, "policy", "import", "--org", "org-a", str(source)).output.strip() \
        == "nothing changed"

    exported_a, exported_b = tmp_path / "a", tmp_path / "b"
    _cli(env, "policy", "export", "--org", "org-a", str(exported_a))
    _cli(env, "policy", "export", "--org", "org-b", str(tmp_path / "empty"))
    assert not list((tmp_path / "empty" / "policies").glob("*.json"))
    assert "created role" in _cli(env, "policy", "import", "--org", "org-b",
                                  str(exported_a)).output
    assert _cli(env, "policy", "import", "--org", "org-b",
                str(exported_a)).output.strip() == "nothing changed"
    _cli(env, "policy", "export", "--org", "org-b", str(exported_b))

    def files(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
                if p.is_file()}

    assert files(exported_a) == files(exported_b)
    assert sorted(r["name"] for r in yaml.safe_load(
        (exported_b / "roles.yaml").read_text())["roles"]) == sorted(r["name"] for r in roles)

    # a changed policy and a changed role level are updated, and only those
    pune = exported_b / "policies" / "pune-ops.json"
    doc = json.loads(pune.read_text())
    doc["policy_json"]["filters"][0]["rules"]["tags"] = ["location:mumbai"]
    pune.write_text(json.dumps(doc))
    data = yaml.safe_load((exported_b / "roles.yaml").read_text())
    for role in data["roles"]:
        if role["name"] == "fleet-readonly":
            role["level"] = 7
    (exported_b / "roles.yaml").write_text(yaml.safe_dump(data))
    changed = _cli(env, "policy", "import", "--org", "org-a", str(exported_b)).output
    assert changed.splitlines() == ["updated policy pune-ops",
                                    "updated role fleet-readonly: level 7"]
