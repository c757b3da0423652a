"""Stripe objects (plain dicts, from the API or a webhook payload) read as the domain's billing
values, and the price lookup_key that names a Fleetgate plan on Stripe."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from domain.billing.model import (
    Invoice,
    InvoiceLine,
    PaymentMethod,
    ProviderSubscription,
    SubscriptionStatus,
)

LOOKUP_PREFIX = "fleetgate_"

STATUSES: dict[str, SubscriptionStatus] = {
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "incomplete": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}

def lookup_key(plan_id: str) -> str:
    """The Stripe price lookup_key of a Fleetgate plan."""
    return f"{LOOKUP_PREFIX}{plan_id}"


def dig(obj: object, *path: str | int) -> Any:
    """obj[path[0]][path[1]]...; None as soon as a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
            obj = obj[step]
        else:
            if not isinstance(obj, Mapping):
                return None
            obj = obj.get(step)
    return obj


def ref_id(value: object) -> str | None:
    """The id of a reference that Stripe sends as an id string or as an expanded object."""
    if isinstance(value, str) and value:
        return value
    found = dig(value, "id")
    return found if isinstance(found, str) and found else None


def epoch(value: object) -> datetime | None:
    """Epoch seconds as an aware UTC datetime; None when absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def plan_id_of(subscription: Mapping[str, Any],
               known: Collection[str] | None = None) -> str | None:
    """The Fleetgate plan of a Stripe subscription: its first item's price lookup_key, else
    metadata.plan_id; None when neither names a plan (in `known`, when given)."""
    candidates = []
    key = dig(subscription, "items", "data", 0, "price", "lookup_key")
    if isinstance(key, str) and key.startswith(LOOKUP_PREFIX):
        candidates.append(key[len(LOOKUP_PREFIX):])
    meta = dig(subscription, "metadata", "plan_id")
    if isinstance(meta, str) and meta:
        candidates.append(meta)
    for candidate in candidates:
        if known is None or candidate in known:
            return candidate
    return None


def subscription_from_stripe(obj: Mapping[str, Any], *, version: int,
                             known_plans: Collection[str] | None = None
                             ) -> ProviderSubscription:
    """A Stripe subscription object (dict) as the domain's ProviderSubscription. Periods are
    read from the subscription or, in API versions from 2025-03-31 on, from its first item.
    An unknown status counts as past due (nothing granted, nothing deleted)."""
    sub_id = ref_id(obj.get("id"))
    customer_id = ref_id(obj.get("customer"))
    if sub_id is None or customer_id is None:
        raise ValueError("a subscription needs an id and a customer")
    item = dig(obj, "items", "data", 0)
    start = obj.get("current_period_start")
    end = obj.get("current_period_end")
    if start is None and end is None:
        start, end = dig(item, "current_period_start"), dig(item, "current_period_end")
    return ProviderSubscription(
        id=sub_id, customer_id=customer_id, plan_id=plan_id_of(obj, known_plans),
        status=STATUSES.get(str(obj.get("status")), SubscriptionStatus.PAST_DUE),
        cancel_at_period_end=obj.get("cancel_at_period_end") is True,
        current_period_start=epoch(start), current_period_end=epoch(end), version=version)


def invoice_from_stripe(obj: Mapping[str, Any]) -> Invoice:
    lines = dig(obj, "lines", "data")
    return Invoice(
        id=str(obj.get("id")), number=_str(obj.get("number")),
        status=_str(obj.get("status")) or "draft", currency=_str(obj.get("currency")) or "",
        amount_due_cents=_int(obj.get("amount_due")),
        amount_paid_cents=_int(obj.get("amount_paid")),
        created=epoch(obj.get("created")) or datetime.fromtimestamp(0, tz=UTC),
        period_start=epoch(obj.get("period_start")), period_end=epoch(obj.get("period_end")),
        hosted_url=_str(obj.get("hosted_invoice_url")), pdf_url=_str(obj.get("invoice_pdf")),
        lines=tuple(InvoiceLine(description=_str(dig(line, "description")) or "",
                                amount_cents=_int(dig(line, "amount")),
                                quantity=_int(dig(line, "quantity"), 1))
                    for line in (lines if isinstance(lines, list) else [])))


def payment_method_from_stripe(obj: Mapping[str, Any], default_id: str | None) -> PaymentMethod:
    card = obj.get("card") if isinstance(obj.get("card"), Mapping) else {}
    return PaymentMethod(
        id=str(obj.get("id")), brand=_str(dig(card, "brand")) or "unknown",
        last4=_str(dig(card, "last4")) or "", exp_month=_int(dig(card, "exp_month")),
        exp_year=_int(dig(card, "exp_year")), is_default=obj.get("id") == default_id)
