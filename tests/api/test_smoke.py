from tests.conftest import Env


async def test_signup_confirm_login_and_profile(env: Env) -> None:
    token = await env.user("alice@example.com")
    r = await env.client.get("/v1/user2", headers={"Authorization": token})
    assert r.status_code == 200
    body = r.json()
    assert body["user_name"] == "alice@example.com"
    assert "super_admin" not in body
