"""StripeBilling: the BillingGateway on Stripe, through stripe.StripeClient's async calls.

Every call goes through `_call` / `_call_or_none`, which turn stripe exceptions into domain
errors (`domain_error`): no stripe exception type leaves this module. Stripe objects are
read as plain dicts (`StripeObject.to_dict()`), so the mapping functions here also serve
webhook payloads (adapters.billing.stripe_webhook).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import stripe

from domain.billing.model import (
    Invoice,
    InvoiceLine,
    InvoicePage,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    SetupIntent,
    SubscriptionStatus,
)
from domain.errors import BillingUnavailable, DomainError, ValidationFailed

LOOKUP_PREFIX = "fleetgate_"
UNAVAILABLE = "The payment provider is unavailable, try again later"

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

T = TypeVar("T")


class _HasDict(Protocol):
    def to_dict(self, recursive: bool = True, for_json: bool = False) -> dict[str, Any]: ...


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


def domain_error(exc: stripe.StripeError) -> DomainError:
    """The one mapping of stripe exceptions to domain errors."""
    if isinstance(exc, stripe.CardError):
        detail = exc.user_message if isinstance(exc.user_message, str) else None
        return ValidationFailed(detail or "The card was declined", reason="card_declined")
    if isinstance(exc, stripe.IdempotencyError):
        return ValidationFailed("This request conflicts with an earlier one with the same "
                                "idempotency key", reason="idempotency_conflict")
    if isinstance(exc, stripe.InvalidRequestError):
        return ValidationFailed("The payment provider rejected the request",
                                reason="billing_invalid_request")
    return BillingUnavailable(UNAVAILABLE, reason="billing_unavailable")


def _missing(exc: stripe.StripeError) -> bool:
    return isinstance(exc, stripe.InvalidRequestError) and (
        exc.code == "resource_missing" or exc.http_status == 404)


class StripeBilling:
    """BillingGateway on Stripe. Paid plans map to prices with lookup_key fleetgate_<plan id>,
    found or created on first use and then cached."""

    name = "stripe"
    takes_payments = True

    def __init__(self, *, api_key: str, plans: Sequence[Plan], api_base: str | None = None,
                 timeout: float = 10.0, max_network_retries: int = 2,
                 clock: Callable[[], float] = time.time) -> None:
        self._plans = tuple(plans)
        self._plan_ids = frozenset(plan.id for plan in self._plans)
        self._clock = clock
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries, http_client=self._http)
        self._prices: dict[str, str] = {}
        self._price_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Closes the HTTP connections."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    def plans(self) -> Sequence[Plan]:
        return self._plans

    # ------------------------------------------------------------------ error handling

    async def _call(self, op: Awaitable[T]) -> T:
        try:
            return await op
        except stripe.StripeError as exc:
            raise domain_error(exc) from None

    async def _call_or_none(self, op: Awaitable[T]) -> T | None:
        """As _call, but a missing object (resource_missing / 404) is None."""
        try:
            return await op
        except stripe.StripeError as exc:
            if _missing(exc):
                return None
            raise domain_error(exc) from None

    def _subscription(self, obj: _HasDict) -> ProviderSubscription:
        try:
            return subscription_from_stripe(obj.to_dict(), version=int(self._clock()),
                                            known_plans=self._plan_ids)
        except ValueError:
            raise BillingUnavailable(UNAVAILABLE, reason="billing_unavailable") from None

    # ------------------------------------------------------------------------- prices

    async def _price_id(self, plan: Plan) -> str:
        if not plan.paid:
            raise ValidationFailed(f"The {plan.name} plan is free: there is nothing to bill",
                                   reason="free_plan_not_billable")
        if plan.id in self._prices:
            return self._prices[plan.id]
        async with self._price_lock:
            if plan.id not in self._prices:
                self._prices[plan.id] = await self._find_or_create_price(plan)
        return self._prices[plan.id]

    async def _find_or_create_price(self, plan: Plan) -> str:
        key = lookup_key(plan.id)
        currency = plan.currency.lower()
        found = await self._call(self._client.v1.prices.list_async(
            params={"lookup_keys": [key], "active": True, "limit": 1}))
        for price in found.data:
            if (price.unit_amount == plan.price_cents and price.currency == currency
                    and price.recurring is not None
                    and price.recurring.interval == plan.interval):
                return price.id
        # a product per plan with a fixed id: never a duplicate, even after the
        # idempotency key has expired
        fingerprint = f"{plan.id}-{plan.price_cents}-{currency}-{plan.interval}"
        try:
            await self._client.v1.products.create_async(
                params={"id": key, "name": f"Fleetgate {plan.name}",
                        "metadata": {"plan_id": plan.id}},
                options={"idempotency_key": f"fleetgate-product-{plan.id}"})
        except stripe.InvalidRequestError as exc:
            if exc.code != "resource_already_exists":
                raise domain_error(exc) from None
        except stripe.StripeError as exc:
            raise domain_error(exc) from None
        interval: Any = plan.interval
        price = await self._call(self._client.v1.prices.create_async(
            params={"product": key, "unit_amount": plan.price_cents, "currency": currency,
                    "recurring": {"interval": interval}, "lookup_key": key,
                    "transfer_lookup_key": True, "metadata": {"plan_id": plan.id}},
            options={"idempotency_key": f"fleetgate-price-{fingerprint}"}))
        return price.id

    # ---------------------------------------------------------------- BillingGateway

    async def ensure_customer(self, *, org_id: str, name: str, email: str | None,
                              idempotency_key: str) -> str:
        params: Any = {"name": name, "metadata": {"org_id": org_id}}
        if email:
            params["email"] = email
        customer = await self._call(self._client.v1.customers.create_async(
            params=params, options={"idempotency_key": idempotency_key}))
        return customer.id

    async def create_subscription(self, *, customer_id: str, plan: Plan,
                                  idempotency_key: str) -> ProviderSubscription:
        price_id = await self._price_id(plan)
        params: Any = {"customer": customer_id, "items": [{"price": price_id}],
                       "payment_behavior": "default_incomplete",
                       "metadata": {"plan_id": plan.id}}
        if plan.trial_days > 0:
            params["trial_period_days"] = plan.trial_days
        sub = await self._call(self._client.v1.subscriptions.create_async(
            params=params, options={"idempotency_key": idempotency_key}))
        return self._subscription(sub)

    async def change_plan(self, *, subscription_id: str, plan: Plan,
                          idempotency_key: str) -> ProviderSubscription:
        price_id = await self._price_id(plan)
        current = await self._call(
            self._client.v1.subscriptions.retrieve_async(subscription_id))
        item_id = ref_id(dig(current.to_dict(), "items", "data", 0, "id"))
        if item_id is None:
            raise ValidationFailed("The subscription has no item to change",
                                   reason="billing_invalid_request")
        sub = await self._call(self._client.v1.subscriptions.update_async(
            subscription_id,
            params={"items": [{"id": item_id, "price": price_id}],
                    "proration_behavior": "create_prorations",
                    "metadata": {"plan_id": plan.id}},
            options={"idempotency_key": idempotency_key}))
        return self._subscription(sub)

    async def set_cancel_at_period_end(self, *, subscription_id: str, cancel: bool,
                                       idempotency_key: str) -> ProviderSubscription:
        sub = await self._call(self._client.v1.subscriptions.update_async(
            subscription_id, params={"cancel_at_period_end": cancel},
            options={"idempotency_key": idempotency_key}))
        return self._subscription(sub)

    async def fetch_subscription(self, subscription_id: str) -> ProviderSubscription | None:
        if not subscription_id:
            return None
        sub = await self._call_or_none(
            self._client.v1.subscriptions.retrieve_async(subscription_id))
        return None if sub is None else self._subscription(sub)

    async def list_invoices(self, *, customer_id: str, limit: int,
                            starting_after: str | None) -> InvoicePage:
        params: Any = {"customer": customer_id, "limit": max(1, min(limit, 100))}
        if starting_after:
            params["starting_after"] = starting_after
        page = await self._call(self._client.v1.invoices.list_async(params=params))
        invoices = [invoice_from_stripe(inv.to_dict()) for inv in page.data
                    if ref_id(inv.to_dict().get("customer")) == customer_id]
        return InvoicePage(invoices=invoices, has_more=bool(page.has_more))

    async def get_invoice(self, *, customer_id: str, invoice_id: str) -> Invoice | None:
        if not invoice_id:
            return None
        found = await self._call_or_none(self._client.v1.invoices.retrieve_async(invoice_id))
        if found is None:
            return None
        data = found.to_dict()
        if ref_id(data.get("customer")) != customer_id:
            return None  # another customer's invoice looks missing
        return invoice_from_stripe(data)

    async def create_setup_intent(self, *, customer_id: str,
                                  idempotency_key: str) -> SetupIntent:
        intent = await self._call(self._client.v1.setup_intents.create_async(
            params={"customer": customer_id, "usage": "off_session"},
            options={"idempotency_key": idempotency_key}))
        if not intent.client_secret:
            raise BillingUnavailable(UNAVAILABLE, reason="billing_unavailable")
        return SetupIntent(id=intent.id, client_secret=intent.client_secret)

    async def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethod]:
        customer = await self._call(self._client.v1.customers.retrieve_async(customer_id))
        default_id = ref_id(dig(customer.to_dict(), "invoice_settings",
                                 "default_payment_method"))
        methods = await self._call(self._client.v1.payment_methods.list_async(
            params={"customer": customer_id, "type": "card", "limit": 100}))
        return [payment_method_from_stripe(pm.to_dict(), default_id) for pm in methods.data
                if ref_id(pm.to_dict().get("customer")) == customer_id]

    async def detach_payment_method(self, *, customer_id: str, payment_method_id: str) -> bool:
        if not payment_method_id:
            return False
        found = await self._call_or_none(
            self._client.v1.payment_methods.retrieve_async(payment_method_id))
        if found is None or ref_id(found.to_dict().get("customer")) != customer_id:
            return False
        detached = await self._call_or_none(
            self._client.v1.payment_methods.detach_async(payment_method_id))
        return detached is not None
