"""Billing through REST with StripeBilling against the local Stripe stand-in (issue 7 part 6):
subscriptions created with idempotency keys, invoices and cards of the organization's
customer only, a Stripe outage answered 503 while reads go on, and the webhook (SECURITY.md
B1: signatures, tolerance, secret rotation; B2: one event delivered 10 times at once is
processed once; payment failure → past due)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.sql.tables.billing import billing_events
from fleetgate.settings import Settings
from tests.api.test_admin_nodes_api import org_with_devices
from tests.conftest import Env, start_env
from tests.integration.stripe_standin import StripeStandIn, sign_stripe_payload, stripe_event

BILLING = "/api/v1/billing"
SECRET = "whsec_fleetgate_test"


@pytest.fixture
async def stripe_api() -> AsyncIterator[StripeStandIn]:
    async with StripeStandIn() as api:
        yield api


@pytest.fixture
async def senv(settings: Settings, stripe_api: StripeStandIn) -> AsyncIterator[Env]:
    configured = replace(settings, stripe_api_key="sk_test_fleetgate",
                         stripe_api_base=stripe_api.base_url, stripe_webhook_secret=SECRET)
    async for e in start_env(configured):
        yield e


async def deliver(env: Env, payload: bytes, *, signature: str | None = None,
                  timestamp: int | None = None) -> Any:
    header = signature if signature is not None else sign_stripe_payload(
        payload, SECRET, timestamp)
    return await env.client.post(f"{BILLING}/webhooks/stripe", content=payload,
                                 headers={"Stripe-Signature": header,
                                          "Content-Type": "application/json"})


async def subscribed(env: Env, stripe_api: StripeStandIn) -> tuple[dict[str, str], str, str]:
    acme = await org_with_devices(env, "acme", 0)
    r = await env.client.post(f"{BILLING}/subscription", json={"plan_id": "pro"},
                              headers={**acme.admin, "Idempotency-Key": "first"})
    assert r.status_code == 201, r.text
    (customer,) = stripe_api.customers
    (subscription,) = stripe_api.subscriptions
    return acme.admin, customer, subscription


async def test_subscribing_sends_idempotency_keys_and_webhooks_move_the_state(
        senv: Env, stripe_api: StripeStandIn) -> None:
    h, customer, sub_id = await subscribed(senv, stripe_api)
    creates = [r for r in stripe_api.requests if r.method == "POST"]
    assert creates and all(r.idempotency_key for r in creates)
    assert stripe_api.count("POST", "/v1/subscriptions") == 1
    # the same request again (same Idempotency-Key): nothing new at Stripe
    r = await senv.client.post(f"{BILLING}/subscription", json={"plan_id": "pro"},
                               headers={**h, "Idempotency-Key": "first"})
    assert r.status_code == 201 and stripe_api.count("POST", "/v1/subscriptions") == 1

    stripe_api.set_subscription_status(sub_id, "active")
    event = stripe_event("evt_active", "customer.subscription.updated",
                         {"id": sub_id, "object": "subscription", "customer": customer,
                          "status": "active"}, int(time.time()))
    r = await deliver(senv, event)
    assert r.status_code == 200 and r.json() == {"received": True, "outcome": "processed"}
    sub = (await senv.client.get(f"{BILLING}/subscription", headers=h)).json()["subscription"]
    assert (sub["status"], sub["plan_id"], sub["provider"]) == ("active", "pro", "stripe")

    stripe_api.set_subscription_status(sub_id, "past_due")
    failed = stripe_event("evt_failed", "invoice.payment_failed",
                          {"id": "in_x", "object": "invoice", "customer": customer,
                           "subscription": sub_id}, int(time.time()))
    assert (await deliver(senv, failed)).json()["outcome"] == "processed"
    sub = (await senv.client.get(f"{BILLING}/subscription", headers=h)).json()["subscription"]
    assert sub["status"] == "past_due" and sub["past_due_since"] is not None
    assert sub["effective_plan_id"] == "pro"  # within the grace period


async def test_webhook_signatures_are_checked(senv: Env, stripe_api: StripeStandIn) -> None:
    _, customer, sub_id = await subscribed(senv, stripe_api)
    now = int(time.time())
    payload = stripe_event("evt_sig", "customer.subscription.updated",
                           {"id": sub_id, "object": "subscription", "customer": customer,
                            "status": "active"}, now)
    forged = sign_stripe_payload(payload, "whsec_someone_else", now)
    for header in (forged, "", "t=abc,v1=zz"):
        r = await deliver(senv, payload, signature=header)
        assert (r.status_code, r.json()["code"]) == (400, "VALIDATION"), r.text
    r = await senv.client.post(f"{BILLING}/webhooks/stripe", content=payload)  # no header
    assert r.status_code == 400
    for skew in (-301, 301):  # outside the 300 s tolerance, either way
        assert (await deliver(senv, payload, timestamp=now + skew)).status_code == 400
    tampered = payload.replace(b'"active"', b'"canceled"')
    assert (await deliver(senv, tampered,
                          signature=sign_stripe_payload(payload, SECRET, now))).status_code \
        == 400
    # secret rotation: two v1 signatures, one of them valid
    valid = sign_stripe_payload(payload, SECRET, now)
    rotated = f"{forged},v1={valid.split('v1=')[1]}"
    r = await deliver(senv, payload, signature=rotated)
    assert r.status_code == 200, r.text


async def test_one_event_delivered_ten_times_at_once_is_processed_once(
        senv: Env, stripe_api: StripeStandIn) -> None:
    _, customer, sub_id = await subscribed(senv, stripe_api)
    stripe_api.set_subscription_status(sub_id, "active")
    payload = stripe_event("evt_dup", "customer.subscription.updated",
                           {"id": sub_id, "object": "subscription", "customer": customer,
                            "status": "active"}, int(time.time()))
    answers = await asyncio.gather(*(deliver(senv, payload) for _ in range(10)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    outcomes = sorted(r.json()["outcome"] for r in answers)
    assert outcomes == ["duplicate"] * 9 + ["processed"]
    async with senv.container.engine().connect() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy import text

            await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
        rows = (await conn.execute(select(func.count()).select_from(billing_events).where(
            billing_events.c.id == "evt_dup"))).scalar_one()
    assert rows == 1


async def test_invoices_and_cards_of_the_organization_only(senv: Env,
                                                          stripe_api: StripeStandIn) -> None:
    h, customer, _ = await subscribed(senv, stripe_api)
    mine = stripe_api.add_invoice(customer, amount_cents=4900,
                                  lines=[("Pro (Nov)", 4900, 1)])
    theirs = stripe_api.add_invoice("cus_someone_else")
    listed = (await senv.client.get(f"{BILLING}/invoices", headers=h)).json()
    assert [i["id"] for i in listed["invoices"]] == [mine]
    assert listed["invoices"][0]["lines"] == [{"description": "Pro (Nov)",
                                               "amount_cents": 4900, "quantity": 1}]
    one = (await senv.client.get(f"{BILLING}/invoices/{mine}", headers=h)).json()["invoice"]
    assert one["amount_due_cents"] == 4900
    r = await senv.client.get(f"{BILLING}/invoices/{mine}/download", headers=h)
    assert r.status_code == 302 and r.headers["Location"] == one["pdf_url"]
    r = await senv.client.get(f"{BILLING}/invoices/{theirs}", headers=h)
    assert (r.status_code, r.json()["code"]) == (404, "NOT_FOUND")

    r = await senv.client.post(f"{BILLING}/payment-methods", headers=h)
    assert r.status_code == 201 and r.json()["setup_intent"]["client_secret"]
    card = stripe_api.add_payment_method(customer, default=True)
    other = stripe_api.add_payment_method("cus_someone_else")
    cards = (await senv.client.get(f"{BILLING}/payment-methods", headers=h)).json()
    assert [(c["id"], c["is_default"]) for c in cards["payment_methods"]] == [(card, True)]
    r = await senv.client.delete(f"{BILLING}/payment-methods/{other}", headers=h)
    assert r.status_code == 404
    r = await senv.client.delete(f"{BILLING}/payment-methods/{card}", headers=h)
    assert r.json() == {"deleted": True, "id": card}


async def test_a_stripe_outage_is_a_503_and_reads_go_on(senv: Env,
                                                       stripe_api: StripeStandIn) -> None:
    h, _, _ = await subscribed(senv, stripe_api)
    for _ in range(5):  # more failures than the client retries
        stripe_api.fail_next(500, "api_error")
    r = await senv.client.put(f"{BILLING}/subscription", headers=h, json={"plan_id": "business"})
    assert (r.status_code, r.json()["code"]) == (503, "BILLING_UNAVAILABLE"), r.text
    sub = (await senv.client.get(f"{BILLING}/subscription", headers=h)).json()["subscription"]
    assert sub["plan_id"] == "pro"  # unchanged
    usage = await senv.client.get(f"{BILLING}/usage", headers=h)
    assert usage.status_code == 200
