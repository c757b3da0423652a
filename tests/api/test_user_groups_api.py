"""User device groups over RainMaker's /v1/user/node_group: shapes, error codes, tenant
isolation and every bad input of the groups part of the issue, through the ASGI app."""

from __future__ import annotations

from typing import Any

from tests.conftest import Env

URL = "/v1/user/node_group"


async def claimed(env: Env, token: str, org: str | None = None) -> str:
    node = await env.provision_node(org)
    r = await env.client.put("/v1/user/nodes/mapping", headers={"Authorization": token},
                             json={"node_id": node.node_id, "operation": "add",
                                   "secret_key": node.secret_key})
    assert r.status_code == 200, r.text
    return node.node_id


async def create(env: Env, token: str, **body: Any) -> str:
    r = await env.client.post(URL, json=body, headers={"Authorization": token})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    return str(r.json()["group_id"])


def fails(r: Any, status: int, code: int) -> None:
    assert r.status_code == status, r.text
    assert r.json()["status"] == "failure" and r.json()["error_code"] == code, r.text


async def test_create_list_update_delete_a_group(env: Env) -> None:
    token = await env.user("owner@example.com")
    auth = {"Authorization": token}
    a, b = await claimed(env, token), await claimed(env, token)
    home = await create(env, token, group_name="Home", nodes=[a, b], type="Home",
                        description="my flat", custom_data={"floor": 2, "tags": ["x"]})
    room = await create(env, token, group_name="Kitchen", parent_group_id=home, nodes=[a])

    r = await env.client.get(URL, headers=auth)
    assert r.status_code == 200
    groups = {g["group_id"]: g for g in r.json()["groups"]}
    assert r.json()["total"] == 2 and "nodes" not in groups[home]
    assert groups[home]["group_name"] == "Home" and groups[home]["total"] == 2
    assert groups[home]["custom_data"] == {"floor": 2, "tags": ["x"]}
    assert groups[room]["parent_group_id"] == home

    r = await env.client.get(URL, params={"group_id": home, "node_list": "true",
                                          "sub_groups": "true"}, headers=auth)
    [group] = r.json()["groups"]
    assert group["nodes"] == [a, b]
    assert [s["group_id"] for s in group["sub_groups"]] == [room]
    assert group["sub_groups"][0]["nodes"] == [a]

    r = await env.client.get(URL, params={"group_name": "Kitchen", "node_details": "true"},
                             headers=auth)
    [group] = r.json()["groups"]
    assert "nodes" not in group and [d["id"] for d in group["node_details"]] == [a]
    assert group["node_details"][0]["primary"] is True

    r = await env.client.put(URL, params={"group_id": home}, headers=auth,
                             json={"group_name": "House", "custom_data": {"floor": None,
                                                                          "tags": ["y"]}})
    assert r.status_code == 200, r.text
    r = await env.client.put(URL, params={"group_id": home}, headers=auth,
                             json={"operation": "remove", "nodes": [a]})
    assert r.status_code == 200, r.text
    r = await env.client.get(URL, params={"group_id": home, "node_list": "true",
                                          "sub_groups": "true"}, headers=auth)
    [group] = r.json()["groups"]
    assert group["group_name"] == "House" and group["custom_data"] == {"tags": ["y"]}
    assert group["nodes"] == [b] and group["sub_groups"][0]["nodes"] == []

    r = await env.client.delete(URL, params={"group_id": home}, headers=auth)
    assert r.status_code == 200, r.text
    r = await env.client.get(URL, headers=auth)
    assert r.json()["groups"] == []  # the sub-group went with it


async def test_pagination_with_start_id_and_num_records(env: Env) -> None:
    token = await env.user("owner@example.com")
    made = sorted([await create(env, token, group_name=f"G{i}") for i in range(5)])
    auth = {"Authorization": token}
    r = await env.client.get(URL, params={"num_records": "2"}, headers=auth)
    assert [g["group_id"] for g in r.json()["groups"]] == made[:2]
    assert r.json()["next_id"] == made[2] and r.json()["total"] == 5
    r = await env.client.get(URL, params={"num_records": "2", "start_id": made[4]},
                             headers=auth)
    assert [g["group_id"] for g in r.json()["groups"]] == made[4:]
    assert "next_id" not in r.json()
    for bad in ("0", "101", "x"):
        r = await env.client.get(URL, params={"num_records": bad}, headers=auth)
        assert r.status_code == 400, r.text


async def test_bad_inputs_get_stable_codes_and_write_nothing(env: Env) -> None:
    token = await env.user("owner@example.com")
    auth = {"Authorization": token}
    node = await claimed(env, token)
    stranger_node = await claimed(env, await env.user("other@example.com"))

    fails(await env.client.post(URL, json={}, headers=auth), 400, 108001)
    fails(await env.client.post(URL, json={"group_name": "x" * 257}, headers=auth), 400, 108002)
    fails(await env.client.post(URL, json={"group_name": " padded"}, headers=auth), 400, 108002)
    fails(await env.client.post(URL, json={"group_name": "a#b"}, headers=auth), 400, 108002)
    fails(await env.client.post(URL, json={"group_name": "G", "nodes": [node] * 0},
                                headers=auth), 400, 108003)
    fails(await env.client.post(URL, json={"group_name": "G",
                                           "nodes": [f"n{i}" for i in range(101)]},
                                headers=auth), 400, 108003)
    fails(await env.client.post(URL, json={"group_name": "G", "description": "d" * 501},
                                headers=auth), 400, 108025)
    # a node the caller does not reach: as if it did not exist, and no group is created
    fails(await env.client.post(URL, json={"group_name": "G", "nodes": [node, stranger_node]},
                                headers=auth), 400, 108013)
    fails(await env.client.post(URL, json={"group_name": "G", "parent_group_id": "nope"},
                                headers=auth), 400, 108023)
    assert (await env.client.get(URL, headers=auth)).json()["groups"] == []

    a = await create(env, token, group_name="A", nodes=[node])
    fails(await env.client.post(URL, json={"group_name": "A"}, headers=auth), 400, 108007)
    b = await create(env, token, group_name="B", parent_group_id=a)
    c = await create(env, token, group_name="C", parent_group_id=b)
    fails(await env.client.post(URL, json={"group_name": "D", "parent_group_id": c},
                                headers=auth), 400, 108011)  # a fourth level
    fails(await env.client.put(URL, params={"group_id": a}, json={"parent_group_id": c},
                               headers=auth), 400, 108009)  # a cycle
    fails(await env.client.post(URL, json={"group_name": "E", "parent_group_id": b,
                                           "nodes": [node]}, headers=auth), 400, 108015)
    fails(await env.client.put(URL, json={"group_name": "Z"}, headers=auth), 400, 108016)
    fails(await env.client.put(URL, params={"group_id": a}, json={}, headers=auth), 400, 108024)
    fails(await env.client.put(URL, params={"group_id": a}, json={"operation": "move",
                                                                  "nodes": [node]},
                               headers=auth), 400, 108017)
    fails(await env.client.put(URL, params={"group_id": a}, json={"operation": "add"},
                               headers=auth), 400, 108003)
    fails(await env.client.get(URL, params={"group_id": a, "group_name": "A"}, headers=auth),
          400, 108030)
    fails(await env.client.get(URL, params={"group_name": "nope"}, headers=auth), 404, 108029)
    fails(await env.client.delete(URL, headers=auth), 400, 108016)
    r = await env.client.get(URL, params={"group_id": a}, headers=auth)
    assert r.json()["groups"][0].get("parent_group_id") is None


async def test_mutually_exclusive_clash_is_409_naming_group_and_node(env: Env) -> None:
    token = await env.user("owner@example.com")
    node = await claimed(env, token)
    kitchen = await create(env, token, group_name="Kitchen", type="Room",
                           mutually_exclusive=True, nodes=[node])
    r = await env.client.post(URL, headers={"Authorization": token}, json={
        "group_name": "Hall", "type": "Room", "mutually_exclusive": True, "nodes": [node]})
    fails(r, 409, 108900)
    assert kitchen in r.json()["description"] and node in r.json()["description"]


async def test_other_users_groups_are_not_found_in_and_across_orgs(env: Env) -> None:
    owner = await env.user("owner@example.com")
    node = await claimed(env, owner)
    group = await create(env, owner, group_name="Mine", nodes=[node])
    neighbour = await env.user("neighbour@example.com")
    foreign = await env.provision("root@other.org", org="Other")
    for token in (neighbour, foreign):
        auth = {"Authorization": token}
        fails(await env.client.get(URL, params={"group_id": group}, headers=auth), 400, 108023)
        fails(await env.client.put(URL, params={"group_id": group}, json={"group_name": "X"},
                                   headers=auth), 400, 108023)
        fails(await env.client.put(URL, params={"group_id": group},
                                   json={"operation": "remove", "nodes": [node]},
                                   headers=auth), 400, 108023)
        fails(await env.client.delete(URL, params={"group_id": group}, headers=auth),
              400, 108023)
        fails(await env.client.post(URL, json={"group_name": "Sub", "parent_group_id": group},
                                    headers=auth), 400, 108023)
        fails(await env.client.post(URL, json={"group_name": "Steal", "nodes": [node]},
                                    headers=auth), 400, 108013)
        assert (await env.client.get(URL, headers=auth)).json()["groups"] == []
    r = await env.client.get(URL, params={"group_id": group, "node_list": "true"},
                             headers={"Authorization": owner})
    assert r.json()["groups"][0]["group_name"] == "Mine"
    assert r.json()["groups"][0]["nodes"] == [node]


async def test_deleting_a_node_drops_it_from_groups(env: Env) -> None:
    token = await env.user("owner@example.com")
    auth = {"Authorization": token}
    a, b = await claimed(env, token), await claimed(env, token)
    group = await create(env, token, group_name="G", nodes=[a, b])
    r = await env.client.delete(f"/v1/user/nodes/{a}", headers=auth)
    assert r.status_code == 200, r.text
    r = await env.client.put("/v1/user/nodes/mapping", headers=auth,
                             json={"node_id": b, "operation": "remove"})
    assert r.status_code == 200, r.text
    r = await env.client.get(URL, params={"group_id": group, "node_list": "true"},
                             headers=auth)
    assert r.json()["groups"][0]["nodes"] == [] and r.json()["groups"][0]["total"] == 0


async def test_events_are_published_for_added_and_removed_nodes(env: Env) -> None:
    token = await env.user("owner@example.com")
    node = await claimed(env, token)
    queue = env.container.events().subscribe()
    group = await create(env, token, group_name="G", nodes=[node])
    r = await env.client.put(URL, params={"group_id": group}, headers={"Authorization": token},
                             json={"operation": "remove", "nodes": [node]})
    assert r.status_code == 200
    seen = []
    while not queue.empty():
        event = queue.get_nowait()
        seen.append((event.kind, event.node_id, event.data))
    env.container.events().unsubscribe(queue)
    assert ("user_node_group_added", node, {"group_id": group}) in seen
    assert ("user_node_group_removed", node, {"group_id": group}) in seen
