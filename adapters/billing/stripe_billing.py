"""StripeBilling: the BillingGateway on Stripe, through stripe.StripeClient's async calls.

Every call goes through `_call` / `_call_or_none`, which turn stripe exceptions into domain
errors (`domain_error`): no stripe exception type leaves this module. Stripe objects are
read as plain dicts (`StripeObject.to_dict()`) and mapped by adapters.billing.stripe_mapping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import stripe

from adapters.billing.stripe_errors import UNAVAILABLE, domain_error, is_missing
from adapters.billing.stripe_mapping import (
    dig,
    invoice_from_stripe,
    lookup_key,
    payment_method_from_stripe,
    ref_id,
    subscription_from_stripe,
)
from domain.billing.model import (
    Invoice,
    InvoicePage,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    SetupIntent,
)
from domain.errors import BillingUnavailable, ValidationFailed

T = TypeVar("T")


class _HasDict(Protocol):
    def to_dict(self, recursive: bool = True, for_json: bool = False) -> dict[str, Any]: ...


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
            if is_missing(exc):
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
