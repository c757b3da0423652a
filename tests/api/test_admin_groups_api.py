"""Admin device groups over real HTTP (/v1/admin/node_group) and real GraphQL documents:
static and dynamic groups, hierarchy, regroup after a device reports new firmware, filters,
FFFF-FFFF, paging, deletion with sub-groups, isolation between organizations, refusals of
plain users, the documented error codes, and a constant number of SQL statements."""

from __future__ import annotations

from typing import Any

from tests.api.test_admin_nodes_api import Org, org_with_devices
from tests.api.test_graphql_nodes import counting_statements, report
from tests.conftest import Env

PATH = "/v1/admin/node_group"


async def describe(env: Env, node_id: str, type: str, model: str, fw_version: str) -> None:
    """The device reports a config whose info names its type, model and firmware."""
    await report(env, node_id, config={"node_id": node_id, "info": {
        "name": "Lamp", "type": type, "model": model, "fw_version": fw_version}})


async def create(env: Env, org: Org, **body: Any) -> str:
    r = await env.client.post(PATH, headers=org.admin, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    return str(r.json()["group_id"])


async def get(env: Env, org: Org, query: str = "", status: int = 200) -> dict[str, Any]:
    r = await env.client.get(f"{PATH}{query}", headers=org.admin)
    assert r.status_code == status, r.text
    return r.json()  # type: ignore[no-any-return]


async def failure(env: Env, org: Org, method: str, query: str, body: Any,
                  status: int, code: int) -> None:
    r = await env.client.request(method, f"{PATH}{query}", headers=org.admin, json=body)
    assert (r.status_code, r.json().get("error_code")) == (status, code), (method, query, body,
                                                                           r.text)
    assert r.json()["status"] == "failure"


async def test_static_groups_hierarchy_paging_and_deletion(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 3)
    a, b, c = sorted(d.node_id for d in acme.devices)
    top = await create(env, acme, group_name="Building", nodes=[a], type="Site",
                       custom_data={"city": "Pune"})
    floor = await create(env, acme, group_name="Floor 1", parent_group_id=top, nodes=[b])
    room = await create(env, acme, group_name="Room 1", parent_group_id=floor, nodes=[c])
    # nodes of a sub-group join the groups above it
    assert (await get(env, acme, f"?group_id={top}"))["nodes"] == [a, b, c]
    await failure(env, acme, "POST", "", {"group_name": "Desk", "parent_group_id": room},
                  400, 108011)
    await failure(env, acme, "POST", "", {"group_name": "Floor 1", "parent_group_id": top},
                  400, 108007)
    await failure(env, acme, "POST", "", {"group_name": "X", "parent_group_id": "nope"},
                  400, 108023)

    listing = await get(env, acme)
    assert listing["total"] == 1 and "next_id" not in listing
    (building,) = listing["groups"]
    assert building["group_id"] == top and building["total"] == 3
    assert building["custom_data"] == {"city": "Pune"} and building["type"] == "Site"
    assert building["sub_groups"][0]["group_id"] == floor
    assert building["sub_groups"][0]["sub_groups"][0] == {
        "group_id": room, "group_name": "Room 1", "type": "", "description": "",
        "mutually_exclusive": False, "total": 1, "parent_group_id": floor, "sub_groups": []}

    one = await get(env, acme, f"?group_id={top}&num_records=2")
    assert one["nodes"] == [a, b] and one["next_id"] == c and one["total"] == 3
    one = await get(env, acme, f"?group_id={top}&num_records=2&start_id={c}")
    assert one["nodes"] == [c] and "next_id" not in one
    detailed = await get(env, acme, "?group_name=Building&node_details=true")
    assert "nodes" not in detailed
    assert [n["node_id"] for n in detailed["node_details"]] == [a, b, c]
    assert detailed["node_details"][0]["name"] == "Lamp"

    r = await env.client.put(f"{PATH}?group_id={floor}", headers=acme.admin,
                             json={"operation": "remove", "nodes": [c]})
    assert r.status_code == 200, r.text
    assert (await get(env, acme, f"?group_id={room}"))["nodes"] == []
    assert (await get(env, acme, f"?group_id={top}"))["nodes"] == [a, b, c]

    r = await env.client.delete(f"{PATH}?group_id={top}", headers=acme.admin)
    assert r.json() == {"status": "success", "description": "Group deleted successfully"}
    for gid in (top, floor, room):
        await failure(env, acme, "GET", f"?group_id={gid}", None, 400, 108023)
    assert (await get(env, acme))["groups"] == []


async def test_dynamic_groups_filters_and_regroup_after_new_firmware(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 3)
    a, b, c = sorted(d.node_id for d in acme.devices)
    await describe(env, a, "Light", "L1", "1.0")
    await describe(env, b, "Light", "L1", "1.0")
    await describe(env, c, "Light", "L1", "2.0")
    v1 = await create(env, acme, group_name="Lights v1", node_type="Light", node_model="L1",
                      node_fw_version="1.0")
    body = await get(env, acme, f"?group_id={v1}")
    assert body["nodes"] == [a, b]
    assert body["group_query"] == "node_type: Light && node_model: L1 && node_fw_version: 1.0"
    lights = await create(env, acme, group_name="Lights", node_type="Light")
    assert (await get(env, acme, f"?group_id={lights}"))["nodes"] == [a, b, c]

    await failure(env, acme, "POST", "", {"group_name": "None", "node_model": "Z9"}, 404,
                  108063)
    await failure(env, acme, "POST", "", {"group_name": "Again", "node_type": "Light"}, 400,
                  108075)
    await failure(env, acme, "POST", "", {"group_name": "N", "node_type": "X", "nodes": [a]},
                  400, 108061)
    await failure(env, acme, "POST", "", {"group_name": "P", "node_type": "X",
                                          "parent_group_id": v1}, 400, 108059)
    await failure(env, acme, "POST", "", {"group_name": "Sub", "parent_group_id": v1}, 400,
                  108149)

    filtered = await get(env, acme, "?node_type=Light&node_model=L1")
    assert [g["group_id"] for g in filtered["groups"]] == [v1]
    assert (await get(env, acme, "?node_fw_version=3.0"))["groups"] == []

    # the device reports new firmware; the group follows on regroup only
    await describe(env, a, "Light", "L1", "2.0")
    assert (await get(env, acme, f"?group_id={v1}"))["nodes"] == [a, b]
    r = await env.client.put(f"{PATH}?group_id={v1}", headers=acme.admin,
                             json={"regroup": True})
    assert r.status_code == 200, r.text
    assert (await get(env, acme, f"?group_id={v1}"))["nodes"] == [b]

    static = await create(env, acme, group_name="Static", nodes=[a])
    for query, body_, status, code in [
            (f"?group_id={static}", {"regroup": True}, 400, 108065),
            (f"?group_id={v1}", {"regroup": True, "group_name": "x"}, 400, 108067),
            (f"?group_id={v1}", {"regroup": True, "operation": "add", "nodes": [a]}, 400,
             108067),
            (f"?group_id={v1}", {"description": "d", "node_type": "Switch"}, 400, 108060),
            (f"?group_id={v1}", {"operation": "add", "nodes": [c]}, 400, 108076),
            (f"?group_id={static}", {"operation": "remove", "nodes": [b]}, 400, 108150)]:
        await failure(env, acme, "PUT", query, body_, status, code)


async def test_the_all_nodes_group(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 3)
    await org_with_devices(env, "bravo", 1)
    ids = sorted(d.node_id for d in acme.devices)
    body = await get(env, acme, "?group_id=FFFF-FFFF")
    assert body["nodes"] == ids and body["total"] == 3 and "sub_groups" not in body
    body = await get(env, acme, "?group_id=FFFF-FFFF&num_records=2")
    assert body["nodes"] == ids[:2] and body["next_id"] == ids[2]
    body = await get(env, acme, f"?group_id=FFFF-FFFF&start_id={ids[2]}&node_details=true")
    assert [n["node_id"] for n in body["node_details"]] == ids[2:]
    await failure(env, acme, "PUT", "?group_id=FFFF-FFFF", {"group_name": "x"}, 400, 108901)
    await failure(env, acme, "DELETE", "?group_id=FFFF-FFFF", None, 400, 108901)


async def test_groups_are_shared_by_admins_and_invisible_to_other_organizations(
        env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    bravo = await org_with_devices(env, "bravo", 1)
    mine, theirs = acme.devices[0].node_id, bravo.devices[0].node_id
    gid = await create(env, acme, group_name="Acme", nodes=[mine])
    await failure(env, acme, "POST", "", {"group_name": "Mixed", "nodes": [mine, theirs]},
                  400, 108012)
    assert (await get(env, bravo))["groups"] == []
    assert theirs not in (await get(env, acme, "?group_id=FFFF-FFFF"))["nodes"]
    for method, query, body in [("GET", f"?group_id={gid}", None),
                                ("GET", "?group_name=Acme", None),
                                ("PUT", f"?group_id={gid}", {"group_name": "Mine"}),
                                ("DELETE", f"?group_id={gid}", None)]:
        r = await env.client.request(method, f"{PATH}{query}", headers=bravo.admin, json=body)
        assert r.status_code == (404 if "group_name" in query else 400), (method, query, r.text)
    assert (await get(env, acme, f"?group_id={gid}"))["group_name"] == "Acme"


async def test_plain_users_are_refused_and_anonymous_callers_unauthenticated(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    gid = await create(env, acme, group_name="G")
    user = {"Authorization": await env.provision("carol@acme.io", org="acme")}
    for method, query, body in [("POST", "", {"group_name": "H"}),
                                ("PUT", f"?group_id={gid}", {"group_name": "H"}),
                                ("GET", "", None), ("DELETE", f"?group_id={gid}", None)]:
        r = await env.client.request(method, f"{PATH}{query}", headers=user, json=body)
        assert r.status_code == 400 and r.json()["error_code"] == 100004, (method, r.text)
        r = await env.client.request(method, f"{PATH}{query}", json=body)
        assert r.status_code == 401, method
    assert (await get(env, acme, f"?group_id={gid}"))["group_name"] == "G"


async def test_bad_input_gets_the_documented_codes(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    gid = await create(env, acme, group_name="G")
    for method, query, body, status, code in [
            ("POST", "", {}, 400, 108001),
            ("POST", "", {"group_name": " padded"}, 400, 108002),
            ("POST", "", {"group_name": "a#b"}, 400, 108002),
            ("POST", "", {"group_name": "G", "nodes": []}, 400, 108003),
            ("POST", "", {"group_name": "G", "description": "d" * 501}, 400, 108025),
            ("POST", "", {"group_name": "G", "node_type": ""}, 400, 100006),
            ("POST", "", {"group_name": "G", "nodes": ["NOPE"]}, 400, 108012),
            ("POST", "", ["not", "an", "object"], 400, 100006),
            ("PUT", "", {"group_name": "x"}, 400, 108016),
            ("PUT", f"?group_id={gid}", {}, 400, 108024),
            ("PUT", f"?group_id={gid}", {"regroup": False}, 400, 108024),
            ("PUT", f"?group_id={gid}", {"operation": "move", "nodes": ["a"]}, 400, 108017),
            ("PUT", "?group_id=unknown", {"group_name": "x"}, 400, 108023),
            ("GET", f"?group_id={gid}&group_name=G", None, 400, 108030),
            ("GET", "?group_name=Nope", None, 404, 108029),
            ("GET", "?num_records=0", None, 400, 100006),
            ("DELETE", "", None, 400, 108016),
            ("DELETE", "?group_id=unknown", None, 400, 108023)]:
        await failure(env, acme, method, query, body, status, code)


async def test_statements_do_not_grow_with_groups_or_nodes(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 6)
    ids = sorted(d.node_id for d in acme.devices)
    counts = []
    for size in (1, 6):
        with counting_statements(env) as statements:
            top = await create(env, acme, group_name=f"Top {size}", nodes=ids[:size])
            for i in range(size):
                await create(env, acme, group_name=f"Sub {i}", parent_group_id=top)
            statements.clear()
            await get(env, acme)
            await get(env, acme, f"?group_id={top}&node_details=true")
            await env.client.put(f"{PATH}?group_id={top}", headers=acme.admin,
                                 json={"operation": "remove", "nodes": ids[:size]})
            counts.append(len(statements))
    assert counts[0] == counts[1], counts


CREATE = """mutation($input: CreateAdminGroupInput!) { createAdminGroup(input: $input) {
  group { id name nodeIds query { nodeType nodeModel nodeFwVersion } } } }"""
GROUP = """query($id: ID!) { adminGroup(id: $id) { id name nodeIds nodes { id fwVersion }
  parent { id } subGroups { id nodeIds parent { id name } } query { nodeType } } }"""
GROUPS = """query($first: Int!, $after: String, $filter: AdminGroupFilter) {
  adminGroups(first: $first, after: $after, filter: $filter) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id name subGroups { id } } } } }"""


async def test_graphql_admin_groups(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    bravo = await org_with_devices(env, "bravo", 1)
    token, other = acme.admin["Authorization"], bravo.admin["Authorization"]
    a, b = sorted(d.node_id for d in acme.devices)
    await describe(env, a, "Light", "L1", "1.0")
    await describe(env, b, "Light", "L1", "2.0")

    async def ok(document: str, variables: dict[str, Any], who: str = token) -> Any:
        body = await env.gql(document, variables, who)
        assert "errors" not in body, body
        return body["data"]

    top = (await ok(CREATE, {"input": {"name": "Top", "nodeIds": [a]}}))["createAdminGroup"]
    sub = (await ok(CREATE, {"input": {"name": "Sub", "parentId": top["group"]["id"],
                                       "nodeIds": [b]}}))["createAdminGroup"]["group"]
    dyn = (await ok(CREATE, {"input": {"name": "v1", "nodeType": "Light",
                                       "nodeFwVersion": "1.0"}}))["createAdminGroup"]["group"]
    assert dyn["nodeIds"] == [a]
    assert dyn["query"] == {"nodeType": "Light", "nodeModel": None, "nodeFwVersion": "1.0"}
    group = (await ok(GROUP, {"id": top["group"]["id"]}))["adminGroup"]
    assert group["nodeIds"] == [a, b] and group["parent"] is None and group["query"] is None
    assert [n["fwVersion"] for n in group["nodes"]] == ["1.0", "2.0"]
    assert group["subGroups"] == [{"id": sub["id"], "nodeIds": [b],
                                   "parent": {"id": top["group"]["id"], "name": "Top"}}]

    page = (await ok(GROUPS, {"first": 1}))["adminGroups"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"]
    rest = (await ok(GROUPS, {"first": 5, "after": page["pageInfo"]["endCursor"]}))
    names = [e["node"]["name"] for e in page["edges"] + rest["adminGroups"]["edges"]]
    assert sorted(names) == ["Top", "v1"]
    only = (await ok(GROUPS, {"first": 5, "filter": {"nodeFwVersion": "1.0"}}))["adminGroups"]
    assert [e["node"]["id"] for e in only["edges"]] == [dyn["id"]]

    data = await ok("""mutation($input: UpdateAdminGroupInput!) { updateAdminGroup(
        input: $input) { group { name customData } } }""",
                    {"input": {"id": sub["id"], "name": "Renamed", "customData": {"k": 1}}})
    assert data["updateAdminGroup"]["group"] == {"name": "Renamed", "customData": {"k": 1}}
    data = await ok("""mutation($input: AdminGroupNodesInput!) { removeNodesFromAdminGroup(
        input: $input) { group { nodeIds subGroups { nodeIds } } } }""",
                    {"input": {"groupId": top["group"]["id"], "nodeIds": [b]}})
    assert data["removeNodesFromAdminGroup"]["group"] == {"nodeIds": [a],
                                                          "subGroups": [{"nodeIds": []}]}
    data = await ok("""mutation($input: AdminGroupNodesInput!) { addNodesToAdminGroup(
        input: $input) { group { nodeIds } } }""",
                    {"input": {"groupId": sub["id"], "nodeIds": [b]}})
    assert data["addNodesToAdminGroup"]["group"]["nodeIds"] == [b]

    await describe(env, b, "Light", "L1", "1.0")
    data = await ok("""mutation($input: RegroupInput!) { regroup(input: $input) {
        group { nodeIds } } }""", {"input": {"groupId": dyn["id"]}})
    assert data["regroup"]["group"]["nodeIds"] == [a, b]

    body = await env.gql(GROUP, {"id": top["group"]["id"]}, other)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await env.gql(CREATE, {"input": {"name": "Bad", "nodeIds": [a],
                                            "nodeType": "Light"}}, token)
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION",
                                               "reason": "group_query_with_nodes"}
    user = await env.provision("carol@acme.io", org="acme")
    body = await env.gql(GROUPS, {"first": 5}, user)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    data = await ok("""mutation($input: AdminGroupIdInput!) { deleteAdminGroup(input: $input)
        { deletedIds } }""", {"input": {"id": top["group"]["id"]}})
    assert sorted(data["deleteAdminGroup"]["deletedIds"]) == sorted([top["group"]["id"],
                                                                     sub["id"]])
    all_nodes = (await ok(GROUP, {"id": "FFFF-FFFF"}))["adminGroup"]
    assert all_nodes["nodeIds"] == [a, b] and all_nodes["subGroups"] == []
