"""Roles and policies in the domain, on in-memory fakes: policy documents, compilation to
rules, role levels, the last superadmin, granting only what one holds, the audit trail, and
no partial writes when a change is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.access.model import Caller, Permission, Principal, PrincipalKind
from domain.access.policies import Policies
from domain.access.rbac.model import (
    NodeReach,
    Role,
    Rule,
    compile_role,
    explain_rules,
    key_match,
    level_of,
    reach_of,
)
from domain.access.rbac.validation import canonical_resource, parse_policy
from domain.access.review import AccessReview
from domain.access.role_assignments import RoleAssignments
from domain.access.roles import Roles
from domain.access.use_cases import AccessUseCases
from domain.accounts.model import ADMIN, END_USER, SUPERADMIN, User
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.store import Store

ORG = "org-a"
READ_NODES = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                             "Resource": ["/v1/admin/nodes"]}]}


class Catalogue:
    def paths(self) -> list[tuple[str, list[str]]]:
        return [("/v1/admin/nodes", ["GET", "PUT"]), ("/v1/admin/role", ["GET", "POST"]),
                ("/v1/admin/audit_logs", ["GET"]), ("/v1/user/nodes", ["GET"])]

    def permissions(self) -> frozenset[Permission]:
        return frozenset(Permission(p, m) for p, ms in self.paths() for m in ms)


class Watcher:
    def __init__(self) -> None:
        self.changed_orgs: list[str] = []

    async def changed(self, org_id: str) -> None:
        self.changed_orgs.append(org_id)


def principal(*roles: str, user_id: str | None = "boss", org: str = ORG) -> Principal:
    return Principal(kind=PrincipalKind.USER, org_id=org, user_id=user_id,
                     user_name=f"{user_id}@x.io", roles=frozenset(roles))


def make() -> tuple[AccessUseCases, Store, AllowAll, Watcher]:
    store, authz, watcher = Store(), AllowAll(), Watcher()
    ids, clock, catalogue = SequentialIds(), FakeClock(), Catalogue()

    def uow(org: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(store, org)

    authoring = {"uow": uow, "ids": ids, "clock": clock, "authorizer": authz,
                 "watcher": watcher, "catalogue": catalogue}
    service = AccessUseCases(
        policies=Policies(**authoring), roles=Roles(**authoring),
        assignments=RoleAssignments(uow=uow, ids=ids, clock=clock, authorizer=authz),
        review=AccessReview(uow=uow, authorizer=authz, catalogue=catalogue))
    return service, store, authz, watcher


def add_user(store: Store, user_id: str, *roles: str, org: str = ORG) -> User:
    user = User(id=user_id, org_id=org, user_name=f"{user_id}@x.io", password_hash="h",
                created_at=datetime(2026, 1, 1, tzinfo=UTC), confirmed=True,
                roles={END_USER, *roles})
    store.users[user_id] = user
    return user


# --- documents and rules -----------------------------------------------------------------

def test_policy_documents_accept_both_spellings_and_unversioned_paths() -> None:
    doc = parse_policy({"statement": [
        {"effect": "allow", "action": ["api:get", "API:PUT"], "resource": ["/admin/nodes"]},
        {"Effect": "Deny", "Action": ["api:*"], "Resource": ["/{version}/admin/*"]}]})
    assert [(s.effect, s.methods, s.resources) for s in doc.statements] == [
        ("allow", ("GET", "PUT"), ("/v1/admin/nodes",)),
        ("deny", ("*",), ("/v1/admin/*",))]
    assert canonical_resource("/v1/user/nodes") == "/v1/user/nodes"


@pytest.mark.parametrize("raw", [
    None, [], {"statement": []}, {"statement": [{"Effect": "Allow", "Action": ["api:Get"]}]},
    {"statement": [{"Effect": "Maybe", "Action": ["api:Get"], "Resource": ["/v1/x"]}]},
    {"statement": [{"Effect": "Allow", "Action": ["Get"], "Resource": ["/v1/x"]}]},
    {"statement": [{"Effect": "Allow", "Action": ["api:Get"], "Resource": ["v1/x"]}]},
    {"statement": [{"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/*/x"]}]},
    {"statement": [{"Effect": "Allow", "Action": [], "Resource": ["/v1/x"]}]},
    {"statement": [{"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/x"],
                    "Condition": {}}]},
    {**READ_NODES, "filters": [{"type": "users", "rules": {"tags": ["a:b"]}}]},
    {**READ_NODES, "filters": [{"type": "nodes", "rules": {}}]},
    {**READ_NODES, "filters": [{"type": "nodes", "rules": {"tags": ["no-colon"]}}]},
    {**READ_NODES, "extra": 1},
])
def test_malformed_documents_are_refused(raw: object) -> None:
    with pytest.raises(ValidationFailed):
        parse_policy(raw)


def test_size_limit_is_2_kb_of_compact_json() -> None:
    def doc(n: int) -> dict[str, object]:
        return {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                               "Resource": ["/v1/" + "a" * 150] * 12 + ["/v1/" + "b" * n]}]}
    base = len(json.dumps(doc(0), separators=(",", ":")))
    assert 2048 - base < 190
    parse_policy(doc(2048 - base))
    with pytest.raises(ValidationFailed) as err:
        parse_policy(doc(2049 - base))
    assert err.value.reason == "policy_too_large"


def test_roles_compile_to_one_rule_per_statement_action_and_resource() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    role = Role(org_id=ORG, name="ops", level=2, policies=["a", "b", "gone"], created_at=now,
                updated_at=now)
    docs = {"a": parse_policy({"statement": [{"Effect": "Allow", "Action": ["api:Get",
                                                                            "api:Put"],
                                              "Resource": ["/v1/admin/nodes", "/v1/x/*"]}]}),
            "b": parse_policy({"statement": [{"Effect": "Deny", "Action": ["api:Put"],
                                              "Resource": ["/v1/x/*"]}]})}
    rules = compile_role(role, docs)
    assert len(rules) == 5
    assert Rule("ops", ORG, "/v1/x/*", "PUT", "deny", "b") in rules
    matched, deciding, allowed = explain_rules(rules, Permission("/v1/x/y", "PUT"))
    assert not allowed and [r.effect for r in deciding] == ["deny"] and len(matched) == 2
    assert explain_rules(rules, Permission("/v1/x/y", "GET"))[2] is True
    assert key_match("/v1/x", "/v1/x/*") is False and key_match("/v1/x/", "/v1/x/*")


def test_reach_is_the_union_of_the_allowing_policies_filters() -> None:
    pune, mumbai = NodeReach(tags=("location:pune",)), NodeReach(types=("switch",))
    rules = [Rule("r1", ORG, "/v1/admin/nodes", "GET", "allow", "p1"),
             Rule("r2", ORG, "/v1/admin/nodes", "GET", "allow", "p2")]
    filters = {(ORG, "p1"): (pune,), (ORG, "p2"): (mumbai,)}
    assert reach_of(rules, filters, builtin=False) == (pune, mumbai)
    assert reach_of(rules[:1], {}, builtin=False) is None  # a policy without filters
    assert reach_of(rules, filters, builtin=True) is None
    assert pune.matches(["location:pune", "x:y"], "light")
    assert not NodeReach(tags=("location:pune",), types=("switch",)).matches(
        ["location:pune"], "light")


def test_levels() -> None:
    assert level_of({SUPERADMIN, "ops"}, {"ops": 3}) == 0
    assert level_of({"ops", "junior"}, {"ops": 3, "junior": 5}) == 3
    assert level_of({END_USER}, {}) is None


# --- use cases ---------------------------------------------------------------------------

async def test_policy_and_role_changes_compile_rules_audit_and_notify() -> None:
    service, store, _, watcher = make()
    boss = Caller(principal=principal(SUPERADMIN))
    await service.policies.create_policy(boss, name="read", policy_json=READ_NODES)
    await service.roles.create_role(boss, name="reader", policies=["read"], level=3)
    assert store.access.rules[ORG] == [Rule("reader", ORG, "/v1/admin/nodes", "GET", "allow",
                                            "read")]
    wider = {"statement": [{"Effect": "Allow", "Action": ["api:Get", "api:Put"],
                            "Resource": ["/v1/admin/nodes"]}]}
    await service.policies.update_policy(boss, name="read", policy_json=wider)
    assert {r.action for r in store.access.rules[ORG]} == {"GET", "PUT"}
    assert watcher.changed_orgs == [ORG] * 3
    actions = [e.action for e in store.access.audit]
    assert actions == ["policy.create", "role.create", "policy.update"]
    update = store.access.audit[-1]
    assert update.before["policy_json"] == READ_NODES and update.after["policy_json"] == wider
    assert update.actor == "user:boss"


async def test_role_levels_rule_who_assigns_what() -> None:
    service, store, _, _ = make()
    boss = Caller(principal=principal(SUPERADMIN))
    await service.policies.create_policy(boss, name="read", policy_json=READ_NODES)
    for name, level in (("lead", 2), ("peer", 2), ("junior", 3)):
        await service.roles.create_role(boss, name=name, policies=["read"], level=level)
    add_user(store, "lead", "lead")
    add_user(store, "pat")
    lead = Caller(principal=principal(END_USER, "lead", user_id="lead"))
    assert await service.assignments.change_roles(lead, operation="add", roles=["junior"],
                                                  user_name="pat@x.io") == ["junior", "user"]
    for role in ("peer", "lead", ADMIN, SUPERADMIN, END_USER):
        with pytest.raises(Forbidden):
            await service.assignments.change_roles(lead, operation="add", roles=[role],
                                                   user_name="pat@x.io")
    with pytest.raises(Forbidden) as err:
        await service.assignments.change_roles(lead, operation="add", roles=["junior"],
                                               user_name="lead@x.io")
    assert err.value.reason == "self_operation"
    nobody = Caller(principal=principal(END_USER, user_id="pat"))
    with pytest.raises(Forbidden) as err:
        await service.assignments.change_roles(nobody, operation="remove", roles=["junior"],
                                               user_name="lead@x.io")
    assert err.value.reason == "actor_has_no_level"
    with pytest.raises(ValidationFailed):
        await service.assignments.change_roles(boss, operation="add", roles=["ghost"],
                                               user_name="pat@x.io")
    with pytest.raises(NotFound):
        await service.assignments.change_roles(boss, operation="add", roles=["junior"],
                                               user_name="ghost@x.io")


async def test_the_organization_keeps_a_superadmin() -> None:
    service, store, _, _ = make()
    add_user(store, "only", SUPERADMIN)
    operator = Caller(principal=principal(SUPERADMIN, user_id=None))  # e.g. the CLI
    with pytest.raises(Conflict) as err:
        await service.assignments.change_roles(operator, operation="remove", roles=[SUPERADMIN],
                                               user_name="only@x.io")
    assert err.value.reason == "last_superadmin"
    add_user(store, "second", SUPERADMIN)
    await service.assignments.change_roles(operator, operation="remove", roles=[SUPERADMIN],
                                           user_name="only@x.io")
    assert SUPERADMIN not in store.users["only"].roles


async def test_nobody_grants_what_they_do_not_hold() -> None:
    service, store, authz, _ = make()
    authz.denied = {"/v1/admin/audit_logs"}
    admin = Caller(principal=principal(ADMIN))
    with pytest.raises(Forbidden) as err:
        await service.policies.create_policy(admin, name="all", policy_json={"statement": [
            {"Effect": "Allow", "Action": ["api:*"], "Resource": ["/v1/admin/*"]}]})
    assert err.value.reason == "grant_exceeds_own"
    # a Deny is never a grant, and naming only what one holds is fine
    await service.policies.create_policy(admin, name="no-log", policy_json={"statement": [
        {"Effect": "Deny", "Action": ["api:*"], "Resource": ["/v1/admin/audit_logs"]},
        {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/admin/nodes"]}]})
    assert [p.name for p in store.access.policies.values()] == ["no-log"]


async def test_refused_changes_write_nothing() -> None:
    service, store, _, watcher = make()
    boss = Caller(principal=principal(SUPERADMIN))
    await service.policies.create_policy(boss, name="read", policy_json=READ_NODES)
    await service.roles.create_role(boss, name="reader", policies=["read"], level=3)
    add_user(store, "pat", "reader")
    before = (dict(store.access.policies), dict(store.access.roles), len(store.access.audit))
    with pytest.raises(Conflict):
        await service.policies.delete_policy(boss, name="read")
    with pytest.raises(Conflict):
        await service.roles.delete_role(boss, name="reader")
    with pytest.raises(ValidationFailed):
        await service.roles.update_role(boss, name="reader", operation="remove",
                                        policies=["read"])
    with pytest.raises(ValidationFailed):
        await service.policies.create_policy(boss, name="bad", policy_json={"statement": [
            {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/not/an/api"]}]})
    assert (dict(store.access.policies), dict(store.access.roles),
            len(store.access.audit)) == before
    assert watcher.changed_orgs == [ORG, ORG]
    # forced: detached from the role, both recorded
    assert await service.policies.delete_policy(boss, name="read", force=True) == ["reader"]
    assert store.access.roles[(ORG, "reader")].policies == []
    assert store.access.rules[ORG] == []


async def test_other_organizations_see_nothing() -> None:
    service, store, _, _ = make()
    await service.policies.create_policy(Caller(principal=principal(SUPERADMIN)), name="read",
                                         policy_json=READ_NODES)
    other = Caller(principal=principal(SUPERADMIN, org="org-b"))
    assert await service.policies.policies(other) == []
    with pytest.raises(NotFound):
        await service.policies.policies(other, name="read")
    assert [r.name for r in await service.roles.roles(other)] == [SUPERADMIN, ADMIN]
    assert (await service.review.audit_log(other)).entries == []
