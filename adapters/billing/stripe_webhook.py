"""StripeWebhookVerifier: checks a Stripe-Signature header (HMAC-SHA256 over "t.raw_body",
any of its v1 signatures, SECURITY.md fact 6 and B1) and reads the event into a
BillingEvent.

The signature is checked by stripe.WebhookSignature.verify_header; its age, in both
directions, is checked here against our clock (the stripe package reads time.time() and
does not reject timestamps from the future).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import stripe

from adapters.billing.stripe_mapping import dig, ref_id, subscription_from_stripe
from domain.billing.model import BillingEvent, ProviderSubscription
from domain.errors import ValidationFailed

SUBSCRIPTION_EVENTS = "customer.subscription."


def _bad_signature() -> ValidationFailed:
    return ValidationFailed("Invalid webhook signature", reason="webhook_signature")


def _bad_payload() -> ValidationFailed:
    return ValidationFailed("The webhook payload is not a Stripe event",
                            reason="webhook_payload")


def _timestamp(header: str) -> int:
    """The single t= of a signature header; ValidationFailed when absent or malformed."""
    values = [part.strip()[2:] for part in header.split(",") if part.strip().startswith("t=")]
    if len(values) != 1 or not values[0].isdigit():
        raise _bad_signature()
    return int(values[0])


class StripeWebhookVerifier:
    """WebhookVerifier for Stripe events (tolerance in seconds, both directions)."""

    def __init__(self, secret: str, *, tolerance: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        if not secret.strip():
            raise ValueError("a webhook signing secret is required")
        self._secret = secret
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, payload: bytes, signature: str | None) -> BillingEvent:
        if not signature:
            raise _bad_signature()
        signed_at = _timestamp(signature)
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_payload() from None
        try:
            # tolerance None: the age is checked below, against our clock
            stripe.WebhookSignature.verify_header(text, signature, self._secret, None)
        except stripe.SignatureVerificationError:
            raise _bad_signature() from None
        if abs(self._clock() - signed_at) > self._tolerance:
            raise _bad_signature()
        return self._event(text)

    def _event(self, text: str) -> BillingEvent:
        try:
            event = json.loads(text)
        except ValueError:
            raise _bad_payload() from None
        if not isinstance(event, dict) or event.get("object") != "event":
            raise _bad_payload()
        event_id, kind, created = event.get("id"), event.get("type"), event.get("created")
        obj = dig(event, "data", "object")
        if not (isinstance(event_id, str) and event_id and isinstance(kind, str) and kind
                and isinstance(created, int) and not isinstance(created, bool)
                and isinstance(obj, dict)):
            raise _bad_payload()
        return BillingEvent(
            id=event_id, type=kind, created=created, customer_id=_customer_id(obj),
            subscription_id=_subscription_id(kind, obj),
            subscription=_subscription(kind, obj, created), data=_data(obj))


def _customer_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return ref_id(obj.get("id"))
    return ref_id(obj.get("customer"))


def _subscription_id(kind: str, obj: Mapping[str, Any]) -> str | None:
    if kind.startswith(SUBSCRIPTION_EVENTS) or obj.get("object") == "subscription":
        return ref_id(obj.get("id"))
    if obj.get("object") == "invoice" or kind.startswith("invoice."):
        # API versions from 2025-03-31 on moved it under parent.subscription_details
        return ref_id(obj.get("subscription")) or ref_id(
            dig(obj, "parent", "subscription_details", "subscription"))
    return ref_id(obj.get("subscription"))


def _subscription(kind: str, obj: Mapping[str, Any],
                  created: int) -> ProviderSubscription | None:
    if not kind.startswith(SUBSCRIPTION_EVENTS):
        return None
    try:
        return subscription_from_stripe(obj, version=created)
    except ValueError:
        raise _bad_payload() from None


def _data(obj: Mapping[str, Any]) -> dict[str, object]:
    data: dict[str, object] = {}
    for name, value in (("object_id", obj.get("id")), ("object", obj.get("object")),
                        ("status", obj.get("status"))):
        if isinstance(value, str):
            data[name] = value
    return data
