"""The account surface of the GraphQL API, with real documents through the ASGI app."""

from __future__ import annotations

from tests.conftest import PASSWORD, Env

LOGIN = """mutation($u: String!, $p: String!) {
  login(input: {userName: $u, password: $p}) { accessToken idToken refreshToken expiresIn } }"""


async def gql_login(env: Env, user_name: str, password: str = PASSWORD) -> dict:
    out = await env.gql(LOGIN, {"u": user_name, "p": password})
    assert "errors" not in out, out
    return out["data"]["login"]


async def test_register_confirm_login_and_me(env: Env) -> None:
    out = await env.gql("""mutation { register(input: {userName: "gq@example.com",
        password: "Secret-pass1", name: "Gee"}) {
        user { userName name } verificationRequired } }""")
    assert out["data"]["register"] == {"user": {"userName": "gq@example.com", "name": "Gee"},
                                       "verificationRequired": True}
    code = await env.outbox_code("gq@example.com")
    out = await env.gql("""mutation($c: String!) { confirmRegistration(input: {
        userName: "gq@example.com", verificationCode: $c}) { user { id } } }""", {"c": code})
    assert "errors" not in out
    tokens = await gql_login(env, "gq@example.com")
    me = await env.gql("{ me { userName name superAdmin roles } }", token=tokens["accessToken"])
    assert me["data"]["me"] == {"userName": "gq@example.com", "name": "Gee",
                                "superAdmin": False, "roles": ["user"]}


async def test_register_with_organization_makes_a_superadmin(env: Env) -> None:
    out = await env.gql("""mutation { register(input: {userName: "founder@new.io",
        password: "Secret-pass1", organizationName: "NewCo"}) { user { superAdmin } } }""")
    assert out["data"]["register"]["user"]["superAdmin"] is True
    code = await env.outbox_code("founder@new.io")
    await env.gql("""mutation($c: String!) { confirmRegistration(input: {
        userName: "founder@new.io", verificationCode: $c}) { user { id } } }""", {"c": code})
    token = (await gql_login(env, "founder@new.io"))["accessToken"]
    org = await env.gql("{ organization { name userCount } }", token=token)
    assert org["data"]["organization"] == {"name": "NewCo", "userCount": 1}


async def test_errors_carry_extensions_code(env: Env) -> None:
    out = await env.gql("{ me { id } }")
    assert out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    out = await env.gql(LOGIN, {"u": "nobody@example.com", "p": "Wrong-pass1"})
    assert out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    out = await env.gql(LOGIN, {"u": "not-an-email", "p": "x"})
    assert out["errors"][0]["extensions"]["code"] == "VALIDATION"
    out = await env.gql("{ nope }")
    assert out["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION"


async def test_profile_password_and_logout_mutations(env: Env) -> None:
    await env.signup("pp@example.com")
    token = (await gql_login(env, "pp@example.com"))["accessToken"]
    out = await env.gql('mutation { updateProfile(input: {name: "Pat"}) { user { name } } }',
                        token=token)
    assert out["data"]["updateProfile"]["user"]["name"] == "Pat"
    out = await env.gql("""mutation { changePassword(input: {currentPassword: "Secret-pass1",
        newPassword: "Newer-pass2"}) { ok } }""", token=token)
    assert out["data"]["changePassword"]["ok"] is True
    out = await env.gql("{ me { id } }", token=token)
    assert out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    token = (await gql_login(env, "pp@example.com", "Newer-pass2"))["accessToken"]
    out = await env.gql("mutation { logout(input: {allSessions: true}) { ok } }", token=token)
    assert out["data"]["logout"]["ok"] is True
    out = await env.gql("{ me { id } }", token=token)
    assert out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_password_reset_mutations(env: Env) -> None:
    await env.signup("rr@example.com")
    out = await env.gql('mutation { requestPasswordReset(input: {userName: "rr@example.com"})'
                        " { ok } }")
    assert out["data"]["requestPasswordReset"]["ok"]
    code = await env.outbox_code("rr@example.com")
    out = await env.gql("""mutation($c: String!) { resetPassword(input: {userName: "rr@example.com",
        verificationCode: $c, newPassword: "Reset-pass3"}) { ok } }""", {"c": code})
    assert out["data"]["resetPassword"]["ok"]
    await gql_login(env, "rr@example.com", "Reset-pass3")


async def test_end_user_cannot_manage_api_keys(env: Env) -> None:
    token = await env.user("enduser@example.com")
    out = await env.gql('mutation { createApiKey(input: {name: "x"}) { key } }', token=token)
    assert out["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    out = await env.gql("{ apiKeys { edges { node { id } } } }", token=token)
    assert out["errors"][0]["extensions"]["code"] == "FORBIDDEN"
