"""S9: organization API keys are shown once, stored only as a SHA-256, usable as Bearer
credentials on GraphQL and REST, scoped to their organization, and dead once revoked or
expired."""

from __future__ import annotations

import hashlib
import inspect
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text, update

from adapters.sql.tables.accounts import api_keys
from domain.accounts.sessions import Sessions
from graphql_api.pagination import encode_cursor
from tests.conftest import PASSWORD, Env, start_env

CREATE = """mutation($name: String!, $days: Int) {
  createApiKey(input: {name: $name, expiresInDays: $days}) {
    key apiKey { id name prefix createdAt expiresAt revokedAt roles } } }"""
REVOKE = """mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } } }"""
LIST = """query($first: Int!, $after: String) {
  apiKeys(first: $first, after: $after) {
    edges { cursor node { id name prefix revokedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""
ORG = "{ organization { id name } }"
KEY_SHAPE = re.compile(r"^sk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")


async def create_key(env: Env, token: str, name: str = "ci", days: int | None = None
                     ) -> dict[str, Any]:
    body = await env.gql(CREATE, {"name": name, "days": days}, token=token)
    assert body.get("errors") is None, body
    return body["data"]["createApiKey"]  # type: ignore[no-any-return]


def error_code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


async def all_rows(env: Env) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through the app's own engine (all scopes on PG)."""
    engine = env.container.engine()
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
        names = await conn.run_sync(lambda c: sa_inspect(c).get_table_names())
        out = {}
        for name in names:
            rows = await conn.execute(text(f'SELECT * FROM "{name}"'))
            out[name] = [tuple(row) for row in rows]
    return out


async def test_superadmin_creates_a_key_that_is_shown_once_and_works_as_bearer(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = await create_key(env, admin, name="ci pipeline")
    key, record = created["key"], created["apiKey"]
    assert KEY_SHAPE.match(key), key
    assert key.startswith(record["prefix"] + "_")
    assert record["name"] == "ci pipeline" and record["revokedAt"] is None
    assert record["roles"] == ["admin"]

    org = await env.gql(ORG, token=key)
    assert org.get("errors") is None, org
    assert org["data"]["organization"]["name"] == "acme"

    # shown once: no later answer carries the key
    listing = await env.client.post("/graphql", json={"query": LIST, "variables": {"first": 10}},
                                    headers={"Authorization": f"Bearer {admin}"})
    assert key not in listing.text and key.split("_", 2)[2] not in listing.text
    fields = await env.gql('{ __type(name: "ApiKey") { fields { name } } }', token=admin)
    names = {f["name"] for f in fields["data"]["__type"]["fields"]}
    assert not names & {"key", "secret", "secretHash", "hash"}, names


async def test_api_key_authenticates_on_rest(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    key = (await create_key(env, admin))["key"]
    # a key is an organization credential: it may add users to its own organization ...
    r = await env.client.post("/v1/user2", json={"user_name": "new@acme.com",
                                                 "password": PASSWORD},
                              headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    code = await env.outbox_code("new@acme.com")
    r = await env.client.post("/v1/user2", json={"user_name": "new@acme.com",
                                                 "verification_code": code})
    assert r.status_code == 201
    me = await env.gql("{ me { organizationId } organization { name } }",
                       token=(await env.login("new@acme.com"))["accesstoken"])
    assert me["data"]["organization"]["name"] == "acme"
    # ... and is recognised (400 100004: not a user, rather than 401) on a user-only route
    r = await env.client.get("/v1/user2", headers={"Authorization": f"Bearer {key}"})
    assert (r.status_code, r.json()["error_code"]) == (400, 100004), r.text
    assert r.json()["error_code"] == 100004


async def test_revoked_key_is_rejected_on_the_next_request(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = await create_key(env, admin)
    key = created["key"]
    assert (await env.gql(ORG, token=key)).get("errors") is None

    revoked = await env.gql(REVOKE, {"id": created["apiKey"]["id"]}, token=admin)
    assert revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"] is not None

    assert error_code(await env.gql(ORG, token=key)) == "UNAUTHENTICATED"
    for method in ("GET", "POST"):
        r = await env.client.request(method, "/v1/user2",
                                     headers={"Authorization": f"Bearer {key}"},
                                     json={"user_name": "x@acme.com", "password": PASSWORD})
        assert r.status_code == 401, r.text
        assert r.json()["error_code"] == 100047
    listing = await env.gql(LIST, {"first": 10}, token=admin)
    node = listing["data"]["apiKeys"]["edges"][0]["node"]
    assert node["revokedAt"] is not None


async def test_a_key_can_revoke_itself_and_then_stops_working(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = await create_key(env, admin)
    key = created["key"]
    assert (await env.gql(REVOKE, {"id": created["apiKey"]["id"]}, token=key)).get(
        "errors") is None
    assert error_code(await env.gql(ORG, token=key)) == "UNAUTHENTICATED"


async def test_expired_key_is_rejected_on_the_next_request(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = await create_key(env, admin, days=1)
    expires = datetime.fromisoformat(created["apiKey"]["expiresAt"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(days=1)
    key = created["key"]
    assert (await env.gql(ORG, token=key)).get("errors") is None
    # a day passes: the stored expiry is in the past (seen by a freshly started instance, so
    # no cached look-up can stand in for the row)
    async with env.container.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
        await conn.execute(update(api_keys).where(api_keys.c.id == created["apiKey"]["id"])
                           .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    async for later in start_env(env.settings):
        assert error_code(await later.gql(ORG, token=key)) == "UNAUTHENTICATED"
        r = await later.client.get("/v1/user2", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401


async def test_key_lifetime_must_be_within_bounds(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    for days in (0, -1, 3651):
        body = await env.gql(CREATE, {"name": "x", "days": days}, token=admin)
        assert error_code(body) == "VALIDATION", (days, body)
    for name in ("", " ", "n" * 101):
        body = await env.gql(CREATE, {"name": name}, token=admin)
        assert error_code(body) == "VALIDATION", (name, body)


async def test_forged_keys_are_rejected(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    key = (await create_key(env, admin))["key"]
    _sk, key_id, secret = key.split("_", 2)  # the secret itself may contain "_"
    prefix = f"sk_{key_id}"
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    forged = [f"{prefix}_{flipped}",                     # right id, wrong secret
              f"sk_{'0' * 16}_{secret}",                 # unknown id, right secret
              f"{prefix}_",                              # no secret
              f"{prefix}_{secret}x",                     # secret with a suffix
              prefix]
    for candidate in forged:
        assert error_code(await env.gql(ORG, token=candidate)) == "UNAUTHENTICATED", candidate
        r = await env.client.get("/v1/user2", headers={"Authorization": f"Bearer {candidate}"})
        assert r.status_code == 401, (candidate, r.text)
    assert (await env.gql(ORG, token=key)).get("errors") is None


async def test_api_keys_list_pages_with_first_and_after(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    made = [(await create_key(env, admin, name=f"key-{i}"))["apiKey"]["id"] for i in range(5)]

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await env.gql(LIST, {"first": 2, "after": after}, token=admin)
        assert body.get("errors") is None, body
        conn = body["data"]["apiKeys"]
        pages += 1
        assert len(conn["edges"]) <= 2
        assert conn["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [edge["node"]["id"] for edge in conn["edges"]]
        if conn["edges"]:
            assert conn["pageInfo"]["startCursor"] == conn["edges"][0]["cursor"]
            assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
        assert pages < 10
    assert pages == 3
    assert seen == made  # oldest first, each exactly once

    bad = await env.gql(LIST, {"first": 2, "after": "not-a-cursor"}, token=admin)
    assert error_code(bad) == "VALIDATION"


async def test_no_plaintext_key_or_secret_is_stored_anywhere_in_the_database(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    created = [await create_key(env, admin, name=f"k{i}") for i in range(3)]
    await env.gql(REVOKE, {"id": created[0]["apiKey"]["id"]}, token=admin)
    session = await env.login("owner@acme.com")
    secrets = {c["key"] for c in created} | {c["key"].split("_", 2)[2] for c in created}
    secrets |= {session["refreshtoken"], session["refreshtoken"][3:], PASSWORD}

    rows = await all_rows(env)
    assert "api_keys" in rows and len(rows["api_keys"]) == 3
    assert len(rows) >= 8, sorted(rows)  # the scan really saw the schema
    dump = "\n".join(repr(row) for table in rows.values() for row in table)
    for secret in secrets:
        assert secret not in dump, f"plaintext secret found in the database: {secret[:8]}..."
    # what is stored instead is the SHA-256 of the whole key
    stored = {value for table in rows.values() for row in table for value in row}
    for c in created:
        assert hashlib.sha256(c["key"].encode()).hexdigest() in stored


async def test_a_key_of_one_organization_cannot_see_or_revoke_another_organizations_keys(
        env: Env) -> None:
    acme = await env.provision("owner@acme.com", org="acme")
    globex = await env.provision("owner@globex.com", org="globex")
    acme_key = (await create_key(env, acme, name="acme-ci"))["key"]
    globex_created = await create_key(env, globex, name="globex-ci")
    globex_id = globex_created["apiKey"]["id"]

    listing = await env.gql(LIST, {"first": 100}, token=acme_key)
    assert [e["node"]["name"] for e in listing["data"]["apiKeys"]["edges"]] == ["acme-ci"]

    foreign = await env.gql(REVOKE, {"id": globex_id}, token=acme_key)
    unknown = await env.gql(REVOKE, {"id": "0123456789abcdef"}, token=acme_key)
    assert foreign.get("data") is None and unknown.get("data") is None
    assert error_code(foreign) == error_code(unknown) == "NOT_FOUND"
    strip = ("message", "extensions")
    assert [{k: e[k] for k in strip} for e in foreign["errors"]] == \
        [{k: e[k] for k in strip} for e in unknown["errors"]]
    # the same holds for the other organization's superadmin user
    assert error_code(await env.gql(REVOKE, {"id": globex_id}, token=acme)) == "NOT_FOUND"

    # globex's key is untouched and still works
    assert (await env.gql(ORG, token=globex_created["key"]))["data"]["organization"][
        "name"] == "globex"
    # and a cursor naming the other organization's key reveals nothing
    page = await env.gql(LIST, {"first": 100, "after": encode_cursor(globex_id)}, token=acme_key)
    assert "globex" not in repr(page)


async def test_an_end_user_may_not_create_list_or_revoke_api_keys(env: Env) -> None:
    admin = await env.provision("owner@acme.com", org="acme")
    victim = await create_key(env, admin)
    user = await env.user("someone@example.com")
    assert error_code(await env.gql(CREATE, {"name": "mine"}, token=user)) == "FORBIDDEN"
    assert error_code(await env.gql(LIST, {"first": 10}, token=user)) == "FORBIDDEN"
    assert error_code(await env.gql(REVOKE, {"id": victim["apiKey"]["id"]},
                                    token=user)) == "FORBIDDEN"
    assert error_code(await env.gql(CREATE, {"name": "anon"})) == "UNAUTHENTICATED"


def test_key_lookup_compares_hashes_in_constant_time() -> None:
    source = inspect.getsource(Sessions.authenticate)
    assert "hmac.compare_digest(" in source
    compared = re.search(r"hmac\.compare_digest\(([^)]*\)?)\)", source)
    assert compared and "secret_hash" in source and "sha256_hex(token)" in compared.group(1)
    # no ordinary equality on the stored hash anywhere on the lookup path
    assert not re.search(r"secret_hash\s*[!=]=|[!=]=\s*\w*\.?secret_hash", source)
    # the comparison runs even for unknown key ids (no early return before it)
    before = source.split("hmac.compare_digest(")[0]
    assert "raise" not in before.split("parse_api_key(token)")[1]
