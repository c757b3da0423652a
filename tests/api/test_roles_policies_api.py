"""Roles and policies over real HTTP and real GraphQL documents: policies compiled to rules,
roles with levels, user-role mapping, node filters narrowing admin reads on both APIs, Deny
over Allow, changes on the very next request, the audit trail, explainAccess, isolation
between organizations and the documented error codes."""

from __future__ import annotations

from typing import Any

from tests.api.test_admin_nodes_api import Org, describe, org_with_devices
from tests.conftest import Env

PUNE = {"version": "1.0.0",
        "filters": [{"type": "nodes", "rules": {"tags": ["location:pune"]}}],
        "statement": [{"Effect": "Allow", "Action": ["api:Get"],
                       "Resource": ["/v1/admin/nodes"]}]}


READ = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                       "Resource": ["/v1/admin/nodes"]}]}


async def call(env: Env, headers: dict[str, str], method: str, path: str, body: Any = None,
               status: int = 200) -> Any:
    r = await env.client.request(method, path, headers=headers, json=body)
    assert r.status_code == status, (method, path, body, r.text)
    return r.json()


async def failure(env: Env, headers: dict[str, str], method: str, path: str, body: Any,
                  status: int, code: int) -> None:
    r = await env.client.request(method, path, headers=headers, json=body)
    assert (r.status_code, r.json().get("error_code")) == (status, code), (method, path, body,
                                                                           r.text)
    assert r.json()["status"] == "failure"


async def member(env: Env, org: str, name: str) -> dict[str, str]:
    return {"Authorization": await env.provision(f"{name}@{org}.io", org=org)}


async def pune_org(env: Env) -> tuple[Org, list[str]]:
    acme = await org_with_devices(env, "acme", 4)
    ids = sorted(d.node_id for d in acme.devices)
    await describe(env, ids[0], tags=["location:pune"], type="switch")
    await describe(env, ids[1], tags=["location:pune", "floor:2"], type="led_light")
    await describe(env, ids[2], tags=["location:mumbai"], type="switch")
    return acme, ids


async def grant(env: Env, org: Org, user: str, role: str, policy: dict[str, Any],
                level: int = 5) -> None:
    await call(env, org.admin, "POST", "/v1/admin/policy",
               {"policy_name": role, "policy_json": policy})
    await call(env, org.admin, "POST", "/v1/admin/role",
               {"role_name": role, "policies": [role], "role_level": level})
    await call(env, org.admin, "PUT", f"/v1/admin/user_role?user_name={user}&operation=add",
               {"roles": [role]})


async def test_node_filters_narrow_admin_reads_on_both_apis(env: Env) -> None:
    acme, ids = await pune_org(env)
    pat = await member(env, "acme", "pat")
    await failure(env, pat, "GET", "/v1/admin/nodes", None, 400, 100004)
    await grant(env, acme, "pat@acme.io", "pune-ops", PUNE)

    listed = await call(env, pat, "GET", "/v1/admin/nodes")
    assert sorted(listed["nodes"]) == ids[:2], listed
    assert listed["total"] == 2
    await call(env, pat, "GET", f"/v1/admin/nodes?node_id={ids[0]}")
    await failure(env, pat, "GET", f"/v1/admin/nodes?node_id={ids[2]}", None, 400, 100015)
    summary = await call(env, pat, "GET", "/v1/admin/nodes?summary=true&start_time=0")
    assert sum(summary[k] for k in summary if k.endswith("_count")) == 2, summary
    # what the policy does not allow stays refused
    await failure(env, pat, "PUT", "/v1/admin/nodes", {"node_ids": [ids[0]], "tags": ["a:b"]},
                  400, 100004)
    # the superadmin still sees everything
    assert (await call(env, acme.admin, "GET", "/v1/admin/nodes"))["total"] == 4

    token = pat["Authorization"]
    data = (await env.gql("{ adminNodes(first: 10) { totalCount edges { node { id } } } }",
                          token=token))["data"]["adminNodes"]
    assert data["totalCount"] == 2
    assert sorted(e["node"]["id"] for e in data["edges"]) == ids[:2]
    found = await env.gql("query($id: ID!) { adminNode(id: $id) { id } }", {"id": ids[2]},
                          token=token)
    assert found["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # type filter too, and a change of the policy applies to the very next request
    narrower = {**PUNE, "filters": [{"type": "nodes", "rules": {"tags": ["location:pune"],
                                                                 "type": ["led_light"]}}]}
    await call(env, acme.admin, "PUT", "/v1/admin/policy?policy_name=pune-ops",
               {"policy_json": narrower})
    listed = await call(env, pat, "GET", "/v1/admin/nodes")
    assert listed["nodes"] == [ids[1]]
    # removing the role takes the access away at once
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=pat@acme.io"
               "&operation=remove", {"roles": ["pune-ops"]})
    await failure(env, pat, "GET", "/v1/admin/nodes", None, 400, 100004)


async def test_deny_overrides_allow_and_wildcards(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    pat = await member(env, "acme", "pat")
    policy = {"statement": [
        {"Effect": "Allow", "Action": ["api:*"], "Resource": ["/v1/admin/*"]},
        {"effect": "deny", "action": ["api:Put", "api:Delete"], "resource": ["/v1/admin/nodes"]},
        {"Effect": "Deny", "Action": ["api:*"], "Resource": ["/v1/admin/user_role",
                                                             "/v1/admin/role"]}]}
    await grant(env, acme, "pat@acme.io", "operator", policy, level=3)
    await call(env, pat, "GET", "/v1/admin/nodes")
    await call(env, pat, "GET", "/v1/admin/node_group")
    node = acme.devices[0].node_id
    await failure(env, pat, "PUT", "/v1/admin/nodes", {"node_ids": [node], "tags": ["a:b"]},
                  400, 100004)
    await failure(env, pat, "GET", "/v1/admin/user_role?user_name=pat@acme.io", None,
                  400, 100004)
    await failure(env, pat, "GET", "/v1/admin/role", None, 400, 100004)
    # the same policy governs the GraphQL equivalents
    token = pat["Authorization"]
    denied = await env.gql("{ roles { name } }", token=token)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "data" in await env.gql("{ adminNodes { totalCount } }", token=token)


async def test_role_levels_rule_assignment(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    lead, pat, sam = [await member(env, "acme", n) for n in ("lead", "pat", "sam")]
    manage = {"statement": [{"Effect": "Allow", "Action": ["api:*"],
                             "Resource": ["/v1/admin/user_role", "/v1/admin/role",
                                          "/v1/admin/policy", "/v1/admin/nodes"]}]}
    await grant(env, acme, "lead@acme.io", "lead", manage, level=2)
    read = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                           "Resource": ["/v1/admin/nodes"]}]}
    await call(env, acme.admin, "POST", "/v1/admin/policy",
               {"policy_name": "read", "policy_json": read})
    for name, level in (("peer", 2), ("junior", 3)):
        await call(env, acme.admin, "POST", "/v1/admin/role",
                   {"role_name": name, "policies": ["read"], "role_level": level})
    # level 2 may give level 3, not level 2 (nor its own role), nor the built-in ones
    await call(env, lead, "PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add",
               {"roles": ["junior"]})
    for role in ("peer", "lead", "admin", "superadmin"):
        await failure(env, lead, "PUT", "/v1/admin/user_role?user_name=pat@acme.io"
                      "&operation=add", {"roles": [role]}, 400, 129033)
    # nobody changes their own roles
    await failure(env, lead, "PUT", "/v1/admin/user_role?user_name=lead@acme.io&operation=add",
                  {"roles": ["junior"]}, 400, 101053)
    # nor creates or edits a role at or above their level, nor grants what they do not hold
    await failure(env, lead, "POST", "/v1/admin/role",
                  {"role_name": "boss", "policies": ["read"], "role_level": 2}, 400, 129033)
    await failure(env, lead, "PUT", "/v1/admin/role?role_name=lead&operation=add",
                  {"role_level": 3}, 400, 129033)
    await failure(env, lead, "POST", "/v1/admin/policy", {"policy_name": "all", "policy_json": {
        "statement": [{"Effect": "Allow", "Action": ["api:*"], "Resource": ["/v1/admin/*"]}]}},
        403, 129046)
    await call(env, lead, "POST", "/v1/admin/role",
               {"role_name": "helper", "policies": ["read"], "role_level": 4})
    # a plain user reaches none of it
    await failure(env, sam, "PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add",
                  {"roles": ["junior"]}, 400, 100004)
    roles = await call(env, acme.admin, "GET", "/v1/admin/user_role?user_name=pat@acme.io")
    assert roles == {"roles": ["junior", "user"]}
    holders = await call(env, acme.admin, "GET", "/v1/admin/user_role?role_name=junior")
    assert holders == {"users": ["pat@acme.io"]}
    # an admin (level 1) cannot make admins or superadmins; a superadmin (0) can
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=sam@acme.io"
               "&operation=add", {"roles": ["admin"]})
    await failure(env, sam, "PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add",
                  {"roles": ["admin"]}, 400, 129033)
    await failure(env, sam, "PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add",
                  {"roles": ["superadmin"]}, 400, 129033)
    await call(env, sam, "PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add",
               {"roles": ["peer"]})


async def test_last_superadmin_stays(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    key = await env.gql('mutation { createApiKey(input: {name: "ci"}) { key } }',
                        token=acme.admin["Authorization"])
    api = {"Authorization": key["data"]["createApiKey"]["key"]}
    # an API key acts as an admin: it cannot touch the superadmin role
    await failure(env, api, "PUT", "/v1/admin/user_role?user_name=ops@acme.io&operation=remove",
                  {"roles": ["superadmin"]}, 400, 129033)
    await member(env, "acme", "pat")
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=pat@acme.io"
               "&operation=add", {"roles": ["superadmin"]})
    pat = {"Authorization": (await env.login("pat@acme.io"))["accesstoken"]}
    await call(env, pat, "PUT", "/v1/admin/user_role?user_name=ops@acme.io&operation=remove",
               {"roles": ["superadmin"]})
    holders = await call(env, pat, "GET", "/v1/admin/user_role?role_name=superadmin")
    assert holders == {"users": ["pat@acme.io"]}


async def test_policy_and_role_life_cycle_and_audit(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    await call(env, acme.admin, "POST", "/v1/admin/policy",
               {"policy_name": "pune", "policy_json": PUNE})
    got = await call(env, acme.admin, "GET", "/v1/admin/policy?policy_name=pune")
    assert got == {"policies": [{"policy_name": "pune", "policy_json": PUNE}]}
    await call(env, acme.admin, "POST", "/v1/admin/role",
               {"role_name": "viewer", "policies": ["pune"], "role_level": 2})
    roles = (await call(env, acme.admin, "GET", "/v1/admin/role"))["roles"]
    assert [r["role_name"] for r in roles] == ["superadmin", "admin", "viewer"]
    assert roles[2] == {"role_name": "viewer", "policies": ["pune"], "role_level": 2}
    await failure(env, acme.admin, "DELETE", "/v1/admin/policy?policy_name=pune", None,
                  400, 129023)
    await member(env, "acme", "pat")
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=pat@acme.io"
               "&operation=add", {"roles": ["viewer"]})
    await failure(env, acme.admin, "DELETE", "/v1/admin/role?role_name=viewer", None,
                  400, 129024)
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=pat@acme.io"
               "&operation=remove", {"roles": ["viewer"]})
    await call(env, acme.admin, "PUT", "/v1/admin/role?role_name=viewer&operation=add",
               {"role_level": 7})
    deleted = await call(env, acme.admin, "DELETE", "/v1/admin/policy?policy_name=pune"
                         "&force=true")
    assert deleted["detached_from_roles"] == ["viewer"]
    await call(env, acme.admin, "DELETE", "/v1/admin/role?role_name=viewer")
    await failure(env, acme.admin, "GET", "/v1/admin/role?role_name=viewer", None, 404, 129017)

    log = await call(env, acme.admin, "GET", "/v1/admin/audit_logs?num_records=3")
    assert [e["action"] for e in log["audit_logs"]] == ["role.delete", "policy.delete",
                                                        "role.update"]
    assert log["audit_logs"][0]["before"]["role_name"] == "viewer"
    assert log["audit_logs"][0]["after"] is None
    assert log["audit_logs"][0]["actor_name"] == "ops@acme.io"
    rest = await call(env, acme.admin, "GET",
                      f"/v1/admin/audit_logs?start_id={log['next_id']}&num_records=100")
    actions = [e["action"] for e in rest["audit_logs"]]
    assert actions == ["role.update", "user_role.change", "user_role.change", "role.create",
                       "policy.create"]
    change = rest["audit_logs"][2]
    assert (change["target"], change["before"], change["after"]) == (
        "pat@acme.io", {"roles": ["user"]}, {"roles": ["user", "viewer"]})
    # admins do not read the trail (a built-in Deny); GraphQL shows the same entries
    admin = await member(env, "acme", "ann")
    await call(env, acme.admin, "PUT", "/v1/admin/user_role?user_name=ann@acme.io"
               "&operation=add", {"roles": ["admin"]})
    await failure(env, admin, "GET", "/v1/admin/audit_logs", None, 400, 100004)
    data = await env.gql("{ auditLog(first: 2) { edges { node { action target } } "
                         "pageInfo { hasNextPage } } }", token=acme.admin["Authorization"])
    assert data["data"]["auditLog"]["edges"][0]["node"]["action"] == "user_role.change"
    assert data["data"]["auditLog"]["pageInfo"]["hasNextPage"] is True


async def test_organizations_do_not_see_each_others_roles(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    globex = await org_with_devices(env, "globex", 1)
    await grant(env, acme, await _plain(env, "acme"), "ops", READ)
    assert (await call(env, globex.admin, "GET", "/v1/admin/policy")) == {"policies": []}
    await failure(env, globex.admin, "GET", "/v1/admin/role?role_name=ops", None, 404, 129017)
    await failure(env, globex.admin, "DELETE", "/v1/admin/policy?policy_name=ops", None,
                  404, 129008)
    await failure(env, globex.admin, "GET", "/v1/admin/user_role?user_name=pat@acme.io", None,
                  404, 101025)
    # the same role name in another organization is another role, granting nothing here
    await call(env, globex.admin, "POST", "/v1/admin/policy", {"policy_name": "ops",
               "policy_json": {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                                              "Resource": ["/v1/admin/node_group"]}]}})
    pat = {"Authorization": (await env.login("pat@acme.io"))["accesstoken"]}
    await failure(env, pat, "GET", "/v1/admin/node_group", None, 400, 100004)
    assert (await call(env, pat, "GET", "/v1/admin/nodes"))["total"] == 2


async def _plain(env: Env, org: str) -> str:
    await member(env, org, "pat")
    return f"pat@{org}.io"


async def test_bad_input_gets_stable_codes(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    ok = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                         "Resource": ["/v1/admin/nodes"]}]}
    big = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                          "Resource": [f"/v1/admin/nodes/{i:04d}" for i in range(120)]}]}
    cases: list[tuple[str, str, Any, int, int]] = [
        ("POST", "/v1/admin/policy", {"policy_name": "big", "policy_json": big}, 400, 129026),
        ("POST", "/v1/admin/policy", {"policy_name": "p", "policy_json": ok}, 400, 100039),
        ("POST", "/v1/admin/policy", {"policy_json": ok}, 400, 129002),
        ("POST", "/v1/admin/policy", {"policy_name": "pp"}, 400, 129009),
        ("POST", "/v1/admin/policy", {"policy_name": "pp", "policy_json": {"statement": [
            {"Effect": "Allow", "Action": ["api:Get"]}]}}, 400, 129010),
        ("POST", "/v1/admin/policy", {"policy_name": "pp", "policy_json": {"statement": [
            {"Effect": "Perhaps", "Action": ["api:Get"], "Resource": ["/v1/admin/nodes"]}]}},
         400, 129010),
        ("POST", "/v1/admin/policy", {"policy_name": "pp", "policy_json": {"statement": [
            {"Effect": "Allow", "Action": ["api:Fly"], "Resource": ["/v1/admin/nodes"]}]}},
         400, 129010),
        ("POST", "/v1/admin/policy", {"policy_name": "pp", "policy_json": {"statement": [
            {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["/v1/nowhere"]}]}},
         400, 129048),
        ("POST", "/v1/admin/policy", {"policy_name": "pp", "policy_json": {"statement": [
            {"Effect": "Allow", "Action": ["api:Get"], "Resource": ["v1/admin/nodes"]}]}},
         400, 129010),
        ("POST", "/v1/admin/policy", {"policy_name": " pp", "policy_json": ok}, 400, 100039),
        ("POST", "/v1/admin/policy", {"policy_name": "RM_DEFAULT_x", "policy_json": ok},
         400, 129028),
        ("POST", "/v1/admin/role", {"role_name": "r1", "policies": ["ok"], "role_level": 0},
         400, 129035),
        ("POST", "/v1/admin/role", {"role_name": "r1", "policies": [f"p{i}" for i in range(11)],
                                    "role_level": 2}, 400, 129024),
        ("POST", "/v1/admin/role", {"role_name": "r1", "policies": ["nope"], "role_level": 2},
         400, 129011),
        ("POST", "/v1/admin/role", {"role_name": "admin", "policies": ["ok"], "role_level": 2},
         400, 129027),
        ("POST", "/v1/admin/role", {"policies": ["ok"], "role_level": 2}, 400, 129001),
        ("PUT", "/v1/admin/role?role_name=ghost&operation=add", {"role_level": 3}, 404, 129017),
        ("PUT", "/v1/admin/role?role_name=r2&operation=swap", {"role_level": 3}, 400, 100006),
        ("DELETE", "/v1/admin/role?role_name=superadmin", None, 400, 129027),
        ("PUT", "/v1/admin/policy?policy_name=ghost", {"policy_json": ok}, 404, 129008),
        ("PUT", "/v1/admin/user_role?user_name=ops@acme.io&operation=add", {"roles": []},
         400, 129021),
        ("PUT", "/v1/admin/user_role?user_name=pat@acme.io&operation=add", {"roles": ["nope"]},
         400, 129020),
        ("GET", "/v1/admin/user_role", None, 400, 100037),
        ("GET", "/v1/admin/user_role?user_name=pat@acme.io&role_name=r2", None, 400, 129029),
    ]
    await member(env, "acme", "pat")
    await call(env, acme.admin, "POST", "/v1/admin/policy", {"policy_name": "ok",
                                                              "policy_json": ok})
    await call(env, acme.admin, "POST", "/v1/admin/role",
               {"role_name": "r2", "policies": ["ok"], "role_level": 2})
    await failure(env, acme.admin, "POST", "/v1/admin/policy",
                  {"policy_name": "ok", "policy_json": ok}, 400, 129007)
    for method, path, body, status, code in cases:
        await failure(env, acme.admin, method, path, body, status, code)
    # nothing was written by the refused requests
    policies = await call(env, acme.admin, "GET", "/v1/admin/policy")
    assert [p["policy_name"] for p in policies["policies"]] == ["ok"]


async def test_api_paths_and_explain_access(env: Env) -> None:
    acme, ids = await pune_org(env)
    paths = await call(env, acme.admin, "GET", "/v1/admin/api_paths_methods")
    assert {"path": "/{version}/admin/policy", "methods": ["DELETE", "GET", "POST", "PUT"]} \
        in paths
    assert all(p["path"].startswith("/{version}/admin/") for p in paths)
    every = await call(env, acme.admin, "GET", "/v1/admin/api_paths_methods?all_paths=true")
    assert any(p["path"] == "/{version}/user/nodes" for p in every)

    await member(env, "acme", "pat")
    await grant(env, acme, "pat@acme.io", "pune-ops", PUNE)
    query = """query($u: String, $r: String!, $a: String!, $n: ID) {
      explainAccess(userName: $u, resource: $r, action: $a, nodeId: $n) {
        allowed reason roles nodeInReach nodeFilters { tags types }
        deciding { subject domain resource action effect policy } } }"""
    token = acme.admin["Authorization"]
    got = (await env.gql(query, {"u": "pat@acme.io", "r": "/v1/admin/nodes", "a": "GET",
                                 "n": ids[0]}, token=token))["data"]["explainAccess"]
    assert got["allowed"] is True and got["nodeInReach"] is True
    assert got["deciding"][0]["policy"] == "pune-ops"
    assert got["nodeFilters"] == [{"tags": ["location:pune"], "types": []}]
    got = (await env.gql(query, {"u": "pat@acme.io", "r": "/v1/admin/nodes", "a": "GET",
                                 "n": ids[2]}, token=token))["data"]["explainAccess"]
    assert (got["allowed"], got["nodeInReach"]) == (False, False)
    got = (await env.gql(query, {"u": "pat@acme.io", "r": "/v1/admin/nodes", "a": "DELETE"},
                         token=token))["data"]["explainAccess"]
    assert (got["allowed"], got["reason"], got["deciding"]) == (False, "no rule allows it", [])


async def test_graphql_policy_authoring(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    await member(env, "acme", "pat")
    token = acme.admin["Authorization"]
    created = await env.gql("""mutation($d: JSON!) { createPolicy(input: {name: "pune",
        document: $d}) { policy { name document } } }""", {"d": PUNE}, token=token)
    assert created["data"]["createPolicy"]["policy"]["document"] == PUNE
    role = await env.gql("""mutation { createRole(input: {name: "viewer", policies: ["pune"],
        level: 3}) { role { name level policies builtin } } }""", token=token)
    assert role["data"]["createRole"]["role"] == {"name": "viewer", "level": 3,
                                                  "policies": ["pune"], "builtin": False}
    assigned = await env.gql("""mutation { assignRoles(input: {userName: "pat@acme.io",
        roles: ["viewer"]}) { roles } }""", token=token)
    assert assigned["data"]["assignRoles"]["roles"] == ["user", "viewer"]
    listed = await env.gql('{ roles { name level builtin } userRoles(userName: "pat@acme.io") '
                           'policies { name } }', token=token)
    assert [r["name"] for r in listed["data"]["roles"]] == ["superadmin", "admin", "viewer"]
    assert listed["data"]["userRoles"] == ["user", "viewer"]
    bad = await env.gql("""mutation { createRole(input: {name: "r", policies: ["pune"],
        level: 0}) { role { name } } }""", token=token)
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION"
    removed = await env.gql("""mutation { removeRoles(input: {userName: "pat@acme.io",
        roles: ["viewer"]}) { roles } }""", token=token)
    assert removed["data"]["removeRoles"]["roles"] == ["user"]
    updated = await env.gql("""mutation { updateRole(input: {name: "viewer", level: 4}) {
        role { level } } }""", token=token)
    assert updated["data"]["updateRole"]["role"]["level"] == 4
    gone = await env.gql("""mutation { deletePolicy(input: {name: "pune", force: true}) {
        detachedFromRoles } deleteRole(input: {name: "viewer"}) { name } }""", token=token)
    assert gone["data"]["deletePolicy"]["detachedFromRoles"] == ["viewer"]
