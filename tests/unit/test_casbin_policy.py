"""The Casbin model and built-in rules as a truth table (S4), on the real model.conf and
policies/builtin.csv."""

from __future__ import annotations

import pytest

from adapters.authz.casbin_authorizer import CasbinAuthorizer
from adapters.sql.policy_store import read_rule_file
from domain.access.model import Permission, Principal, PrincipalKind
from domain.errors import Forbidden
from fleetgate.container import POLICY_DIR

BUILTIN = read_rule_file(POLICY_DIR / "builtin.csv")


class ListStore:
    def __init__(self, rules: list[list[str]]) -> None:
        self.rules = rules

    async def load_rules(self) -> list[list[str]]:
        return self.rules

    async def load_filters(self) -> dict:  # type: ignore[type-arg]
        return {}


async def authorizer(extra: list[list[str]] | None = None) -> CasbinAuthorizer:
    authz = CasbinAuthorizer(POLICY_DIR / "model.conf", ListStore(BUILTIN + (extra or [])))
    await authz.reload()
    return authz


def who(*roles: str, org: str = "org-a", user: str = "u1") -> Principal:
    return Principal(kind=PrincipalKind.USER, org_id=org, user_id=user, roles=frozenset(roles))


TABLE = [
    # roles, resource, action, allowed
    (("superadmin",), "/v1/admin/otaimage", "POST", True),
    (("superadmin",), "/v1/admin/apikeys", "DELETE", True),
    (("admin",), "/v1/admin/apikeys", "POST", True),
    (("admin",), "/v1/user2", "GET", True),
    (("admin",), "/v1/billing", "GET", False),
    (("user",), "/v1/user2", "GET", True),
    (("user",), "/v1/user2", "DELETE", True),
    (("user",), "/v1/user/nodes", "GET", True),
    (("user",), "/v1/logout2", "POST", True),
    (("user",), "/v1/password2", "PUT", True),
    (("user",), "/v1/admin/apikeys", "POST", False),
    (("user",), "/v1/admin/apikeys", "GET", False),
    (("user",), "/v1/organization", "GET", True),
    (("user",), "/v1/organization", "PUT", False),
    ((), "/v1/user2", "GET", False),
    (("stranger-role",), "/v1/user2", "GET", False),
]


@pytest.mark.parametrize(("roles", "resource", "action", "allowed"), TABLE)
async def test_builtin_truth_table(roles: tuple[str, ...], resource: str, action: str,
                                   allowed: bool) -> None:
    authz = await authorizer()
    assert authz.allowed(who(*roles), Permission(resource, action)) is allowed


async def test_org_specific_rules_do_not_cross_domains() -> None:
    authz = await authorizer([["p", "auditor", "org-a", "/v1/admin/*", "GET", "allow"]])
    assert authz.allowed(who("auditor", org="org-a"), Permission("/v1/admin/otajob", "GET"))
    assert not authz.allowed(who("auditor", org="org-b"), Permission("/v1/admin/otajob", "GET"))
    assert not authz.allowed(who("auditor", org="org-a"), Permission("/v1/admin/otajob", "PUT"))


async def test_deny_overrides_allow_across_roles() -> None:
    authz = await authorizer([["p", "no-keys", "org-a", "/v1/admin/apikeys", "*", "deny"]])
    assert authz.allowed(who("admin"), Permission("/v1/admin/apikeys", "POST"))
    with pytest.raises(Forbidden):
        await authz.authorize(who("admin", "no-keys"), Permission("/v1/admin/apikeys", "POST"))


async def test_rules_can_name_a_single_user() -> None:
    authz = await authorizer([["p", "user:u9", "org-a", "/v1/admin/apikeys", "GET", "allow"]])
    assert authz.allowed(who("user", user="u9"), Permission("/v1/admin/apikeys", "GET"))
    assert not authz.allowed(who("user", user="u8"), Permission("/v1/admin/apikeys", "GET"))


def test_no_wildcard_domain_rules_outside_the_builtin_file() -> None:
    # only the built-in roles may use the "*" domain (S4 policy lint)
    assert {r[1] for r in BUILTIN if r[2] == "*"} <= {"superadmin", "admin", "user"}


def test_only_built_in_roles_have_rules_for_every_organization() -> None:
    """S4: a wildcard domain ("*") appears only on the built-in roles' rules; an
    organization's compiled rules always carry its own id."""
    from domain.access.rbac.model import BUILTIN_ROLES

    assert all(row[2] == "*" and row[1] in BUILTIN_ROLES for row in BUILTIN)


ORG_RULES = [
    ["p", "ops", "org-a", "/v1/admin/nodes", "GET", "allow", "read"],
    ["p", "ops", "org-a", "/v1/admin/*", "*", "allow", "all"],
    ["p", "ops", "org-a", "/v1/admin/role", "*", "deny", "no-roles"],
]
ORG_TABLE = [
    # roles, org, resource, action, allowed
    (("ops",), "org-a", "/v1/admin/nodes", "GET", True),
    (("ops",), "org-a", "/v1/admin/node_group", "DELETE", True),
    (("ops",), "org-a", "/v1/admin/role", "GET", False),  # Deny overrides Allow
    (("ops",), "org-a", "/v1/user2", "GET", False),
    (("ops",), "org-b", "/v1/admin/nodes", "GET", False),  # cross-organization
    (("ops", "user"), "org-b", "/v1/user2", "GET", True),
    (("admin",), "org-a", "/v1/admin/audit_logs", "GET", False),
    (("superadmin",), "org-b", "/v1/admin/audit_logs", "GET", True),
]


@pytest.mark.parametrize(("roles", "org", "resource", "action", "allowed"), ORG_TABLE)
async def test_organization_rules_truth_table(roles: tuple[str, ...], org: str, resource: str,
                                              action: str, allowed: bool) -> None:
    authz = await authorizer(ORG_RULES)
    assert authz.allowed(who(*roles, org=org), Permission(resource, action)) is allowed
