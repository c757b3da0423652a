"""The admin node routes over real HTTP: listing with filters and counts, activation (checked
through the broker's auth hook), tags, user-node associations and direct mappings; plain users
are refused and nothing of another organization is reachable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event

from domain.devices.model import Connectivity
from fleetgate.settings import Settings
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env, start_env, with_settings

EMQX_AUTH, GO_USER = "/v1/mqtt/emqx/auth", "/v1/mqtt/gomosq/user"
MAPPING = "/v1/admin/users/{}/nodes/{}/mapping"


@dataclass
class Device:
    node_id: str
    mqtt_password: str


@dataclass
class Org:
    admin: dict[str, str]
    devices: list[Device]


async def add_device(env: Env, admin: dict[str, str]) -> Device:
    r = await env.client.post("/v1/admin/nodes/registration_token", headers=admin,
                              json={"node_name": "Lamp"})
    assert r.status_code == 201, r.text
    r = await env.client.post("/v1/devices/provision", json={"token": r.json()["token"]})
    assert r.status_code == 200, r.text
    return Device(node_id=r.json()["node_id"], mqtt_password=r.json()["mqtt_password"])


async def org_with_devices(env: Env, name: str, count: int) -> Org:
    admin = {"Authorization": await env.provision(f"ops@{name}.io", org=name)}
    return Org(admin=admin, devices=[await add_device(env, admin) for _ in range(count)])


async def describe(env: Env, node_id: str, **fields: Any) -> None:
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        node = await uow.nodes.get(node_id)
        assert node is not None
        for name, value in fields.items():
            setattr(node, name, value)
        await uow.nodes.save(node)
        await uow.commit()


async def user_id_of(env: Env, token: str) -> str:
    r = await env.client.get("/v1/user2", headers={"Authorization": token})
    return str(r.json()["user_id"])


async def test_list_filters_pages_counts_and_details(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 4)
    a, b, c, d = sorted(dev.node_id for dev in acme.devices)
    await describe(env, a, type="Light", model="L1", fw_version="1.0", tags=["site:pune"],
                   config={"node_id": a, "info": {"type": "Light", "subtype": "bulb"}},
                   reported={"Light": {"power": True}},
                   connectivity=Connectivity(connected=True, timestamp_ms=1_700_000_000_000))
    await describe(env, b, type="Light", model="L2", tags=["site:goa", "floor:2"],
                   connectivity=Connectivity(connected=False, timestamp_ms=1_600_000_000_000))
    await describe(env, c, type="Switch")
    await describe(env, d, active=False)
    admin = acme.admin

    async def listed(query: str) -> list[str]:
        r = await env.client.get(f"/v1/admin/nodes{query}", headers=admin)
        assert r.status_code == 200, r.text
        return list(r.json()["nodes"])

    r = await env.client.get("/v1/admin/nodes?num_records=3", headers=admin)
    body = r.json()
    assert body["nodes"] == [a, b, c] and body["total"] == 4 and body["next_id"] == d
    first = body["node_info"][0]
    assert first["node_id"] == a and first["node_status"] == "online"
    assert first["subtype"] == "bulb" and first["tags"] == ["site:pune"]
    assert first["status"] == {"connectivity": {"connected": True,
                                                "timestamp": 1_700_000_000_000}}
    assert body["node_info"][2]["node_status"] == "not_activated"
    assert body["node_info"][2]["status"] == {"connectivity": {}}
    r = await env.client.get(f"/v1/admin/nodes?num_records=3&start_id={d}", headers=admin)
    assert r.json()["nodes"] == [d] and "next_id" not in r.json()

    assert await listed("?type=Light") == [a, b]
    assert await listed("?type=Light&model=L1&fw_version=1.0") == [a]
    assert await listed("?subtype=bulb") == [a]
    assert await listed("?tags=site:pune OR site:goa") == [a, b]
    assert await listed("?tags=site:goa AND floor:2") == [b]
    assert await listed("?tags=site:pune AND floor:2") == []
    assert await listed("?node_status=offline") == [b]
    assert await listed("?node_status=deactivated") == [d]
    assert await listed("?node_status=not_activated") == [c]
    assert await listed("?node_status=active&start_time=1650000000000") == [a]
    assert await listed("?node_status=online&type=Light") == [a]

    r = await env.client.get(f"/v1/admin/nodes?node_id={a}", headers=admin)
    assert r.json()["params"] == {"Light": {"power": True}}
    assert r.json()["config"]["info"]["subtype"] == "bulb"
    r = await env.client.get("/v1/admin/nodes?summary=true&start_time=1650000000000",
                             headers=admin)
    assert r.json() == {"active_count": 1, "inactive_count": 1, "not_activated_count": 2}

    for query, code in [("?model=L1", 105034), ("?type=Light&fw_version=1", 105035),
                        ("?tags=a:b AND c:d OR e:f", 105042), ("?node_status=asleep", 105044),
                        ("?summary=true", 105063), ("?start_time=soon", 105063),
                        ("?num_records=0", 100006), ("?node_id=NOPE", 100015)]:
        r = await env.client.get(f"/v1/admin/nodes{query}", headers=admin)
        assert r.status_code in (400, 404) and r.json()["error_code"] == code, (query, r.text)


async def test_listing_costs_the_same_statements_for_any_page_size(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 6)
    engine = env.container.engine().sync_engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", count)
    try:
        sizes = []
        for size in (2, 6):
            statements.clear()
            r = await env.client.get(f"/v1/admin/nodes?num_records={size}&tags=a:b OR c:d",
                                     headers=acme.admin)
            assert r.status_code == 200
            sizes.append(len(statements))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sizes[0] == sizes[1]


@pytest.fixture
async def hooked(settings: Settings) -> AsyncIterator[Env]:
    """The broker hooks served: an external broker, calling from the test client's address."""
    async for env in start_env(with_settings(settings, mqtt_url="mqtt://broker.invalid:1883",
                                             broker_hook_allow=("203.0.113.7",))):
        yield env


async def test_a_deactivated_node_is_refused_by_the_broker(hooked: Env) -> None:
    env = hooked
    acme = await org_with_devices(env, "acme", 2)
    device, other = acme.devices
    login = {"username": device.node_id, "password": device.mqtt_password,
             "clientid": device.node_id}
    r = await env.client.post(EMQX_AUTH, json=login)
    assert r.json()["result"] == "allow"

    r = await env.client.put(f"/v1/admin/nodes?node_id={device.node_id}&activate=false",
                             headers=acme.admin)
    assert r.status_code == 200 and r.json()["status"] == "success", r.text
    assert (await env.client.post(EMQX_AUTH, json=login)).json() == {"result": "deny"}
    assert (await env.client.post(GO_USER, json=login)).status_code == 403
    other_login = {"username": other.node_id, "password": other.mqtt_password,
                   "clientid": other.node_id}
    assert (await env.client.post(EMQX_AUTH, json=other_login)).json()["result"] == "allow"
    r = await env.client.get(f"/v1/admin/nodes?node_id={device.node_id}", headers=acme.admin)
    assert r.json()["node_status"] == "deactivated"

    r = await env.client.put(f"/v1/admin/nodes?node_id={device.node_id}&activate=true",
                             headers=acme.admin)
    assert r.status_code == 200
    assert (await env.client.post(EMQX_AUTH, json=login)).json()["result"] == "allow"


async def test_tags_for_many_nodes_their_names_and_removal(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    a, b = sorted(dev.node_id for dev in acme.devices)
    admin = acme.admin
    r = await env.client.put(f"/v1/admin/nodes?node_id={a},{b}", headers=admin,
                             json={"tags": ["site:pune", "floor:1"]})
    assert r.status_code == 200, r.text
    r = await env.client.put(f"/v1/admin/nodes?node_id={b}", headers=admin,
                             json={"tags": ["site:goa"]})
    r = await env.client.get("/v1/admin/nodes/tags", headers=admin)
    assert r.json() == {"tags": ["floor", "site"], "total": 2}
    r = await env.client.get("/v1/admin/nodes/tags?tag_name=site&num_records=1", headers=admin)
    assert r.json() == {"tag_values": ["goa"], "total": 2, "next_id": "pune"}

    r = await env.client.request("DELETE", f"/v1/admin/nodes?node_id={a},{b}", headers=admin,
                                 json={"tags": ["floor:1"]})
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/admin/nodes?node_id={b}", headers=admin)
    assert r.json()["tags"] == ["site:pune", "site:goa"]

    r = await env.client.put(f"/v1/admin/nodes?node_id={a},NOPE", headers=admin,
                             json={"tags": ["x:y"]})
    assert r.status_code == 207
    assert r.json() == {"responses": [
        {"node_id": a, "status": "success", "description": "Node(s) updated successfully"},
        {"node_id": "NOPE", "status": "failure", "description": "Nodes do not exist",
         "error_code": 100015}]}

    many = ",".join(f"N{i}" for i in range(26))
    for query, body, code in [
            (f"?node_id={many}", {"tags": ["a:b"]}, 105062),
            (f"?node_id={a}", {"tags": []}, 105048),
            (f"?node_id={a}", {"tags": ["nocolon"]}, 105046),
            (f"?node_id={a}", None, 105025),
            (f"?node_id={a}&activate=maybe", None, 105025),
            ("", {"tags": ["a:b"]}, 105018),
            ("?node_id=NOPE", {"tags": ["a:b"]}, 100015)]:
        r = await env.client.put(f"/v1/admin/nodes{query}", headers=admin, json=body)
        assert r.json()["error_code"] == code, (query, body, r.text)
        assert r.status_code == 400
    r = await env.client.request("DELETE", f"/v1/admin/nodes?node_id={a}", headers=admin,
                                 json={})
    assert r.status_code == 400 and r.json()["error_code"] == 105048


async def test_associations_and_direct_mappings(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    a, b = sorted(dev.node_id for dev in acme.devices)
    admin = acme.admin
    alice = await env.provision("alice@acme.io", org="acme")
    bob = await env.provision("bob@acme.io", org="acme")
    alice_id, bob_id = await user_id_of(env, alice), await user_id_of(env, bob)

    r = await env.client.put(MAPPING.format(alice_id, a), headers=admin)
    assert r.json() == {"status": "success",
                        "description": "User node mapping confirmed successfully"}, r.text
    r = await env.client.put(MAPPING.format(alice_id, b), headers=admin)
    r = await env.client.put(MAPPING.format(bob_id, a), headers=admin,
                             json={"role": "secondary"})
    assert r.status_code == 200, r.text
    # alice now reaches both nodes through the user API
    r = await env.client.get("/v1/user/nodes", headers={"Authorization": alice})
    assert r.json()["nodes"] == [a, b]

    r = await env.client.get(f"/v1/admin/user/nodes?user_id={alice_id}", headers=admin)
    assert r.json() == {"primary": {"nodes": [a, b], "total": 2},
                        "secondary": {"nodes": [], "total": 0}, "total": 2}
    r = await env.client.get("/v1/admin/user/nodes?user_name=BOB@acme.io&node_details=true",
                             headers=admin)
    assert r.json()["secondary"] == {"nodes": [a], "total": 1}
    assert [n["node_id"] for n in r.json()["node_info"]] == [a]
    assert "mapping_timestamp" in r.json()["node_info"][0]
    r = await env.client.get(f"/v1/admin/user/nodes?node_id={a}&role=primary", headers=admin)
    assert r.json() == {"primary": {"users": [{"user_id": alice_id,
                                               "user_name": "alice@acme.io"}], "total": 1},
                        "total": 1}
    r = await env.client.get(f"/v1/admin/user/nodes?user_id={alice_id}&num_records=1",
                             headers=admin)
    assert r.json()["primary"]["nodes"] == [a] and r.json()["next_id"] == b

    # bob, mapped primary, takes node b over: alice's mapping to it goes
    r = await env.client.put(MAPPING.format(bob_id, b), headers=admin)
    r = await env.client.get(f"/v1/admin/user/nodes?node_id={b}", headers=admin)
    assert r.json()["primary"]["users"] == [{"user_id": bob_id, "user_name": "bob@acme.io"}]
    assert r.json()["secondary"]["users"] == []

    r = await env.client.delete(MAPPING.format(alice_id, a), headers=admin)
    assert r.json() == {"status": "success",
                        "description": "Node to user mapping removed successfully"}
    r = await env.client.delete(MAPPING.format(alice_id, a), headers=admin)
    assert r.status_code == 400 and r.json()["error_code"] == 103020
    r = await env.client.get("/v1/user/nodes", headers={"Authorization": alice})
    assert r.json()["nodes"] == []

    for path, code in [(MAPPING.format("no-such-user", a), 101025),
                       (MAPPING.format(alice_id, "NOPE"), 100015)]:
        r = await env.client.put(path, headers=admin)
        # the spec lists 101025 under 404 only, 100015 under 400 too
        assert r.status_code == (404 if code == 101025 else 400), r.text
        assert r.json()["status"] == "failure" and r.json()["error_code"] == code
    r = await env.client.put(MAPPING.format(alice_id, a), headers=admin,
                             json={"role": "owner"})
    assert r.status_code == 400 and r.json()["error_code"] == 103023
    for query, code in [("", 103036), (f"?user_id={alice_id}&node_id={a}", 103037),
                        (f"?user_name=alice@acme.io&node_id={a}", 103038),
                        (f"?user_id={alice_id}&role=owner", 103023),
                        ("?user_name=not-an-email", 101002), ("?user_id=nobody", 101025)]:
        r = await env.client.get(f"/v1/admin/user/nodes{query}", headers=admin)
        assert r.json()["error_code"] == code, (query, r.text)


async def test_plain_users_are_refused_and_anonymous_callers_unauthenticated(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    node_id = acme.devices[0].node_id
    user = await env.provision("carol@acme.io", org="acme")
    uid = await user_id_of(env, user)
    calls = [("GET", "/v1/admin/nodes", None), ("GET", "/v1/admin/nodes/tags", None),
             ("PUT", f"/v1/admin/nodes?node_id={node_id}&activate=false", None),
             ("DELETE", f"/v1/admin/nodes?node_id={node_id}", {"tags": ["a:b"]}),
             ("GET", f"/v1/admin/user/nodes?user_id={uid}", None),
             ("PUT", MAPPING.format(uid, node_id), None),
             ("DELETE", MAPPING.format(uid, node_id), None)]
    for method, path, body in calls:
        r = await env.client.request(method, path, json=body, headers={"Authorization": user})
        assert r.status_code == 400 and r.json()["error_code"] == 100004, (method, path)
        r = await env.client.request(method, path, json=body)
        assert r.status_code == 401, (method, path)
    r = await env.client.get(f"/v1/admin/nodes?node_id={node_id}", headers=acme.admin)
    assert r.json()["node_status"] != "deactivated"


async def test_the_admin_role_reaches_the_routes(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    await env.provision("dave@acme.io", org="acme")
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        dave = await uow.users.get_by_user_name("dave@acme.io")
        assert dave is not None
        dave.roles = {"admin", "user"}
        await uow.users.save(dave)
        await uow.commit()
    token = (await env.login("dave@acme.io"))["accesstoken"]
    r = await env.client.get("/v1/admin/nodes", headers={"Authorization": token})
    assert r.status_code == 200 and r.json()["nodes"] == [acme.devices[0].node_id]


async def test_an_admin_never_reaches_another_organizations_nodes_or_users(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    bravo = await org_with_devices(env, "bravo", 1)
    mine, theirs = acme.devices[0].node_id, bravo.devices[0].node_id
    await describe(env, theirs, tags=["secret:bravo"], type="Light")
    bob = await env.provision("bob@bravo.io", org="bravo")
    bob_id = await user_id_of(env, bob)
    admin = acme.admin

    r = await env.client.get("/v1/admin/nodes", headers=admin)
    assert r.json()["nodes"] == [mine] and r.json()["total"] == 1
    r = await env.client.get("/v1/admin/nodes?summary=true&start_time=0", headers=admin)
    assert sum(r.json().values()) == 1
    r = await env.client.get("/v1/admin/nodes/tags", headers=admin)
    assert "secret" not in r.json()["tags"]
    foreign = await env.client.get(f"/v1/admin/nodes?node_id={theirs}", headers=admin)
    unknown = await env.client.get("/v1/admin/nodes?node_id=NOPE", headers=admin)
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json() == unknown.json()

    for method, path, body in [
            ("PUT", f"/v1/admin/nodes?node_id={theirs}&activate=false", None),
            ("PUT", f"/v1/admin/nodes?node_id={theirs}", {"tags": ["x:y"]}),
            ("DELETE", f"/v1/admin/nodes?node_id={theirs}", {"tags": ["secret:bravo"]}),
            ("GET", f"/v1/admin/user/nodes?node_id={theirs}", None),
            ("GET", f"/v1/admin/user/nodes?user_id={bob_id}", None),
            ("GET", "/v1/admin/user/nodes?user_name=bob@bravo.io", None),
            ("PUT", MAPPING.format(bob_id, mine), None),
            ("PUT", MAPPING.format(await user_id_of(env, admin["Authorization"]), theirs),
             None),
            ("DELETE", MAPPING.format(bob_id, theirs), None)]:
        r = await env.client.request(method, path, json=body, headers=admin)
        expected = 404 if r.json()["error_code"] == 101025 else 400  # the spec's statuses
        assert r.status_code == expected, (method, path, r.text)
        assert bob_id not in r.text and "secret" not in r.text
    r = await env.client.get(f"/v1/admin/nodes?node_id={theirs}", headers=bravo.admin)
    assert r.json()["tags"] == ["secret:bravo"] and r.json()["node_status"] != "deactivated"
    r = await env.client.get(f"/v1/admin/user/nodes?node_id={mine}", headers=admin)
    assert r.json()["primary"]["users"] == []
