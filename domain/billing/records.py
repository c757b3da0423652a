"""The plumbing the billing use cases share: the organization's subscription as stored (the
free plan when there is none), its provider customer (created once) and saving a provider
state, the plan checks every change makes, and the provider's idempotency keys."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from domain.access.model import Caller
from domain.billing.catalog import PlanCatalog
from domain.billing.limits import HARD_METRICS, overages
from domain.billing.model import (
    BILLING,
    DEFAULT_GRACE,
    Plan,
    ProviderSubscription,
    Subscription,
    Usage,
    month_start,
)
from domain.billing.views import SubscriptionView
from domain.errors import Conflict, NotFound
from ports.billing import BillingGateway, WebhookVerifier
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer, Clock


def provider_key(*parts: object) -> str:
    """An idempotency key for the provider, stable for the same logical request."""
    return "fg-" + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


class BillingRecords:
    """The base of domain.billing.service.Billing: its ports and the reads and writes of the
    organization's subscription its use cases share."""

    def __init__(self, *, uow: UnitOfWorkFactory, gateway: BillingGateway, clock: Clock,
                 authorizer: Authorizer, verifier: WebhookVerifier | None = None,
                 grace: timedelta = DEFAULT_GRACE) -> None:
        self.uow, self.gateway, self.clock, self.authorizer = uow, gateway, clock, authorizer
        self.verifier, self.grace = verifier, grace
        self.catalog = PlanCatalog(gateway.plans())

    async def _current(self, org_id: str) -> Subscription:
        async with self.uow(org_id) as uow:
            found = await uow.billing.get_subscription(org_id)
        return found or Subscription.free(org_id, self.clock.now())

    def _view(self, sub: Subscription) -> SubscriptionView:
        now = self.clock.now()
        plan = self.catalog.find(sub.plan_id) or self.catalog.free
        effective = self.catalog.find(sub.effective_plan_id(now, self.grace)) or \
            self.catalog.free
        return SubscriptionView(sub, plan, effective)

    async def _usage(self, org_id: str) -> Usage:
        async with self.uow(org_id) as uow:
            return await uow.billing.usage(org_id, month_start(self.clock.now()))

    async def _refuse_if_over(self, org_id: str, plan: Plan) -> None:
        over = overages(await self._usage(org_id), plan.quotas, HARD_METRICS)
        if over:
            raise Conflict(f"The {plan.name} plan is smaller than what the organization "
                           f"uses: " + "; ".join(o.describe() for o in over)
                           + ". Remove some first.", reason="plan_below_usage")

    async def _save(self, org_id: str, sub: Subscription, state: ProviderSubscription,
                    plan_id: str, request: tuple[str | None, str] | None = None
                    ) -> Subscription:
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            stored = await uow.billing.get_subscription(org_id)
            target = stored or sub
            known = self.catalog.find(state.plan_id)
            target.apply(state, known.id if known is not None else plan_id, now)
            if request is not None and request[0] is not None:
                target.request_key, target.request_fingerprint = request
            await uow.billing.save_subscription(target)
            await uow.commit()
        return target

    async def _customer(self, caller: Caller, sub: Subscription) -> str:
        """The provider's customer of the organization, created once and kept on its
        subscription row."""
        principal = caller.require_principal()
        if sub.customer_id:
            return sub.customer_id
        async with self.uow(principal.org_id) as uow:
            org = await uow.organizations.get(principal.org_id)
            user = await uow.users.get(principal.user_id) if principal.user_id else None
        customer = await self.gateway.ensure_customer(
            org_id=principal.org_id, name=org.name if org else principal.org_id,
            email=user.user_name if user is not None and "@" in user.user_name else None,
            idempotency_key=provider_key("customer", principal.org_id))
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            stored = await uow.billing.get_subscription(principal.org_id) or \
                Subscription.free(principal.org_id, now)
            stored.customer_id = stored.customer_id or customer
            await uow.billing.save_subscription(stored)
            await uow.commit()
        sub.customer_id = stored.customer_id
        return stored.customer_id

    async def _live(self, org_id: str) -> Subscription:
        sub = await self._current(org_id)
        if not sub.live or sub.provider_id is None or sub.ended(self.clock.now()):
            raise NotFound(f"The organization has no paid subscription; POST {BILLING}/"
                           "subscription subscribes", reason="no_subscription")
        return sub

    def _payments(self) -> None:
        if not self.gateway.takes_payments:
            raise Conflict("This deployment takes no payments (no STRIPE_API_KEY): there "
                           "are no invoices or payment methods", reason="payments_disabled")

    async def _customer_or_none(self, org_id: str) -> str | None:
        return (await self._current(org_id)).customer_id
