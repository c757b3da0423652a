"""The policy checker: lint findings of each kind, and decision tables passing and failing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from fleetgate.catalogue import ApiCatalogue
from fleetgate.policy_lint import ERROR, WARNING, lint_policy
from fleetgate.policy_tables import TableError, builtin_rows, run_table


@pytest.fixture(scope="module")
def catalogue() -> ApiCatalogue:
    ops = [SimpleNamespace(path=p, method=m, uses=()) for p, m in [
        ("/v1/admin/nodes", "GET"), ("/v1/admin/nodes", "PUT"), ("/v1/admin/nodes", "DELETE"),
        ("/v1/admin/nodes/tags", "GET"), ("/v1/admin/role", "GET"),
        ("/v1/admin/user_role", "PUT"), ("/v1/admin/audit_logs", "GET"), ("/v1/user2", "GET")]]
    found = ApiCatalogue()
    found.load(ops)
    return found


def _doc(*statements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"version": "1.0.0", "statement": list(statements), **extra}


def _st(effect: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": effect, "Action": actions, "Resource": resources}


def _levels(findings: list[Any]) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in findings]


def test_clean_policy_has_no_findings(catalogue: ApiCatalogue) -> None:
    assert lint_policy(_doc(_st("Allow", ["api:Get"], ["/v1/admin/nodes"])), catalogue) == []


def test_oversize_policy_is_an_error(catalogue: ApiCatalogue) -> None:
    big = _doc(*[_st("Allow", ["api:Get"], ["/v1/admin/nodes"])] * 60)
    findings = lint_policy(big, catalogue)
    assert [f.level for f in findings] == [ERROR]
    assert "policy_too_large" in findings[0].message


def test_unknown_action_is_an_error(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(_st("Allow", ["api:Fetch"], ["/v1/admin/nodes"])), catalogue)
    assert [f.level for f in findings] == [ERROR]
    assert "unknown action 'api:Fetch'" in findings[0].message


def test_unknown_effect_is_an_error(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(_st("Maybe", ["api:Get"], ["/v1/admin/nodes"])), catalogue)
    assert [f.level for f in findings] == [ERROR]
    assert "unknown effect 'Maybe'" in findings[0].message


def test_schema_error_is_reported(catalogue: ApiCatalogue) -> None:
    findings = lint_policy({"statement": [], "extra": 1}, catalogue)
    assert [f.level for f in findings] == [ERROR]


def test_resource_matching_no_route_is_an_error(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(_st("Allow", ["api:Get"], ["/v1/admin/otaimage",
                                                          "/v1/admin/nodes"])), catalogue)
    assert _levels(findings) == [(ERROR, "resource '/v1/admin/otaimage' matches no API path "
                                         "(fleetgate serves none there)")]


def test_unversioned_resource_is_canonicalised(catalogue: ApiCatalogue) -> None:
    assert lint_policy(_doc(_st("Allow", ["api:Get"], ["/admin/nodes/tags"])), catalogue) == []


def test_allow_shadowed_by_deny_is_a_warning(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(
        _st("Allow", ["api:Get", "api:Put"], ["/v1/admin/nodes"]),
        _st("Deny", ["api:Put"], ["/v1/admin/nodes"])), catalogue)
    assert [f.level for f in findings] == [WARNING]
    assert "Allow PUT /v1/admin/nodes is shadowed by Deny" in findings[0].message


def test_allow_shadowed_by_wildcard_deny(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(
        _st("Allow", ["api:Get"], ["/v1/admin/nodes/tags"]),
        _st("Deny", ["api:*"], ["/v1/admin/nodes*"])), catalogue)
    assert [f.level for f in findings] == [WARNING]
    assert "shadowed by Deny * /v1/admin/nodes*" in findings[0].message


def test_partial_deny_does_not_shadow(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(
        _st("Allow", ["api:Get"], ["/v1/admin/nodes*"]),
        _st("Deny", ["api:Get"], ["/v1/admin/nodes/tags"])), catalogue)
    assert findings == []


@pytest.mark.parametrize("resource", ["/*", "/v1/admin/*", "/v1/*"])
def test_wildcard_grants_are_warnings(catalogue: ApiCatalogue, resource: str) -> None:
    findings = lint_policy(_doc(_st("Allow", ["api:Get"], [resource])), catalogue)
    assert [f.level for f in findings] == [WARNING]
    assert "wildcard grant" in findings[0].message


def test_wildcard_deny_is_not_a_broad_grant(catalogue: ApiCatalogue) -> None:
    findings = lint_policy(_doc(_st("Allow", ["api:Get"], ["/v1/admin/nodes"]),
                                _st("Deny", ["api:*"], ["/v1/admin/*"])), catalogue)
    assert [f.level for f in findings] == [WARNING]
    assert "shadowed" in findings[0].message


# --- decision tables -----------------------------------------------------------------------

PUNE = _doc(_st("Allow", ["api:Get", "api:Put"], ["/v1/admin/nodes"]),
            filters=[{"type": "nodes", "rules": {"tags": ["location:pune"],
                                                 "type": ["led_light", "switch"]}}])


def _table(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"role": {"name": "pune-ops", "level": 2, "policies": ["pune-ops"]},
            "org": "org-a", "rows": list(rows)}


def _run(*rows: dict[str, Any]) -> list[Any]:
    return run_table(_table(*rows), {"pune-ops": PUNE}, builtin_rows())


def test_table_rows_pass() -> None:
    results = _run(
        {"resource": "/v1/admin/nodes", "action": "GET", "expect": "allow"},
        {"resource": "/v1/admin/nodes", "action": "api:Put", "expect": "allow"},
        {"resource": "/v1/admin/nodes", "action": "DELETE", "expect": "deny"},
        {"org": "org-b", "resource": "/v1/admin/nodes", "action": "GET", "expect": "deny"},
        {"resource": "/v1/admin/nodes", "action": "GET", "expect": "allow",
         "node": {"tags": ["location:pune"], "type": "switch"}},
        {"resource": "/v1/admin/nodes", "action": "GET", "expect": "deny",
         "node": {"tags": ["location:mumbai"], "type": "switch"}},
        {"resource": "/v1/admin/nodes", "action": "GET", "expect": "deny",
         "node": {"tags": ["location:pune"], "type": "thermostat"}},
        {"roles": ["admin"], "resource": "/v1/admin/audit_logs", "action": "GET",
         "expect": "deny"},
        {"roles": ["admin"], "resource": "/v1/admin/nodes", "action": "GET",
         "expect": "allow", "node": {"tags": ["location:mumbai"], "type": "switch"}},
    )
    assert [r.passed for r in results] == [True] * 9
    assert "outside the node filters" in results[5].detail
    assert str(results[0]).startswith("PASS row 1: org-a [pune-ops] GET /v1/admin/nodes")


def test_table_rows_fail() -> None:
    results = _run(
        {"resource": "/v1/admin/nodes", "action": "DELETE", "expect": "allow"},
        {"org": "org-b", "resource": "/v1/admin/nodes", "action": "GET", "expect": "allow"},
        {"resource": "/v1/admin/nodes", "action": "GET", "expect": "deny"},
    )
    assert [(r.passed, r.actual) for r in results] == [
        (False, "deny"), (False, "deny"), (False, "allow")]
    assert str(results[0]).startswith("FAIL row 1")


def test_table_deny_names_the_deciding_rule() -> None:
    policy = _doc(_st("Allow", ["api:*"], ["/v1/admin/*"]),
                  _st("Deny", ["api:*"], ["/v1/admin/role"]))
    table = {"role": {"name": "ops", "policies": ["no-roles"]}, "org": "o",
             "rows": [{"resource": "/v1/admin/role", "action": "GET", "expect": "deny"}]}
    [result] = run_table(table, {"no-roles": policy}, builtin_rows())
    assert result.passed and result.detail == "denied by Deny * /v1/admin/role of no-roles"


@pytest.mark.parametrize("table", [
    {"org": "o", "rows": [{"resource": "/v1/x", "action": "GET", "expect": "allow"}]},
    {"role": {"name": "r", "policies": ["missing"]}, "org": "o",
     "rows": [{"resource": "/v1/x", "action": "GET", "expect": "allow"}]},
    {"role": {"name": "r", "policies": []}, "org": "o", "rows": []},
    {"role": {"name": "r", "policies": []}, "org": "o",
     "rows": [{"resource": "/v1/x", "action": "GET", "expect": "maybe"}]},
    {"role": {"name": "r", "policies": []}, "org": "o",
     "rows": [{"resource": "/v1/x", "action": "GET", "expect": "deny", "typo": 1}]},
])
def test_malformed_tables_are_refused(table: dict[str, Any]) -> None:
    with pytest.raises(TableError):
        run_table(table, {}, builtin_rows())
