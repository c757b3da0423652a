"""RainMaker v1 user management on the wire, end to end through the ASGI app."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import PASSWORD, Env


def claims(jwt_token: str) -> dict[str, object]:
    payload = jwt_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_api_versions_with_and_without_prefix(env: Env) -> None:
    for path in ("/apiversions", "/v1/apiversions"):
        r = await env.client.get(path)
        assert r.status_code == 200 and r.json()["supported_versions"] == ["v1"]


async def test_sign_up_confirm_and_login_return_rainmaker_tokens(env: Env) -> None:
    r = await env.client.post("/v1/user2", json={"user_name": "Bob@Example.com",
                                                 "password": PASSWORD})
    assert r.status_code == 201 and r.json()["status"] == "success"
    r = await env.client.post("/v1/login2", json={"user_name": "bob@example.com",
                                                  "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error_code"] == 101015  # not verified yet
    code = await env.outbox_code("bob@example.com")
    r = await env.client.post("/v1/user2", json={"user_name": "bob@example.com",
                                                 "verification_code": code})
    assert r.status_code == 201
    body = await env.login("bob@example.com")
    assert body["status"] == "success" and body["description"] == "Login successful"
    assert claims(body["idtoken"])["email"] == "bob@example.com"
    assert "exp" in claims(body["accesstoken"])
    assert body["refreshtoken"].startswith("rt_")


async def test_deprecated_aliases_behave_like_their_replacements(env: Env) -> None:
    r = await env.client.post("/v1/user", json={"user_name": "old@example.com",
                                                "password": PASSWORD})
    assert r.status_code == 201
    code = await env.outbox_code("old@example.com")
    r = await env.client.post("/v1/user", json={"user_name": "old@example.com",
                                                "verification_code": code})
    assert r.status_code == 201
    r = await env.client.post("/v1/login", json={"user_name": "old@example.com",
                                                 "password": PASSWORD})
    token = r.json()["accesstoken"]
    auth = {"Authorization": token}
    assert (await env.client.get("/v1/user", headers=auth)).json()["user_name"] == \
        "old@example.com"
    r = await env.client.put("/v1/user", json={"name": "Old Timer"}, headers=auth)
    assert r.status_code == 200
    assert (await env.client.get("/v1/user2", headers=auth)).json()["name"] == "Old Timer"
    r = await env.client.put("/v1/password", json={"password": PASSWORD,
                                                   "newpassword": "Newer-pass2"}, headers=auth)
    assert r.status_code == 200
    r = await env.client.put("/v1/forgotpassword", json={"user_name": "old@example.com"})
    assert r.status_code == 200
    token = (await env.login("old@example.com", "Newer-pass2"))["accesstoken"]
    r = await env.client.post("/v1/logout", headers={"Authorization": token})
    assert r.status_code == 200
    assert (await env.client.get("/v1/user2", headers={"Authorization": token})).status_code \
        == 401


async def test_raw_and_bearer_tokens_are_both_accepted(env: Env) -> None:
    token = await env.user("carol@example.com")
    for header in (token, f"Bearer {token}", f"bearer {token}"):
        r = await env.client.get("/v1/user2", headers={"Authorization": header})
        assert r.status_code == 200, header


async def test_get_user_shows_super_admin_only_when_true(env: Env) -> None:
    admin = await env.provision("root@example.com", org="Acme")
    body = (await env.client.get("/v1/user2", headers={"Authorization": admin})).json()
    assert body["super_admin"] is True
    assert set(body) == {"user_id", "user_name", "name", "super_admin"}


async def test_update_name_validates(env: Env) -> None:
    token = await env.user("dan@example.com")
    auth = {"Authorization": token}
    r = await env.client.put("/v1/user2", json={}, headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == 101045
    r = await env.client.put("/v1/user2", json={"name": ""}, headers=auth)
    assert r.status_code == 400
    r = await env.client.put("/v1/user2", json={"name": 42}, headers=auth)
    assert r.status_code == 400
    r = await env.client.put("/v1/user2", json={"name": "Dan"}, headers=auth)
    assert r.status_code == 200


async def test_refresh_extends_the_session(env: Env) -> None:
    await env.signup("eve@example.com")
    first = await env.login("eve@example.com")
    r = await env.client.post("/v1/login2", json={"user_name": "eve@example.com",
                                                  "refreshtoken": first["refreshtoken"]})
    assert r.status_code == 200
    body = r.json()
    assert body["accesstoken"] != first["accesstoken"] or body["idtoken"]
    assert (await env.client.get("/v1/user2", headers={"Authorization": body["accesstoken"]})
            ).status_code == 200
    r = await env.client.post("/v1/login2", json={"refreshtoken": "rt_bogus"})
    assert r.status_code == 400 and r.json()["error_code"] == 101017


async def test_logout_all_ends_every_session(env: Env) -> None:
    await env.signup("fay@example.com")
    a = (await env.login("fay@example.com"))["accesstoken"]
    b = (await env.login("fay@example.com"))["accesstoken"]
    r = await env.client.post("/v1/logout2?logout_all=maybe", headers={"Authorization": a})
    assert r.status_code == 400 and r.json()["error_code"] == 101036
    r = await env.client.post("/v1/logout2", headers={"Authorization": a})
    assert r.status_code == 200
    assert (await env.client.get("/v1/user2", headers={"Authorization": a})).status_code == 401
    assert (await env.client.get("/v1/user2", headers={"Authorization": b})).status_code == 200
    c = (await env.login("fay@example.com"))["accesstoken"]
    r = await env.client.post("/v1/logout2?logout_all=true", headers={"Authorization": c})
    assert r.status_code == 200
    for token in (b, c):
        assert (await env.client.get("/v1/user2", headers={"Authorization": token})
                ).status_code == 401


async def test_change_password_ends_all_sessions(env: Env) -> None:
    await env.signup("gus@example.com")
    a = (await env.login("gus@example.com"))["accesstoken"]
    b = (await env.login("gus@example.com"))["accesstoken"]
    r = await env.client.put("/v1/password2", json={"password": "Wrong-pass9",
                                                    "newpassword": "Newer-pass2"},
                             headers={"Authorization": a})
    assert r.status_code == 400 and r.json()["error_code"] == 101007
    r = await env.client.put("/v1/password2", json={"password": PASSWORD,
                                                    "newpassword": "weak"},
                             headers={"Authorization": a})
    assert r.status_code == 400 and r.json()["error_code"] == 101004
    r = await env.client.put("/v1/password2", json={"password": PASSWORD,
                                                    "newpassword": "Newer-pass2"},
                             headers={"Authorization": a})
    assert r.status_code == 200
    for token in (a, b):
        assert (await env.client.get("/v1/user2", headers={"Authorization": token})
                ).status_code == 401
    await env.login("gus@example.com", "Newer-pass2")


async def test_forgot_password_flow(env: Env) -> None:
    await env.signup("hal@example.com")
    r = await env.client.put("/v1/forgotpassword2", json={"user_name": "nobody@example.com"})
    assert r.status_code == 200  # as for a known address (issue 15 item 9)
    r = await env.client.put("/v1/forgotpassword2", json={"user_name": "hal@example.com"})
    assert r.status_code == 200
    code = await env.outbox_code("hal@example.com")
    r = await env.client.put("/v1/forgotpassword2", json={
        "user_name": "hal@example.com", "verification_code": "999999",
        "password": "Reset-pass3"})
    assert r.status_code == 400 and r.json()["error_code"] == 101012
    r = await env.client.put("/v1/forgotpassword2", json={
        "user_name": "hal@example.com", "verification_code": code, "password": "Reset-pass3"})
    assert r.status_code == 200
    await env.login("hal@example.com", "Reset-pass3")


async def test_delete_account_two_steps(env: Env) -> None:
    token = await env.user("ida@example.com")
    auth = {"Authorization": token}
    r = await env.client.delete("/v1/user2", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == 119007
    r = await env.client.delete("/v1/user2?verification_code=123456", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == 119015
    r = await env.client.delete("/v1/user2?request=true", headers=auth)
    assert r.status_code == 200
    r = await env.client.delete("/v1/user2?verification_code=000000", headers=auth)
    assert r.status_code == 400 and r.json()["error_code"] == 119005
    code = await env.outbox_code("ida@example.com")
    r = await env.client.delete(f"/v1/user2?verification_code={code}", headers=auth)
    assert r.status_code == 200
    r = await env.client.post("/v1/login2", json={"user_name": "ida@example.com",
                                                  "password": PASSWORD})
    assert r.status_code == 400 and r.json()["error_code"] == 101009


async def test_superadmin_deletion_is_refused(env: Env) -> None:
    token = await env.provision("boss@example.com", org="Bossco")
    r = await env.client.delete("/v1/user2?request=true", headers={"Authorization": token})
    assert r.status_code == 400 and r.json()["error_code"] == 119017


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/user2"), ("PUT", "/v1/user2"),
                                              ("DELETE", "/v1/user2"), ("POST", "/v1/logout2"),
                                              ("PUT", "/v1/password2")])
async def test_protected_routes_need_a_token(env: Env, method: str, path: str) -> None:
    r = await env.client.request(method, path, json={})
    assert r.status_code == 401
    assert r.json() == {"status": "failure", "description": "Error, access token is missing",
                        "error_code": 100046}
    r = await env.client.request(method, path, json={}, headers={"Authorization": "garbage"})
    assert r.status_code == 401 and r.json()["error_code"] == 100047


async def test_unknown_route_and_wrong_method_answer_in_rainmaker_shape(env: Env) -> None:
    r = await env.client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["status"] == "failure"
    r = await env.client.patch("/v1/user2", json={})
    assert r.status_code == 405 and r.json()["status"] == "failure"


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"\"x\"", b"{\"user_name\": 5, "
                                  b"\"password\": \"Secret-pass1\"}", b""])
async def test_bad_bodies_are_400_with_a_stable_code(env: Env, body: bytes) -> None:
    r = await env.client.post("/v1/user2", content=body,
                              headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert isinstance(r.json()["error_code"], int)


async def test_an_optional_body_of_white_space_is_not_json(env: Env) -> None:
    token = await env.user("ws@example.com")
    r = await env.client.post("/v1/logout2", content=b" ",
                              headers={"Authorization": token, "content-type": "application/json"})
    assert r.status_code == 400
    r = await env.client.post("/v1/logout2", headers={"Authorization": token})
    assert r.status_code == 200
