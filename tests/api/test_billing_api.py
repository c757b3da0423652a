"""Billing through both APIs on LocalBilling (the default): plans, the subscription's
lifecycle, usage and quotas, quota enforcement where organizations add nodes, users and OTA
bytes (REST and GraphQL), tenants apart, who may reach billing, EdgeFlow error bodies, and
rate limiting with the organization's limit from its plan."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fleetgate.settings import Settings
from tests.api.test_admin_nodes_api import org_with_devices
from tests.conftest import Env, start_env

PLANS = """
plans:
  - {id: free, name: Free, price_cents: 0, currency: usd, interval: month,
     requests_per_minute: 1000,
     quotas: {max_nodes: 2, max_ota_storage_bytes: 3000, max_api_requests_per_month: 100,
              max_users: 2}}
  - {id: pro, name: Pro, price_cents: 4900, currency: usd, interval: month,
     requests_per_minute: 1000,
     quotas: {max_nodes: 4, max_ota_storage_bytes: 100000, max_api_requests_per_month: null,
              max_users: 10}}
  - {id: tiny, name: Tiny, price_cents: 900, currency: usd, interval: month,
     requests_per_minute: 1000,
     quotas: {max_nodes: 1, max_ota_storage_bytes: 100000, max_api_requests_per_month: null,
              max_users: 10}}
"""
BILLING = "/api/v1/billing"


def plans_file(tmp_path: Path, text: str = PLANS) -> str:
    path = tmp_path / "plans.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
async def benv(settings: Settings, tmp_path: Path) -> AsyncIterator[Env]:
    async for e in start_env(replace(settings, plans_file=plans_file(tmp_path))):
        yield e


def edgeflow(r: Any, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert (r.status_code, body.get("code"), body.get("status")) == (status, code, status), \
        r.text
    assert isinstance(body.get("error"), str) and body["error"]
    return body


async def test_plans_subscription_lifecycle_and_idempotency(benv: Env) -> None:
    acme = await org_with_devices(benv, "acme", 0)
    h = acme.admin
    plans = (await benv.client.get(f"{BILLING}/plans", headers=h)).json()["plans"]
    assert [p["id"] for p in plans] == ["free", "pro", "tiny"]
    assert plans[0]["quotas"] == {"max_nodes": 2, "max_ota_storage_bytes": 3000,
                                  "max_api_requests_per_month": 100, "max_users": 2}
    sub = (await benv.client.get(f"{BILLING}/subscription", headers=h)).json()["subscription"]
    assert (sub["plan_id"], sub["status"], sub["provider"]) == ("free", "active", "local")

    keyed = {**h, "Idempotency-Key": "order-1"}
    r = await benv.client.post(f"{BILLING}/subscription", headers=keyed, json={"plan_id": "pro"})
    assert r.status_code == 201, r.text
    first = r.json()["subscription"]
    assert (first["plan_id"], first["effective_plan_id"], first["status"]) == \
        ("pro", "pro", "active")
    again = await benv.client.post(f"{BILLING}/subscription", headers=keyed,
                                   json={"plan_id": "pro"})
    assert again.status_code == 201 and again.json()["subscription"] == first
    edgeflow(await benv.client.post(f"{BILLING}/subscription", headers=keyed,
                                    json={"plan_id": "tiny"}), 409, "CONFLICT")
    edgeflow(await benv.client.post(f"{BILLING}/subscription", headers=h,
                                    json={"plan_id": "tiny"}), 409, "CONFLICT")
    edgeflow(await benv.client.post(f"{BILLING}/subscription", headers=h,
                                    json={"plan_id": "gold"}), 404, "NOT_FOUND")
    edgeflow(await benv.client.post(f"{BILLING}/subscription", headers=h,
                                    json={"plan": "pro"}), 400, "VALIDATION")

    changed = await benv.client.put(f"{BILLING}/subscription", headers=h,
                                    json={"plan_id": "tiny"})
    assert changed.json()["subscription"]["plan_id"] == "tiny"
    edgeflow(await benv.client.post(f"{BILLING}/subscription/resume", headers=h), 409,
             "CONFLICT")
    ending = (await benv.client.delete(f"{BILLING}/subscription", headers=h)).json()
    assert ending["subscription"]["cancel_at_period_end"] is True
    resumed = (await benv.client.post(f"{BILLING}/subscription/resume", headers=h)).json()
    assert resumed["subscription"]["cancel_at_period_end"] is False
    quotas = (await benv.client.get(f"{BILLING}/quotas", headers=h)).json()
    assert quotas["plan_id"] == "tiny" and quotas["quotas"]["max_nodes"] == 1
    # LocalBilling takes no payments: no invoices, no cards
    assert (await benv.client.get(f"{BILLING}/invoices", headers=h)).json() == {
        "invoices": [], "has_more": False}
    assert (await benv.client.get(f"{BILLING}/payment-methods", headers=h)).json() == {
        "payment_methods": []}
    edgeflow(await benv.client.post(f"{BILLING}/payment-methods", headers=h), 409, "CONFLICT")
    edgeflow(await benv.client.get(f"{BILLING}/invoices/in_1", headers=h), 404, "NOT_FOUND")
    edgeflow(await benv.client.get(f"{BILLING}/invoices?limit=0", headers=h), 400,
             "VALIDATION")

    # another organization has its own (free) subscription and sees nothing of acme's
    globex = await org_with_devices(benv, "globex", 0)
    other = (await benv.client.get(f"{BILLING}/subscription", headers=globex.admin)).json()
    assert other["subscription"]["plan_id"] == "free"


async def test_quotas_hold_through_both_apis_and_a_downgrade_names_what_is_over(
        benv: Env) -> None:
    acme = await org_with_devices(benv, "acme", 2)  # the free plan's 2 nodes
    h = acme.admin
    r = await benv.client.post("/v1/admin/nodes/registration_token", headers=h,
                               json={"node_name": "third"})
    assert (r.status_code, r.json()["error_code"]) == (400, 100011), r.text
    assert "allows 2 nodes" in r.json()["description"]
    gql = await benv.gql('mutation { createRegistrationToken(input: {nodeName: "x"}) { '
                         "token } }", token=h["Authorization"])
    assert gql["errors"][0]["extensions"]["code"] == "QUOTA_EXCEEDED"
    usage = (await benv.client.get(f"{BILLING}/usage", headers=h)).json()
    by_metric = {u["metric"]: u for u in usage["usage"]}
    assert (by_metric["nodes"]["used"], by_metric["nodes"]["limit"],
            by_metric["nodes"]["percent"]) == (2, 2, 100.0)
    assert by_metric["users"]["used"] == 1

    # users: the free plan allows 2
    r = await benv.client.post("/v1/admin/user2", headers=h, json={"user_name": "b@acme.io"})
    assert r.status_code == 201, r.text
    r = await benv.client.post("/v1/admin/user2", headers=h, json={"user_name": "c@acme.io"})
    assert (r.status_code, r.json()["error_code"]) == (400, 100011), r.text
    # OTA bytes: 3000 on the free plan
    image = base64.b64encode(b"\x00" * 2000).decode()
    body = {"image_name": "a", "base64_fwimage": image, "fw_version": "1", "model": "m"}
    assert (await benv.client.post("/v1/admin/otaimage", headers=h, json=body)).status_code \
        == 200
    r = await benv.client.post("/v1/admin/otaimage", headers=h, json={**body, "image_name": "b"})
    assert r.status_code == 400, r.text
    # replacing "a" by an image of the same size adds nothing: allowed
    assert (await benv.client.post("/v1/admin/otaimage", headers=h, json=body)).status_code \
        == 200

    # pro has room; a downgrade to tiny (1 node) is refused naming nodes
    assert (await benv.client.post(f"{BILLING}/subscription", headers=h,
                                   json={"plan_id": "pro"})).status_code == 201
    r = await benv.client.post("/v1/admin/nodes/registration_token", headers=h,
                               json={"node_name": "third"})
    assert r.status_code == 201, r.text
    refused = edgeflow(await benv.client.put(f"{BILLING}/subscription", headers=h,
                                             json={"plan_id": "tiny"}), 409, "CONFLICT")
    assert "nodes: 2 used, the plan allows 1" in refused["error"]
    gql_usage = await benv.gql("{ organization { usage { plan { id } items { metric used "
                               "quota percent } } subscription { plan { id } status } } }",
                               token=h["Authorization"])
    org = gql_usage["data"]["organization"]
    assert org["subscription"] == {"plan": {"id": "pro"}, "status": "active"}
    nodes = next(i for i in org["usage"]["items"] if i["metric"] == "nodes")
    assert nodes == {"metric": "nodes", "used": 2.0, "quota": 4.0, "percent": 50.0}


async def test_only_superadmins_and_allowed_roles_reach_billing(benv: Env) -> None:
    acme = await org_with_devices(benv, "acme", 0)
    h = acme.admin
    admin_token = await benv.provision("ann@acme.io", org="acme")
    r = await benv.client.put("/v1/admin/user_role?user_name=ann@acme.io&operation=add",
                              headers=h, json={"roles": ["admin"]})
    assert r.status_code == 200, r.text
    user = await benv.provision("pat@acme.io", org="acme")
    for token in (admin_token, user):
        edgeflow(await benv.client.get(f"{BILLING}/usage", headers={"Authorization": token}),
                 403, "FORBIDDEN")
        denied = await benv.gql("{ plans { id } }", token=token)
        assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    edgeflow(await benv.client.get(f"{BILLING}/usage"), 401, "UNAUTHENTICATED")
    # a role whose policy allows reading usage reaches it, and nothing else of billing
    policy = {"policy_name": "billing-read", "policy_json": {"statement": [
        {"Effect": "Allow", "Action": ["api:Get"], "Resource": [f"{BILLING}/usage"]}]}}
    r = await benv.client.post("/v1/admin/policy", headers=h, json=policy)
    assert r.status_code == 200, r.text
    r = await benv.client.post("/v1/admin/role", headers=h, json={
        "role_name": "finance", "policies": ["billing-read"], "role_level": 2})
    assert r.status_code == 200, r.text
    r = await benv.client.put("/v1/admin/user_role?user_name=pat@acme.io&operation=add",
                              headers=h, json={"roles": ["finance"]})
    assert r.status_code == 200, r.text
    finance = {"Authorization": (await benv.login("pat@acme.io"))["accesstoken"]}
    assert (await benv.client.get(f"{BILLING}/usage", headers=finance)).status_code == 200
    edgeflow(await benv.client.get(f"{BILLING}/subscription", headers=finance), 403,
             "FORBIDDEN")


async def test_graphql_subscribe_change_cancel_resume(benv: Env) -> None:
    acme = await org_with_devices(benv, "acme", 0)
    token = acme.admin["Authorization"]
    fields = "subscription { plan { id } effectivePlan { id } status cancelAtPeriodEnd }"
    plans = await benv.gql("{ plans { id quotas { maxNodes maxOtaStorageBytes } } }",
                           token=token)
    assert plans["data"]["plans"][0] == {"id": "free", "quotas": {
        "maxNodes": 2, "maxOtaStorageBytes": 3000.0}}
    made = await benv.gql(f'mutation {{ subscribe(input: {{planId: "pro", idempotencyKey: '
                          f'"k1"}}) {{ {fields} }} }}', token=token)
    assert made["data"]["subscribe"]["subscription"]["plan"] == {"id": "pro"}
    again = await benv.gql(f'mutation {{ subscribe(input: {{planId: "pro", idempotencyKey: '
                           f'"k1"}}) {{ {fields} }} }}', token=token)
    assert again["data"] == made["data"]
    changed = await benv.gql(f'mutation {{ changePlan(input: {{planId: "tiny"}}) {{ {fields} '
                             "} }", token=token)
    assert changed["data"]["changePlan"]["subscription"]["plan"] == {"id": "tiny"}
    ending = await benv.gql(f"mutation {{ cancelSubscription {{ {fields} }} }}", token=token)
    assert ending["data"]["cancelSubscription"]["subscription"]["cancelAtPeriodEnd"] is True
    resumed = await benv.gql(f"mutation {{ resumeSubscription {{ {fields} }} }}", token=token)
    assert resumed["data"]["resumeSubscription"]["subscription"]["cancelAtPeriodEnd"] is False
    listed = await benv.gql("{ invoices(first: 5) { edges { node { id } } pageInfo { "
                            "hasNextPage } } paymentMethods { id } }", token=token)
    assert listed["data"] == {"invoices": {"edges": [], "pageInfo": {"hasNextPage": False}},
                              "paymentMethods": []}
    refused = await benv.gql("mutation { addPaymentMethod { clientSecret } }", token=token)
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"


async def test_rate_limits_per_ip_user_and_organization(settings: Settings,
                                                        tmp_path: Path) -> None:
    tight = PLANS.replace("requests_per_minute: 1000", "requests_per_minute: 6")
    limited = replace(settings, plans_file=plans_file(tmp_path, tight), rate_limits=True,
                      rate_limit_per_ip=10_000, rate_limit_per_user=10_000)
    async for env in start_env(limited):
        acme = await org_with_devices(env, "acme", 0)
        h = acme.admin
        codes = [(await env.client.get(f"{BILLING}/quotas", headers=h)) for _ in range(7)]
        assert [r.status_code for r in codes[:6]] == [200] * 6
        assert codes[0].headers["X-RateLimit-Limit"] == "6"
        assert int(codes[0].headers["X-RateLimit-Remaining"]) == 5
        last = edgeflow(codes[6], 429, "RATE_LIMITED")
        assert "organization" in last["error"]
        assert int(codes[6].headers["Retry-After"]) >= 1
        assert codes[6].headers["X-RateLimit-Remaining"] == "0"
        # the RainMaker dialect answers in its own shape; another organization is not limited
        rm = await env.client.get("/v1/user2", headers=h)
        assert (rm.status_code, rm.json()["error_code"]) == (429, 101057)
        globex = await org_with_devices(env, "globex", 0)
        assert (await env.client.get(f"{BILLING}/quotas",
                                     headers=globex.admin)).status_code == 200
        # the requests were counted for the organization's usage
        await env.container.api_requests().flush()
        usage = (await env.client.get(f"{BILLING}/usage", headers=globex.admin)).json()
        api = next(u for u in usage["usage"] if u["metric"] == "api_requests")
        assert api["used"] >= 1
    per_ip = replace(settings, rate_limits=True, rate_limit_per_ip=3,
                     plans_file=plans_file(tmp_path))
    async for env in start_env(per_ip):
        statuses = [(await env.client.get("/healthz")).status_code for _ in range(5)]
        assert statuses == [200] * 5  # exempt
        answers = [await env.client.get("/v1/apiversions") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert answers[3].json()["error_code"] == 101057


async def test_with_rate_limits_a_request_authenticates_once(settings: Settings,
                                                              tmp_path: Path) -> None:
    """The rate limiter's authentication is the request's: REST and GraphQL reuse it."""
    import httpx

    from fleetgate.app import create_app
    from fleetgate.bootstrap import migrate
    from fleetgate.container import Container

    on = replace(settings, rate_limits=True, plans_file=plans_file(tmp_path))
    container = Container(settings=on)
    await migrate(container)
    sessions = container.sessions()
    real = sessions.authenticate
    calls: list[str] = []

    async def counted(token: str) -> Any:
        calls.append(token)
        return await real(token)

    sessions.authenticate = counted  # type: ignore[method-assign]  # before the app binds it
    app = create_app(on, container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            env = Env(app=app, container=container, client=client, settings=on)
            acme = await org_with_devices(env, "acme", 0)
            calls.clear()
            r = await env.client.get("/v1/user2", headers=acme.admin)
            assert r.status_code == 200 and len(calls) == 1, (r.text, len(calls))
            me = await env.gql("{ me { userName } }", token=acme.admin["Authorization"])
            assert me["data"]["me"]["userName"] == "ops@acme.io" and len(calls) == 2
            r = await env.client.get(f"{BILLING}/usage", headers=acme.admin)
            assert r.status_code == 200 and len(calls) == 3
            bad = await env.client.get("/v1/user2", headers={"Authorization": "nope"})
            assert bad.status_code == 401


async def test_rate_limit_answers_carry_cors_and_preflights_are_not_counted(
        settings: Settings, tmp_path: Path) -> None:
    origin = "https://app.example.com"
    limited = replace(settings, rate_limits=True, rate_limit_per_ip=2,
                      cors_origins=(origin,), plans_file=plans_file(tmp_path))
    async for env in start_env(limited):
        for _ in range(3):  # preflights are answered by CORS, outside the limiter
            r = await env.client.options("/v1/apiversions", headers={
                "Origin": origin, "Access-Control-Request-Method": "GET"})
            assert r.status_code == 200
        answers = [await env.client.get("/v1/apiversions", headers={"Origin": origin})
                   for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        refused = answers[2]
        assert refused.headers["access-control-allow-origin"] == origin
        exposed = refused.headers["access-control-expose-headers"].lower()
        assert "retry-after" in exposed and "x-ratelimit-remaining" in exposed
