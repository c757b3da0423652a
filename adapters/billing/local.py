"""LocalBilling: the default BillingGateway when no STRIPE_API_KEY is set. Plans come from
the plans file; subscribing or changing plans takes effect at once and takes no payment
(self-hosted deployments that bill their customers some other way, or not at all). There are
no invoices or payment methods, and no trials (a subscription is active at once).

Its subscriptions live in the organization's billing_subscriptions row (the domain keeps
them): ids are "local_sub_<org id>", customers "local_cus_<org id>"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.billing.model import (
    Invoice,
    InvoicePage,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    SetupIntent,
    Subscription,
    SubscriptionStatus,
)
from domain.errors import Conflict, NotFound
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Clock

CUSTOMER, SUBSCRIPTION = "local_cus_", "local_sub_"


def _period(start: datetime, interval: str) -> datetime:
    return start + (timedelta(days=365) if interval == "year" else timedelta(days=30))


class LocalBilling:
    name = "local"
    takes_payments = False

    def __init__(self, *, plans: Sequence[Plan], uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._plans, self._uow, self._clock = list(plans), uow, clock

    def plans(self) -> Sequence[Plan]:
        return self._plans

    def _state(self, sub: Subscription, **changes: object) -> ProviderSubscription:
        now = self._clock.now()
        start, end = sub.current_period_start, sub.current_period_end
        plan = next((p for p in self._plans if p.id == changes.get("plan_id", sub.plan_id)),
                    None)
        while end is not None and end <= now and not sub.cancel_at_period_end and plan:
            start, end = end, _period(end, plan.interval)  # no payment: periods just roll
        values: dict[str, object] = {
            "id": f"{SUBSCRIPTION}{sub.org_id}", "customer_id": f"{CUSTOMER}{sub.org_id}",
            "plan_id": sub.plan_id, "status": sub.status,
            "cancel_at_period_end": sub.cancel_at_period_end, "current_period_start": start,
            "current_period_end": end, "version": int(now.timestamp())}
        values.update(changes)
        return ProviderSubscription(**values)  # type: ignore[arg-type]

    async def _stored(self, subscription_id: str) -> Subscription | None:
        if not subscription_id.startswith(SUBSCRIPTION):
            return None
        org_id = subscription_id.removeprefix(SUBSCRIPTION)
        async with self._uow(SYSTEM_SCOPE) as uow:
            return await uow.billing.get_subscription(org_id)

    async def _require(self, subscription_id: str) -> Subscription:
        found = await self._stored(subscription_id)
        if found is None:
            raise NotFound("No such subscription", reason="no_subscription")
        return found

    async def ensure_customer(self, *, org_id: str, name: str, email: str | None,
                              idempotency_key: str) -> str:
        return f"{CUSTOMER}{org_id}"

    async def create_subscription(self, *, customer_id: str, plan: Plan,
                                  idempotency_key: str) -> ProviderSubscription:
        org_id = customer_id.removeprefix(CUSTOMER)
        now = self._clock.now()
        return ProviderSubscription(
            id=f"{SUBSCRIPTION}{org_id}", customer_id=customer_id, plan_id=plan.id,
            status=SubscriptionStatus.ACTIVE, cancel_at_period_end=False,
            current_period_start=now, current_period_end=_period(now, plan.interval),
            version=int(now.timestamp()))

    async def change_plan(self, *, subscription_id: str, plan: Plan,
                          idempotency_key: str) -> ProviderSubscription:
        return self._state(await self._require(subscription_id), plan_id=plan.id,
                           cancel_at_period_end=False)

    async def set_cancel_at_period_end(self, *, subscription_id: str, cancel: bool,
                                       idempotency_key: str) -> ProviderSubscription:
        return self._state(await self._require(subscription_id), cancel_at_period_end=cancel)

    async def fetch_subscription(self, subscription_id: str) -> ProviderSubscription | None:
        found = await self._stored(subscription_id)
        return None if found is None or found.provider_id is None else self._state(found)

    async def list_invoices(self, *, customer_id: str, limit: int,
                            starting_after: str | None) -> InvoicePage:
        return InvoicePage([], False)

    async def get_invoice(self, *, customer_id: str, invoice_id: str) -> Invoice | None:
        return None

    async def create_setup_intent(self, *, customer_id: str,
                                  idempotency_key: str) -> SetupIntent:
        raise Conflict("This deployment takes no payments (no STRIPE_API_KEY)",
                       reason="payments_disabled")

    async def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethod]:
        return []

    async def detach_payment_method(self, *, customer_id: str, payment_method_id: str) -> bool:
        return False
