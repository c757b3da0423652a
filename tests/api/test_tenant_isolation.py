"""Two organizations side by side: nothing of B is visible or writable from A (S1, for the
surface this capability has: accounts, organization, API keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from tests.conftest import SECRET, Env

CREATE_KEY = 'mutation($n: String!) { createApiKey(input: {name: $n}) { key apiKey { id } } }'
REVOKE = 'mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } } }'


async def _org(env: Env, name: str) -> dict[str, str]:
    owner = await env.provision(f"owner@{name}.io", org=name)
    out = await env.gql(CREATE_KEY, {"n": f"{name}-key"}, token=owner)
    member = await env.user(f"member@{name}.io",
                            Authorization=f"Bearer {out['data']['createApiKey']['key']}")
    me = await env.gql("{ me { id organizationId } }", token=owner)
    return {"owner": owner, "member": member, "key": out["data"]["createApiKey"]["key"],
            "key_id": out["data"]["createApiKey"]["apiKey"]["id"],
            "user_id": me["data"]["me"]["id"], "org_id": me["data"]["me"]["organizationId"]}


async def test_sign_up_with_an_org_api_key_joins_that_org(env: Env) -> None:
    a = await _org(env, "alpha")
    me = await env.gql("{ me { organizationId } }", token=a["member"])
    assert me["data"]["me"]["organizationId"] == a["org_id"]


async def test_nothing_of_another_org_is_visible_or_writable(env: Env) -> None:
    a, b = await _org(env, "alpha"), await _org(env, "bravo")
    b_ids = {b["key_id"], b["user_id"], b["org_id"]}
    seen: list[str] = []
    for principal in (a["owner"], a["member"], a["key"]):
        for query in ("{ organization { id name userCount } }",
                      "{ apiKeys(first: 50) { edges { node { id name prefix } } } }"):
            seen.append(str(await env.gql(query, token=principal)))
        seen.append((await env.client.get("/v1/user2",
                                          headers={"Authorization": principal})).text)
    assert not any(i in text for text in seen for i in b_ids)
    org = await env.gql("{ organization { name userCount } }", token=a["key"])
    assert org["data"]["organization"] == {"name": "alpha", "userCount": 2}

    foreign = await env.gql(REVOKE, {"id": b["key_id"]}, token=a["owner"])
    unknown = await env.gql(REVOKE, {"id": "0000000000000000"}, token=a["owner"])
    assert foreign["errors"][0]["extensions"] == unknown["errors"][0]["extensions"]
    assert foreign["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # B's key still works: A's attempt changed nothing
    assert "errors" not in await env.gql("{ organization { id } }", token=b["key"])


async def test_a_token_claiming_another_org_is_rejected(env: Env) -> None:
    a, b = await _org(env, "alpha"), await _org(env, "bravo")
    real = jwt.decode(a["owner"], options={"verify_signature": False})
    now = datetime.now(UTC)
    forged = jwt.encode({**real, "org": b["org_id"], "iat": now, "nbf": now,
                         "exp": now + timedelta(minutes=5)}, SECRET, algorithm="HS256")
    r = await env.client.get("/v1/user2", headers={"Authorization": forged})
    assert r.status_code == 401
    out = await env.gql("{ organization { id } }", token=forged)
    assert out["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_sign_up_on_an_org_host_name_joins_that_org(env: Env) -> None:
    org = await env.container.registration().create_organization(name="Hosted",
                                                                 hostname="iot.hosted.example")
    r = await env.client.post("/v1/user2", json={"user_name": "h@hosted.example",
                                                 "password": "Secret-pass1"},
                              headers={"Host": "iot.hosted.example:8443"})
    assert r.status_code == 201
    code = await env.outbox_code("h@hosted.example")
    await env.client.post("/v1/user2", json={"user_name": "h@hosted.example",
                                             "verification_code": code})
    token = (await env.login("h@hosted.example"))["accesstoken"]
    me = await env.gql("{ me { organizationId } }", token=token)
    assert me["data"]["me"]["organizationId"] == org.id
