"""SECURITY.md S3/S4: the authorization matrix (policies/authorization-matrix.yaml) lists the
least built-in role for every REST operation and GraphQL root field. This fails on any route
or field it does not list, on stale entries, and on any decision that differs; over real HTTP,
every admin operation answers 403 to each lower role level (an end user, an organization's own
level-2 role granting something else, and an admin where only superadmins may), before its
input is even read; a method a path does not serve answers 405."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from adapters.authz.casbin_authorizer import CasbinAuthorizer
from adapters.sql.policy_store import read_rule_file
from domain.access.model import Permission, Principal, PrincipalKind, declared_access
from fleetgate.container import POLICY_DIR
from graphql_api.schema import build_schema
from tests.conftest import Env
from tests.test_permissions_declared import _rest_operations

MATRIX = yaml.safe_load((POLICY_DIR / "authorization-matrix.yaml").read_text())
LEVELS = ["public", "user", "admin", "superadmin"]
OPS = {f"{op.method} {op.path}": op for op in _rest_operations()}
_SCHEMA = build_schema(max_depth=10, max_aliases=10, max_tokens=1000, production=False)
GQL = {f"{kind}.{field.python_name}": field
       for kind in ("Query", "Mutation", "Subscription")
       for field in getattr(_SCHEMA.get_type_by_name(kind), "fields", ())}


def _authorizer(extra: list[list[str]] | None = None) -> CasbinAuthorizer:
    authz = CasbinAuthorizer(POLICY_DIR / "model.conf", None)  # type: ignore[arg-type]
    authz.load(read_rule_file(POLICY_DIR / "builtin.csv") + (extra or []))
    return authz


def _permissions(uses: Any) -> list[Permission]:
    return [p for fn in uses if isinstance(p := declared_access(fn), Permission)]


def _who(*roles: str, org: str = "org-a") -> Principal:
    return Principal(kind=PrincipalKind.USER, org_id=org, user_id="u1", roles=frozenset(roles))


def test_the_matrix_lists_every_route_and_field_and_nothing_else() -> None:
    assert set(MATRIX["rest"]) == set(OPS), set(MATRIX["rest"]) ^ set(OPS)
    assert set(MATRIX["graphql"]) == set(GQL), set(MATRIX["graphql"]) ^ set(GQL)
    assert all(level in LEVELS for level in [*MATRIX["rest"].values(),
                                            *MATRIX["graphql"].values()])


def _check(uses: Any, least: str, public: bool = False) -> None:
    authz = _authorizer([["p", "stranger", "org-b", "/*", "*", "allow", "everything"]])
    permissions = _permissions(uses)
    if least == "public":
        assert public or not permissions
        return
    assert permissions
    for role in LEVELS[1:]:
        allowed = any(authz.allowed(_who(role), p) for p in permissions)
        assert allowed is (LEVELS.index(role) >= LEVELS.index(least)), (role, permissions)
    # no role at all, an unknown role, and another organization's role that allows everything
    for principal in (_who(), _who("auditor"), _who("stranger")):
        assert not any(authz.allowed(principal, p) for p in permissions)
    assert all(authz.allowed(_who("stranger", org="org-b"), p) for p in permissions)


@pytest.mark.parametrize("name", sorted(MATRIX["rest"]))
def test_rest_decisions_match_the_matrix(name: str) -> None:
    op = OPS[name]
    _check(op.uses, MATRIX["rest"][name], public=op.public or not op.auth)


@pytest.mark.parametrize("name", sorted(MATRIX["graphql"]))
def test_graphql_decisions_match_the_matrix(name: str) -> None:
    field = GQL[name]
    _check(field.metadata.get("uses", ()), MATRIX["graphql"][name])


async def test_every_admin_operation_refuses_lower_role_levels_over_http(env: Env) -> None:
    admin = {"Authorization": await env.provision("ops@acme.io", org="acme")}
    plain = {"Authorization": await env.provision("pat@acme.io", org="acme")}
    await env.provision("lead@acme.io", org="acme")
    for body, path in (
            ({"policy_name": "paths", "policy_json": {"statement": [
                {"Effect": "Allow", "Action": ["api:Get"],
                 "Resource": ["/v1/admin/api_paths_methods"]}]}}, "/v1/admin/policy"),
            ({"role_name": "lead", "policies": ["paths"], "role_level": 2}, "/v1/admin/role")):
        assert (await env.client.post(path, headers=admin, json=body)).status_code == 200
    r = await env.client.put("/v1/admin/user_role?user_name=lead@acme.io&operation=add",
                             headers=admin, json={"roles": ["lead"]})
    assert r.status_code == 200, r.text
    lead = {"Authorization": (await env.login("lead@acme.io"))["accesstoken"]}
    demoted = await env.provision("ann@acme.io", org="acme")
    r = await env.client.put("/v1/admin/user_role?user_name=ann@acme.io&operation=add",
                             headers=admin, json={"roles": ["admin"]})
    assert r.status_code == 200, r.text
    an_admin = {"Authorization": demoted}
    checked = 0
    for name, least in sorted(MATRIX["rest"].items()):
        if least not in ("admin", "superadmin"):
            continue
        method, path = name.split(" ", 1)
        url = path.replace("{", "x").replace("}", "x")
        lower = [plain] + ([lead] if name != "GET /v1/admin/api_paths_methods" else []) + \
            ([an_admin] if least == "superadmin" else [])
        for headers in lower:
            r = await env.client.request(method, url, headers=headers)
            refused = (r.status_code, r.json().get("code")) if path.startswith("/api/") \
                else (r.status_code, r.json().get("error_code"))  # EdgeFlow / RainMaker
            assert refused in ((400, 100004), (403, "FORBIDDEN")), (name, r.text)
            checked += 1
    assert checked >= 50
    # the level-2 role does reach what its policy grants
    r = await env.client.get("/v1/admin/api_paths_methods", headers=lead)
    assert r.status_code == 200


async def test_methods_a_path_does_not_serve_answer_405(env: Env) -> None:
    admin = {"Authorization": await env.provision("ops@acme.io", org="acme")}
    served: dict[str, set[str]] = {}
    for name in MATRIX["rest"]:
        method, path = name.split(" ", 1)
        served.setdefault(path, set()).add(method)
    for path, methods in served.items():
        url = path.replace("{", "x").replace("}", "x")
        for method in {"GET", "POST", "PUT", "DELETE", "PATCH"} - methods:
            r = await env.client.request(method, url, headers=admin)
            assert r.status_code == 405, (method, path, r.status_code)
