"""StripeWebhookVerifier (SECURITY.md B1): signed payloads as Stripe signs them are read into
BillingEvents; forged, missing, malformed, stale and future-dated signatures are refused;
a secret-rotation header with two v1 signatures is accepted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.billing.stripe_webhook import StripeWebhookVerifier
from domain.billing.model import ProviderSubscription, SubscriptionStatus
from domain.errors import ValidationFailed
from tests.integration.stripe_standin import sign_stripe_payload, stripe_event

SECRET = "whsec_test_secret"
NOW = 1_800_000_000
CREATED = NOW - 60


@pytest.fixture
def verifier() -> StripeWebhookVerifier:
    return StripeWebhookVerifier(SECRET, clock=lambda: float(NOW))


def subscription(status: str = "active", *, on_items: bool = True,
                 lookup_key: str | None = "fleetgate_pro") -> dict[str, Any]:
    period = {"current_period_start": NOW - 86400, "current_period_end": NOW + 86400 * 29}
    item: dict[str, Any] = {"id": "si_1", "object": "subscription_item",
                            "price": {"id": "price_1", "object": "price",
                                      "lookup_key": lookup_key}}
    sub: dict[str, Any] = {"id": "sub_1", "object": "subscription", "customer": "cus_1",
                           "status": status, "cancel_at_period_end": False, "metadata": {},
                           "items": {"object": "list", "data": [item]}}
    (item if on_items else sub).update(period)
    return sub


def signed(payload: bytes, timestamp: int = NOW) -> str:
    return sign_stripe_payload(payload, SECRET, timestamp)


def refused(verifier: StripeWebhookVerifier, payload: bytes, header: str | None) -> str:
    with pytest.raises(ValidationFailed) as err:
        verifier.verify(payload, header)
    return err.value.reason


@pytest.mark.parametrize("kind", ["customer.subscription.created",
                                  "customer.subscription.updated",
                                  "customer.subscription.deleted"])
def test_subscription_events(verifier: StripeWebhookVerifier, kind: str) -> None:
    status = "canceled" if kind.endswith("deleted") else "active"
    payload = stripe_event("evt_1", kind, subscription(status), CREATED)
    event = verifier.verify(payload, signed(payload))
    assert (event.id, event.type, event.created) == ("evt_1", kind, CREATED)
    assert (event.customer_id, event.subscription_id) == ("cus_1", "sub_1")
    assert event.subscription == ProviderSubscription(
        id="sub_1", customer_id="cus_1", plan_id="pro",
        status=SubscriptionStatus.CANCELED if status == "canceled"
        else SubscriptionStatus.ACTIVE,
        cancel_at_period_end=False,
        current_period_start=datetime.fromtimestamp(NOW - 86400, tz=UTC),
        current_period_end=datetime.fromtimestamp(NOW + 86400 * 29, tz=UTC),
        version=CREATED)
    assert event.data == {"object_id": "sub_1", "object": "subscription", "status": status}


def test_subscription_periods_on_the_subscription(verifier: StripeWebhookVerifier) -> None:
    payload = stripe_event("evt_1", "customer.subscription.updated",
                           subscription("past_due", on_items=False), CREATED)
    event = verifier.verify(payload, signed(payload))
    assert event.subscription is not None
    assert event.subscription.status == SubscriptionStatus.PAST_DUE
    assert event.subscription.current_period_end == datetime.fromtimestamp(
        NOW + 86400 * 29, tz=UTC)


def test_plan_from_metadata_or_none(verifier: StripeWebhookVerifier) -> None:
    sub = subscription(lookup_key=None)
    payload = stripe_event("evt_1", "customer.subscription.updated", sub, CREATED)
    event = verifier.verify(payload, signed(payload))
    assert event.subscription is not None and event.subscription.plan_id is None
    sub["metadata"] = {"plan_id": "team"}
    payload = stripe_event("evt_2", "customer.subscription.updated", sub, CREATED)
    event = verifier.verify(payload, signed(payload))
    assert event.subscription is not None and event.subscription.plan_id == "team"


@pytest.mark.parametrize("kind", ["invoice.paid", "invoice.payment_failed"])
@pytest.mark.parametrize("newer_api", [False, True])
def test_invoice_events(verifier: StripeWebhookVerifier, kind: str, newer_api: bool) -> None:
    invoice: dict[str, Any] = {"id": "in_1", "object": "invoice", "customer": "cus_1",
                               "status": "paid" if kind == "invoice.paid" else "open"}
    if newer_api:
        invoice["parent"] = {"type": "subscription_details",
                             "subscription_details": {"subscription": "sub_1"}}
    else:
        invoice["subscription"] = "sub_1"
    payload = stripe_event("evt_9", kind, invoice, CREATED)
    event = verifier.verify(payload, signed(payload))
    assert (event.type, event.customer_id, event.subscription_id, event.subscription) == (
        kind, "cus_1", "sub_1", None)
    assert event.data["object_id"] == "in_1"


def test_customer_and_unknown_events(verifier: StripeWebhookVerifier) -> None:
    payload = stripe_event("evt_c", "customer.updated", {"id": "cus_7", "object": "customer"},
                           CREATED)
    event = verifier.verify(payload, signed(payload))
    assert (event.customer_id, event.subscription_id) == ("cus_7", None)
    payload = stripe_event("evt_u", "charge.refunded", {"id": "ch_1", "object": "charge",
                                                        "customer": "cus_7"}, CREATED)
    event = verifier.verify(payload, signed(payload))
    assert (event.type, event.customer_id, event.subscription) == (
        "charge.refunded", "cus_7", None)


def test_forged_signature(verifier: StripeWebhookVerifier) -> None:
    payload = stripe_event("evt_1", "invoice.paid", {"id": "in_1", "object": "invoice"},
                           CREATED)
    forged = sign_stripe_payload(payload, "whsec_someone_else", NOW)
    assert refused(verifier, payload, forged) == "webhook_signature"
    tampered = payload.replace(b"in_1", b"in_2")
    assert refused(verifier, tampered, signed(payload)) == "webhook_signature"


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=00",
                                    f"t={NOW}", f"t={NOW},v0=00", f"t={NOW},t={NOW},v1=00"])
def test_missing_or_malformed_header(verifier: StripeWebhookVerifier,
                                     header: str | None) -> None:
    payload = stripe_event("evt_1", "invoice.paid", {"id": "in_1"}, CREATED)
    assert refused(verifier, payload, header) == "webhook_signature"


@pytest.mark.parametrize(("skew", "ok"), [(-301, False), (-300, True), (300, True),
                                          (301, False)])
def test_timestamp_tolerance_both_ways(verifier: StripeWebhookVerifier, skew: int,
                                       ok: bool) -> None:
    payload = stripe_event("evt_1", "invoice.paid", {"id": "in_1"}, CREATED)
    header = signed(payload, NOW + skew)
    if ok:
        assert verifier.verify(payload, header).id == "evt_1"
    else:
        assert refused(verifier, payload, header) == "webhook_signature"


def test_secret_rotation_header(verifier: StripeWebhookVerifier) -> None:
    payload = stripe_event("evt_1", "invoice.paid", {"id": "in_1"}, CREATED)
    old = sign_stripe_payload(payload, "whsec_old", NOW).split(",")[1]
    new = signed(payload).split(",")[1]
    assert verifier.verify(payload, f"t={NOW},{old},{new}").id == "evt_1"
    assert verifier.verify(payload, f"t={NOW},{new},{old}").id == "evt_1"
    assert refused(verifier, payload, f"t={NOW},{old},{old}") == "webhook_signature"


@pytest.mark.parametrize("payload", [
    b"not json", b"\xff\xfe", b"[]", b"null",
    json.dumps({"id": "evt_1", "type": "invoice.paid", "created": CREATED}).encode(),
    json.dumps({"object": "event", "id": "evt_1", "type": "invoice.paid", "created": "x",
                "data": {"object": {}}}).encode(),
    json.dumps({"object": "event", "id": "evt_1", "type": "invoice.paid",
                "created": CREATED, "data": {}}).encode(),
    json.dumps({"object": "event", "id": "evt_1", "type": "customer.subscription.updated",
                "created": CREATED, "data": {"object": {"id": "sub_1"}}}).encode(),
])
def test_payload_not_an_event(verifier: StripeWebhookVerifier, payload: bytes) -> None:
    assert refused(verifier, payload, signed(payload)) == "webhook_payload"


def test_default_tolerance_is_stripes() -> None:
    verifier = StripeWebhookVerifier(SECRET, clock=lambda: float(NOW))
    payload = stripe_event("evt_1", "invoice.paid", {"id": "in_1"}, CREATED)
    assert refused(verifier, payload, signed(payload, NOW - 301)) == "webhook_signature"
    with pytest.raises(ValueError):
        StripeWebhookVerifier("  ")
