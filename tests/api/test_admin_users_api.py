"""RainMaker admin user management (/v1/admin/user2): admins and superadmins create, list,
update and delete the users of their own organization only; end users reach none of it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PASSWORD, Env

PATH = "/v1/admin/user2"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


async def create(env: Env, token: str, **body: Any) -> Any:
    return await env.client.post(PATH, json=body, headers=auth(token))


async def activate(env: Env, user_name: str) -> str:
    """The created user chooses a password with the mailed code, then signs in."""
    code = await env.outbox_code(user_name)
    r = await env.client.put("/v1/forgotpassword2", json={
        "user_name": user_name, "verification_code": code, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str((await env.login(user_name))["accesstoken"])


async def created(env: Env, token: str, user_name: str, **flags: Any) -> str:
    r = await create(env, token, user_name=user_name, **flags)
    assert r.status_code == 201, r.text
    return await activate(env, user_name.lower())


async def listing(env: Env, token: str, **params: Any) -> dict[str, Any]:
    r = await env.client.get(PATH, params=params, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def names(body: dict[str, Any]) -> list[str]:
    return [u["user_name"] for u in body["users_list"]]


def code_of(r: Any) -> int:
    return int(r.json()["error_code"])


@pytest.fixture
async def root(env: Env) -> str:
    return await env.provision("root@acme.com", org="acme")


async def test_superadmin_creates_an_admin_and_a_user_who_set_their_password(
        env: Env, root: str) -> None:
    admin = await created(env, root, "Adm@Acme.com", admin=True)
    await created(env, root, "plain@acme.com")
    body = await listing(env, root, all="true")
    by_name = {u["user_name"]: u for u in body["users_list"]}
    assert set(by_name) == {"adm@acme.com", "plain@acme.com", "root@acme.com"}
    assert by_name["adm@acme.com"]["admin"] is True and "super_admin" not in by_name[
        "adm@acme.com"]
    assert by_name["root@acme.com"]["super_admin"] is True
    assert "admin" not in by_name["plain@acme.com"]
    assert by_name["plain@acme.com"]["user_roles"] == ["user"]
    assert body["total"] == 3 and "next_id" not in body
    # the new admin may use the admin API
    assert (await env.client.get(PATH, headers=auth(admin))).status_code == 200


async def test_a_taken_user_name_is_refused_but_another_organizations_is_not_told(
        env: Env, root: str) -> None:
    await env.provision("boss@other.com", org="other")
    r = await create(env, root, user_name="root@acme.com")
    assert r.status_code == 400 and code_of(r) == 101006, r.text
    r = await create(env, root, user_name="boss@other.com")  # issue 15 item 9
    assert r.status_code == 201 and "boss@other.com" not in names(
        await listing(env, root, all="true")), r.text


async def test_admin_creates_users_but_no_admins_nor_superadmins(env: Env, root: str) -> None:
    admin = await created(env, root, "adm@acme.com", admin=True)
    r = await create(env, admin, user_name="new@acme.com")
    assert r.status_code == 201, r.text
    for flags in ({"super_admin": True}, {"admin": True}):
        r = await create(env, admin, user_name="other@acme.com", **flags)
        assert r.status_code == 400 and code_of(r) == 129033, r.text
    r = await create(env, admin, user_name="other@acme.com", roles=["no-such-role"])
    assert r.status_code == 400 and code_of(r) == 129020, r.text
    # nothing half-created
    assert "other@acme.com" not in names(await listing(env, root, all="true"))


async def test_end_user_reaches_no_admin_user_operation(env: Env, root: str) -> None:
    user = await created(env, root, "plain@acme.com")
    calls = [env.client.post(PATH, json={"user_name": "x@acme.com"}, headers=auth(user)),
             env.client.put(PATH, json={"user_name": "root@acme.com", "admin": True},
                            headers=auth(user)),
             env.client.get(PATH, headers=auth(user)),
             env.client.delete(PATH, params={"user_name": "root@acme.com"},
                               headers=auth(user)),
             env.client.get(f"{PATH}/summary", params={"start_time": "0"},
                            headers=auth(user))]
    for call in calls:
        r = await call
        assert r.status_code == 400 and code_of(r) == 100004, r.text


async def test_listing_pages_by_user_name_and_filters_by_role(env: Env, root: str) -> None:
    await created(env, root, "adm@acme.com", admin=True)
    for i in range(5):
        assert (await create(env, root, user_name=f"u{i}@acme.com")).status_code == 201
    first = await listing(env, root, all="true", num_records="3")
    assert names(first) == ["adm@acme.com", "root@acme.com", "u0@acme.com"]
    assert first["total"] == 7 and first["next_id"] == "u1@acme.com"
    second = await listing(env, root, all="true", num_records="3", start_id=first["next_id"])
    assert names(second) == ["u1@acme.com", "u2@acme.com", "u3@acme.com"]
    third = await listing(env, root, all="true", num_records="3", start_id=second["next_id"])
    assert names(third) == ["u4@acme.com"] and "next_id" not in third
    assert third["total"] == 7
    # default: internal users (holding a role beyond the end-user one)
    assert names(await listing(env, root)) == ["adm@acme.com", "root@acme.com"]
    assert names(await listing(env, root, admin="true")) == ["adm@acme.com"]
    assert names(await listing(env, root, superadmin="true")) == ["root@acme.com"]
    assert names(await listing(env, root, user_name="U3")) == ["u3@acme.com"]


async def test_admins_never_see_superadmins(env: Env, root: str) -> None:
    admin = await created(env, root, "adm@acme.com", admin=True)
    assert "root@acme.com" not in names(await listing(env, admin, all="true"))
    r = await env.client.get(PATH, params={"superadmin": "true"}, headers=auth(admin))
    assert r.status_code == 400 and code_of(r) == 100004, r.text


async def test_update_grants_and_takes_away_built_in_roles(env: Env, root: str) -> None:
    await created(env, root, "u@acme.com")

    async def put(token: str = root, **body: Any) -> Any:
        return await env.client.put(PATH, json={"user_name": "u@acme.com", **body},
                                    headers=auth(token))

    assert (r := await put(admin=False)).status_code == 400 and code_of(r) == 101082
    assert (r := await put(super_admin=False)).status_code == 400 and code_of(r) == 101081
    assert (await put(admin=True)).status_code == 200
    assert (r := await put(admin=True)).status_code == 400 and code_of(r) == 101084
    assert names(await listing(env, root, admin="true")) == ["u@acme.com"]
    assert (await put(super_admin=True)).status_code == 200  # upgrade: admin -> superadmin
    assert (r := await put(super_admin=True)).status_code == 400 and code_of(r) == 101083
    entry = (await listing(env, root, user_name="u@acme.com"))["users_list"][0]
    assert entry["super_admin"] is True and "admin" not in entry
    assert (await put(admin=True)).status_code == 200  # downgrade: superadmin -> admin
    assert (await put(admin=False)).status_code == 200
    entry = (await listing(env, root, user_name="u@acme.com"))["users_list"][0]
    assert entry["user_roles"] == ["user"]
    assert (r := await put()).status_code == 400 and code_of(r) == 101080
    r = await env.client.put(PATH, json={"user_name": "root@acme.com", "super_admin": False},
                             headers=auth(root))
    assert r.status_code == 400 and code_of(r) == 101053, r.text
    r = await env.client.put(PATH, json={"user_name": "nobody@acme.com", "admin": True},
                             headers=auth(root))
    assert r.status_code == 404 and code_of(r) == 101025, r.text


async def test_delete_removes_a_user_but_never_a_superadmin_nor_oneself(
        env: Env, root: str) -> None:
    admin = await created(env, root, "adm@acme.com", admin=True)
    await created(env, root, "plain@acme.com")
    await created(env, root, "adm2@acme.com", admin=True)
    r = await env.client.delete(PATH, params={"user_name": "plain@acme.com"},
                                headers=auth(admin))
    assert r.status_code == 200, r.text
    r = await env.client.post("/v1/login2", json={"user_name": "plain@acme.com",
                                                  "password": PASSWORD})
    assert r.status_code == 400
    r = await env.client.delete(PATH, params={"user_name": "adm2@acme.com"},
                                headers=auth(admin))
    assert r.status_code == 400 and code_of(r) == 129033, r.text
    r = await env.client.delete(PATH, params={"user_name": "root@acme.com"},
                                headers=auth(admin))
    assert r.status_code == 400 and code_of(r) == 119017, r.text
    r = await env.client.delete(PATH, params={"user_name": "adm@acme.com"},
                                headers=auth(admin))
    assert r.status_code == 400 and code_of(r) == 101053, r.text
    r = await env.client.delete(PATH, params={"user_name": "plain@acme.com"},
                                headers=auth(root))
    assert r.status_code == 400 and code_of(r) == 119006, r.text
    assert names(await listing(env, root, all="true")) == [
        "adm2@acme.com", "adm@acme.com", "root@acme.com"]


async def test_summary_counts_users_who_signed_in_since(env: Env, root: str) -> None:
    await created(env, root, "a@acme.com")
    await create(env, root, user_name="never@acme.com")
    r = await env.client.get(f"{PATH}/summary", params={"start_time": "0"}, headers=auth(root))
    assert r.status_code == 200 and r.json() == {"active_count": 2}, r.text
    r = await env.client.get(f"{PATH}/summary", params={"start_time": "99999999999"},
                             headers=auth(root))
    assert r.json() == {"active_count": 0}


async def test_another_organization_cannot_see_nor_touch_these_users(
        env: Env, root: str) -> None:
    await created(env, root, "plain@acme.com")
    other = await env.provision("boss@other.com", org="other")
    assert names(await listing(env, other, all="true")) == ["boss@other.com"]
    assert (await listing(env, other, user_name="plain@acme.com"))["users_list"] == []
    r = await env.client.put(PATH, json={"user_name": "plain@acme.com", "admin": True},
                             headers=auth(other))
    assert r.status_code == 404 and code_of(r) == 101025, r.text
    r = await env.client.delete(PATH, params={"user_name": "plain@acme.com"},
                                headers=auth(other))
    assert r.status_code == 400 and code_of(r) == 119006, r.text
    r = await env.client.get(f"{PATH}/summary", params={"start_time": "0"},
                             headers=auth(other))
    assert r.json() == {"active_count": 1}
    assert "plain@acme.com" in names(await listing(env, root, all="true"))


@pytest.mark.parametrize(("method", "params", "body", "code"), [
    ("POST", {}, {}, 101001),
    ("POST", {}, {"user_name": "not-an-email"}, 101002),
    ("POST", {}, {"user_name": "x@acme.com", "admin": "yes"}, 100006),
    ("POST", {}, {"user_name": "x@acme.com", "roles": [""]}, 129020),
    ("POST", {}, {"user_name": "x@acme.com", "quota": 0}, 101042),
    ("PUT", {}, {"admin": True}, 101001),
    ("PUT", {}, {"user_name": "x@acme.com"}, 101080),
    ("GET", {"num_records": "0"}, None, 100012),
    ("GET", {"num_records": "101"}, None, 100012),
    ("GET", {"num_records": "abc"}, None, 100012),
    ("GET", {"all": "maybe"}, None, 100006),
    ("DELETE", {}, None, 101001),
    ("DELETE", {"user_name": "bad"}, None, 101002),
    ("SUMMARY", {}, None, 100054),
    ("SUMMARY", {"start_time": "yesterday"}, None, 100054),
    ("SUMMARY", {"start_time": "-5"}, None, 100054),
])
async def test_bad_input_is_refused_with_rainmaker_codes(
        env: Env, root: str, method: str, params: dict[str, str], body: Any, code: int) -> None:
    path = f"{PATH}/summary" if method == "SUMMARY" else PATH
    r = await env.client.request("GET" if method == "SUMMARY" else method, path,
                                 params=params, json=body, headers=auth(root))
    assert r.status_code == 400 and code_of(r) == code, r.text


async def test_the_openapi_document_lists_the_admin_user_operations(env: Env) -> None:
    paths = (await env.client.get("/v1/openapi.json")).json()["paths"]
    assert set(paths[PATH]) == {"get", "post", "put", "delete"}
    assert paths[f"{PATH}/summary"]["get"]["operationId"] == "getActiveUserCount"
