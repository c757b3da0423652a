"""StripeBilling end to end against the local Stripe stand-in (real HTTP, no mocks): every
BillingGateway method, idempotency keys on creates (B4 outbound: a request that times out is
retried with the same key and creates one object), prices found by lookup_key, other
customers' objects looking missing, and the mapping of Stripe errors to domain errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from adapters.billing.stripe_billing import StripeBilling
from domain.billing.model import Plan, Quotas, SubscriptionStatus
from domain.errors import BillingUnavailable, DomainError, ValidationFailed
from tests.integration.stripe_standin import MONTH, StripeStandIn

NOW = 1_800_000_000
QUOTAS = Quotas(max_nodes=10, max_ota_storage_bytes=None, max_api_requests_per_month=None,
                max_users=5)
FREE = Plan(id="free", name="Free", description="", price_cents=0, currency="usd",
            interval="month", quotas=QUOTAS, requests_per_minute=60)
PRO = Plan(id="pro", name="Pro", description="For fleets", price_cents=1900, currency="usd",
           interval="month", quotas=QUOTAS, requests_per_minute=600)
TEAM = Plan(id="team", name="Team", description="", price_cents=19900, currency="usd",
            interval="year", quotas=QUOTAS, requests_per_minute=6000, trial_days=14)
PLANS = (FREE, PRO, TEAM)


def gateway(api: StripeStandIn, **kw: Any) -> StripeBilling:
    options: dict[str, Any] = {"timeout": 3.0, "max_network_retries": 0, "clock": lambda: NOW}
    options.update(kw)
    return StripeBilling(api_key="sk_test_fleetgate", plans=PLANS, api_base=api.base_url,
                         **options)


@pytest.fixture
async def stripe_api() -> AsyncIterator[StripeStandIn]:
    async with StripeStandIn() as api:
        yield api


@pytest.fixture
async def billing(stripe_api: StripeStandIn) -> AsyncIterator[StripeBilling]:
    gw = gateway(stripe_api)
    yield gw
    await gw.aclose()


async def customer(billing: StripeBilling, org: str = "org-1") -> str:
    return await billing.ensure_customer(org_id=org, name=f"Org {org}",
                                         email=f"{org}@example.com",
                                         idempotency_key=f"customer-{org}")


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


async def test_identity_and_plans(billing: StripeBilling) -> None:
    assert billing.name == "stripe" and billing.takes_payments
    assert tuple(billing.plans()) == PLANS


async def test_ensure_customer_sends_key_and_is_idempotent(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    first = await customer(billing)
    again = await customer(billing)
    assert first == again and len(stripe_api.customers) == 1
    posts = [r for r in stripe_api.requests if r.path == "/v1/customers"]
    assert [r.idempotency_key for r in posts] == ["customer-org-1"] * 2
    assert posts[0].params == {"name": "Org org-1", "email": "org-1@example.com",
                               "metadata": {"org_id": "org-1"}}


async def test_same_key_other_parameters_is_a_conflict(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    await customer(billing)
    with pytest.raises(ValidationFailed) as err:
        await billing.ensure_customer(org_id="org-2", name="Other", email=None,
                                      idempotency_key="customer-org-1")
    assert err.value.reason == "idempotency_conflict"
    assert len(stripe_api.customers) == 1


async def test_timed_out_create_is_retried_with_the_same_key(stripe_api: StripeStandIn) -> None:
    """B4 outbound: Stripe carries out the request but answers after the client timed out;
    the client retries with the same key and gets the first answer: one customer."""
    gw = gateway(stripe_api, timeout=0.5, max_network_retries=2)
    try:
        stripe_api.delay_next(1.0)
        cus_id = await customer(gw, "slow")
    finally:
        await gw.aclose()
    posts = [r for r in stripe_api.requests if r.path == "/v1/customers"]
    assert len(posts) == 2
    assert posts[0].idempotency_key == posts[1].idempotency_key == "customer-slow"
    assert list(stripe_api.customers) == [cus_id]


async def test_subscription_created_with_price_created_once(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO,
                                            idempotency_key="sub-1")
    again = await billing.create_subscription(customer_id=cus_id, plan=PRO,
                                              idempotency_key="sub-1")
    assert again == sub and len(stripe_api.subscriptions) == 1
    price_id = next(iter(stripe_api.prices))
    price = stripe_api.prices[price_id]
    assert (price["lookup_key"], price["unit_amount"], price["currency"],
            price["recurring"]["interval"]) == ("fleetgate_pro", 1900, "usd", "month")
    created = [r for r in stripe_api.requests if r.path == "/v1/subscriptions"][0]
    assert created.idempotency_key == "sub-1"
    assert created.params == {"customer": cus_id, "items": [{"price": price_id}],
                              "payment_behavior": "default_incomplete",
                              "metadata": {"plan_id": "pro"}}
    price_posts = [r for r in stripe_api.requests if r.path in ("/v1/prices", "/v1/products")
                   and r.method == "POST"]
    assert [r.path for r in price_posts] == ["/v1/products", "/v1/prices"]
    assert all(r.idempotency_key for r in price_posts)
    lookup = [r for r in stripe_api.requests if r.path == "/v1/prices" and r.method == "GET"]
    assert len(lookup) == 1 and lookup[0].params["lookup_keys"] == ["fleetgate_pro"]
    # default_incomplete: unpaid until the first invoice is paid
    assert (sub.customer_id, sub.plan_id, sub.status, sub.cancel_at_period_end,
            sub.version) == (cus_id, "pro", SubscriptionStatus.PAST_DUE, False, NOW)
    assert sub.current_period_start == at(stripe_api.now)
    assert sub.current_period_end == at(stripe_api.now + MONTH)


async def test_price_found_by_lookup_key_by_a_new_gateway(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="a")
    other = gateway(stripe_api)
    try:
        await other.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="b")
    finally:
        await other.aclose()
    assert len(stripe_api.prices) == 1 and len(stripe_api.products) == 1
    assert stripe_api.count("POST", "/v1/prices") == 1
    assert stripe_api.count("GET", "/v1/prices") == 2


async def test_trial_plan(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=TEAM,
                                            idempotency_key="t")
    params = [r for r in stripe_api.requests if r.path == "/v1/subscriptions"][0].params
    assert params["trial_period_days"] == "14"
    assert (sub.plan_id, sub.status) == ("team", SubscriptionStatus.TRIALING)
    assert sub.current_period_end == at(stripe_api.now + 365 * 86400)


async def test_free_plan_never_reaches_stripe(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    with pytest.raises(ValidationFailed) as err:
        await billing.create_subscription(customer_id="cus_x", plan=FREE, idempotency_key="f")
    assert err.value.reason == "free_plan_not_billable"
    with pytest.raises(ValidationFailed):
        await billing.change_plan(subscription_id="sub_x", plan=FREE, idempotency_key="f")
    assert stripe_api.requests == []


async def test_change_plan(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    item_id = stripe_api.subscriptions[sub.id]["items"]["data"][0]["id"]
    changed = await billing.change_plan(subscription_id=sub.id, plan=TEAM,
                                        idempotency_key="change-1")
    update = [r for r in stripe_api.requests
              if r.method == "POST" and r.path == f"/v1/subscriptions/{sub.id}"][0]
    team_price = [p["id"] for p in stripe_api.prices.values()
                  if p["lookup_key"] == "fleetgate_team"][0]
    assert update.idempotency_key == "change-1"
    assert update.params == {"items": [{"id": item_id, "price": team_price}],
                             "proration_behavior": "create_prorations",
                             "metadata": {"plan_id": "team"}}
    assert changed.plan_id == "team" and changed.id == sub.id


async def test_cancel_and_resume(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    ending = await billing.set_cancel_at_period_end(subscription_id=sub.id, cancel=True,
                                                    idempotency_key="cancel-1")
    assert ending.cancel_at_period_end
    resumed = await billing.set_cancel_at_period_end(subscription_id=sub.id, cancel=False,
                                                     idempotency_key="resume-1")
    assert not resumed.cancel_at_period_end
    updates = [r for r in stripe_api.requests if r.path == f"/v1/subscriptions/{sub.id}"]
    assert [(r.idempotency_key, r.params) for r in updates] == [
        ("cancel-1", {"cancel_at_period_end": "true"}),
        ("resume-1", {"cancel_at_period_end": "false"})]


@pytest.mark.parametrize(("stripe_status", "status"), [
    ("trialing", SubscriptionStatus.TRIALING), ("active", SubscriptionStatus.ACTIVE),
    ("past_due", SubscriptionStatus.PAST_DUE), ("unpaid", SubscriptionStatus.PAST_DUE),
    ("incomplete", SubscriptionStatus.PAST_DUE), ("paused", SubscriptionStatus.PAST_DUE),
    ("canceled", SubscriptionStatus.CANCELED),
    ("incomplete_expired", SubscriptionStatus.CANCELED)])
async def test_fetch_subscription_status(billing: StripeBilling, stripe_api: StripeStandIn,
                                         stripe_status: str,
                                         status: SubscriptionStatus) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    stripe_api.set_subscription_status(sub.id, stripe_status)
    fetched = await billing.fetch_subscription(sub.id)
    assert fetched is not None and fetched.status == status and fetched.plan_id == "pro"


@pytest.mark.parametrize("on_items", [True, False])
async def test_periods_from_items_or_subscription(stripe_api: StripeStandIn,
                                                  billing: StripeBilling,
                                                  on_items: bool) -> None:
    stripe_api.period_on_items = on_items
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    raw = stripe_api.subscriptions[sub.id]
    assert ("current_period_end" in raw) is not on_items
    assert ("current_period_end" in raw["items"]["data"][0]) is on_items
    fetched = await billing.fetch_subscription(sub.id)
    assert fetched is not None
    assert fetched.current_period_start == at(stripe_api.now)
    assert fetched.current_period_end == at(stripe_api.now + MONTH)
    assert fetched.current_period_end.tzinfo is UTC


async def test_fetch_missing_subscription_is_none(billing: StripeBilling) -> None:
    assert await billing.fetch_subscription("sub_missing") is None
    assert await billing.fetch_subscription("") is None


async def test_unknown_price_has_no_plan(billing: StripeBilling,
                                         stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    raw = stripe_api.subscriptions[sub.id]
    raw["items"]["data"][0]["price"]["lookup_key"] = "someone_elses_price"
    raw["metadata"] = {}
    fetched = await billing.fetch_subscription(sub.id)
    assert fetched is not None and fetched.plan_id is None


async def test_invoices(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    other = await customer(billing, "org-2")
    ids = [stripe_api.add_invoice(cus_id, amount_cents=1900 + i,
                                  lines=[("Pro", 1900 + i, 1), ("Extra seat", 0, 2)])
           for i in range(3)]
    foreign = stripe_api.add_invoice(other)
    first = await billing.list_invoices(customer_id=cus_id, limit=2, starting_after=None)
    assert [i.id for i in first.invoices] == [ids[2], ids[1]] and first.has_more
    rest = await billing.list_invoices(customer_id=cus_id, limit=2, starting_after=ids[1])
    assert [i.id for i in rest.invoices] == [ids[0]] and not rest.has_more
    listed = [r for r in stripe_api.requests if r.path == "/v1/invoices"][0]
    assert listed.params == {"customer": cus_id, "limit": "2"}
    invoice = await billing.get_invoice(customer_id=cus_id, invoice_id=ids[0])
    assert invoice is not None
    assert (invoice.status, invoice.currency, invoice.amount_due_cents,
            invoice.amount_paid_cents) == ("paid", "usd", 1900, 1900)
    assert [(line.description, line.amount_cents, line.quantity) for line in invoice.lines] \
        == [("Pro", 1900, 1), ("Extra seat", 0, 2)]
    assert invoice.hosted_url and invoice.pdf_url and invoice.pdf_url.endswith(".pdf")
    assert invoice.created.tzinfo is UTC and invoice.period_start == at(stripe_api.now)
    # another tenant's invoice and an unknown id look the same: missing
    assert await billing.get_invoice(customer_id=cus_id, invoice_id=foreign) is None
    assert await billing.get_invoice(customer_id=cus_id, invoice_id="in_missing") is None


async def test_setup_intent(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    intent = await billing.create_setup_intent(customer_id=cus_id, idempotency_key="si-1")
    again = await billing.create_setup_intent(customer_id=cus_id, idempotency_key="si-1")
    assert intent == again and len(stripe_api.setup_intents) == 1
    assert intent.client_secret.startswith(intent.id)
    posted = [r for r in stripe_api.requests if r.path == "/v1/setup_intents"][0]
    assert posted.idempotency_key == "si-1"
    assert posted.params == {"customer": cus_id, "usage": "off_session"}


async def test_payment_methods(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    other = await customer(billing, "org-2")
    card = stripe_api.add_payment_method(cus_id, brand="visa", last4="4242", default=True)
    spare = stripe_api.add_payment_method(cus_id, brand="mastercard", last4="4444",
                                          exp_month=1, exp_year=2031)
    foreign = stripe_api.add_payment_method(other)
    methods = await billing.list_payment_methods(customer_id=cus_id)
    assert [(m.id, m.brand, m.last4, m.is_default) for m in methods] == [
        (card, "visa", "4242", True), (spare, "mastercard", "4444", False)]
    assert (methods[1].exp_month, methods[1].exp_year) == (1, 2031)
    listed = [r for r in stripe_api.requests if r.path == "/v1/payment_methods"][0]
    assert listed.params["customer"] == cus_id and listed.params["type"] == "card"

    assert not await billing.detach_payment_method(customer_id=cus_id,
                                                   payment_method_id=foreign)
    assert stripe_api.payment_methods[foreign]["customer"] == other
    assert not await billing.detach_payment_method(customer_id=cus_id,
                                                   payment_method_id="pm_missing")
    assert await billing.detach_payment_method(customer_id=cus_id, payment_method_id=spare)
    assert [m.id for m in await billing.list_payment_methods(customer_id=cus_id)] == [card]
    # detached: it no longer belongs to the customer
    assert not await billing.detach_payment_method(customer_id=cus_id,
                                                   payment_method_id=spare)


async def test_card_declined(billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="warm")
    stripe_api.fail_next(402, "card_error", "card_declined", message="Your card was declined.")
    with pytest.raises(ValidationFailed) as err:
        await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    assert err.value.reason == "card_declined"
    assert err.value.message == "Your card was declined."


@pytest.mark.parametrize(("status", "error_type", "code", "reason", "error"), [
    (400, "invalid_request_error", "parameter_invalid_empty", "billing_invalid_request",
     ValidationFailed),
    (404, "invalid_request_error", "resource_missing", "billing_invalid_request",
     ValidationFailed),
    (400, "idempotency_error", None, "idempotency_conflict", ValidationFailed),
    (401, "invalid_request_error", None, "billing_unavailable", BillingUnavailable),
    (403, "invalid_request_error", None, "billing_unavailable", BillingUnavailable),
    (429, "invalid_request_error", "rate_limit", "billing_unavailable", BillingUnavailable),
    (500, "api_error", None, "billing_unavailable", BillingUnavailable),
])
async def test_error_mapping(billing: StripeBilling, stripe_api: StripeStandIn, status: int,
                             error_type: str, code: str | None, reason: str,
                             error: type[DomainError]) -> None:
    stripe_api.fail_next(status, error_type, code)
    with pytest.raises(error) as err:
        await customer(billing)
    assert err.value.reason == reason
    assert "Something went wrong" not in err.value.message


def _calls(cus_id: str, sub_id: str) -> list[Callable[[StripeBilling], Awaitable[object]]]:
    return [
        lambda b: b.ensure_customer(org_id="o", name="n", email=None, idempotency_key="k"),
        lambda b: b.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="k"),
        lambda b: b.change_plan(subscription_id=sub_id, plan=PRO, idempotency_key="k"),
        lambda b: b.set_cancel_at_period_end(subscription_id=sub_id, cancel=True,
                                             idempotency_key="k"),
        lambda b: b.fetch_subscription(sub_id),
        lambda b: b.list_invoices(customer_id=cus_id, limit=10, starting_after=None),
        lambda b: b.get_invoice(customer_id=cus_id, invoice_id="in_1"),
        lambda b: b.create_setup_intent(customer_id=cus_id, idempotency_key="k"),
        lambda b: b.list_payment_methods(customer_id=cus_id),
        lambda b: b.detach_payment_method(customer_id=cus_id, payment_method_id="pm_1"),
    ]


async def test_no_stripe_exception_escapes_any_method(
        billing: StripeBilling, stripe_api: StripeStandIn) -> None:
    cus_id = await customer(billing)
    sub = await billing.create_subscription(customer_id=cus_id, plan=PRO, idempotency_key="s")
    for call in _calls(cus_id, sub.id):
        stripe_api.fail_next(500, "api_error")
        try:
            await call(billing)
        except stripe.StripeError as exc:  # pragma: no cover - the failure being tested
            pytest.fail(f"a stripe exception escaped: {exc!r}")
        except BillingUnavailable as exc:
            assert exc.reason == "billing_unavailable"
        else:
            pytest.fail("no error")
        stripe_api._failures.clear()


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = StripeBilling(api_key="sk_test_x", plans=PLANS, api_base=f"http://127.0.0.1:{port}",
                       timeout=1.0, max_network_retries=0)
    try:
        for call in _calls("cus_1", "sub_1"):
            with pytest.raises(BillingUnavailable) as err:
                await call(gw)
            assert err.value.message == "The payment provider is unavailable, try again later"
    finally:
        await gw.aclose()
