"""Billing use cases: plans, the organization's subscription (subscribe, change plan, cancel at
period end, resume), usage against quotas, invoices and payment methods through the payment
provider, and the provider's webhook events (each processed once, order not trusted).

Quota checks for the other areas live in QuotaGuard (domain/billing/quotas.py)."""

from __future__ import annotations

from domain.access.model import Caller, public, requires
from domain.access.permissions import (
    BILLING_INVOICE,
    BILLING_INVOICE_DOWNLOAD,
    BILLING_INVOICES,
    BILLING_PAYMENT_METHOD,
    BILLING_PAYMENT_METHODS,
    BILLING_PLANS,
    BILLING_QUOTAS,
    BILLING_SUBSCRIPTION,
    BILLING_SUBSCRIPTION_RESUME,
    BILLING_USAGE,
)
from domain.billing.catalog import check_plan_id
from domain.billing.model import (
    BILLING,
    Invoice,
    InvoicePage,
    Metric,
    PaymentMethod,
    Plan,
    Quotas,
    SetupIntent,
    Subscription,
    month_start,
)
from domain.billing.provider_events import apply_event, fetch_state
from domain.billing.records import BillingRecords, provider_key
from domain.billing.views import SubscriptionView, UsageItem, UsageReport
from domain.errors import Conflict, NotFound, ValidationFailed
from ports.repositories.uow import SYSTEM_SCOPE

MAX_INVOICE_PAGE = 100


class Billing(BillingRecords):
    """The billing use cases of an organization (one class: both APIs call it as one)."""

    # --- reads -------------------------------------------------------------------------------

    @requires(BILLING_PLANS, "GET")
    async def plans(self, caller: Caller) -> list[Plan]:
        caller.require_principal()
        return list(self.catalog.ordered)

    @requires(BILLING_SUBSCRIPTION, "GET")
    async def subscription(self, caller: Caller) -> SubscriptionView:
        return self._view(await self._current(caller.require_principal().org_id))

    async def effective_plan(self, org_id: str) -> Plan:
        """The plan whose quotas and rate limit apply to the organization now (no caller:
        the rate limiter and quota checks ask)."""
        return self._view(await self._current(org_id)).effective_plan

    @requires(BILLING_QUOTAS, "GET")
    async def quotas(self, caller: Caller) -> tuple[Plan, Quotas]:
        view = self._view(await self._current(caller.require_principal().org_id))
        return view.effective_plan, view.effective_plan.quotas

    @requires(BILLING_USAGE, "GET")
    async def usage(self, caller: Caller) -> UsageReport:
        org_id = caller.require_principal().org_id
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            found = await uow.billing.get_subscription(org_id)
            usage = await uow.billing.usage(org_id, month_start(now))
        plan = self._view(found or Subscription.free(org_id, now)).effective_plan
        return UsageReport(plan, month_start(now), [
            UsageItem(metric, usage.value(metric), plan.quotas.limit(metric))
            for metric in Metric])

    # --- the subscription's lifecycle ----------------------------------------------------

    @requires(BILLING_SUBSCRIPTION, "POST")
    async def subscribe(self, caller: Caller, *, plan_id: object,
                        idempotency_key: str | None = None) -> SubscriptionView:
        """Subscribes the organization to a paid plan (it must not have a live one: PUT
        changes plans). The provider decides the first status (trialing, active, or past
        due until the first payment succeeds)."""
        org_id = caller.require_principal().org_id
        plan = self.catalog.get(check_plan_id(plan_id))
        if not plan.paid:
            raise Conflict("The free plan needs no subscription (DELETE cancels a paid one)",
                           reason="free_plan_not_billable")
        sub = await self._current(org_id)
        if idempotency_key is not None and sub.request_key == idempotency_key:
            if sub.request_fingerprint != plan.id:
                raise Conflict("This Idempotency-Key was used for another request",
                               reason="idempotency_key_reused")
            return self._view(sub)  # the same request again: what it did, nothing new
        if sub.live and not sub.ended(self.clock.now()):
            raise Conflict(f"The organization is subscribed to {sub.plan_id} already; PUT "
                           f"{BILLING}/subscription changes the plan",
                           reason="already_subscribed")
        await self._refuse_if_over(org_id, plan)
        customer = await self._customer(caller, sub)
        state = await self.gateway.create_subscription(
            customer_id=customer, plan=plan,
            idempotency_key=provider_key("subscribe", org_id, plan.id, idempotency_key
                                         or sub.canceled_at or sub.created_at))
        return self._view(await self._save(org_id, sub, state, plan.id,
                                           request=(idempotency_key, plan.id)))

    @requires(BILLING_SUBSCRIPTION, "PUT")
    async def change_plan(self, caller: Caller, *, plan_id: object) -> SubscriptionView:
        """Moves a live subscription to another paid plan; refused, naming what is over,
        when the organization uses more than the new plan allows."""
        org_id = caller.require_principal().org_id
        plan = self.catalog.get(check_plan_id(plan_id))
        if not plan.paid:
            raise Conflict(f"To go back to the free plan, cancel: DELETE {BILLING}/"
                           "subscription", reason="free_plan_not_billable")
        sub = await self._live(org_id)
        if sub.plan_id == plan.id:
            return self._view(sub)
        await self._refuse_if_over(org_id, plan)
        assert sub.provider_id is not None
        state = await self.gateway.change_plan(
            subscription_id=sub.provider_id, plan=plan,
            idempotency_key=provider_key("change", org_id, sub.provider_id, plan.id,
                                         sub.updated_at))
        return self._view(await self._save(org_id, sub, state, plan.id))

    @requires(BILLING_SUBSCRIPTION, "DELETE")
    async def cancel(self, caller: Caller) -> SubscriptionView:
        """Cancels at the end of the current period (the plan's quotas hold until then; the
        free plan's after, nothing is deleted)."""
        return await self._set_ending(caller, True)

    @requires(BILLING_SUBSCRIPTION_RESUME, "POST")
    async def resume(self, caller: Caller) -> SubscriptionView:
        """Takes back a cancellation before the period ends."""
        return await self._set_ending(caller, False)

    async def _set_ending(self, caller: Caller, cancel: bool) -> SubscriptionView:
        org_id = caller.require_principal().org_id
        sub = await self._live(org_id)
        if not cancel and not sub.cancel_at_period_end:
            raise Conflict("The subscription is not being canceled; nothing to resume",
                           reason="nothing_to_resume")
        if sub.cancel_at_period_end == cancel:
            return self._view(sub)
        assert sub.provider_id is not None
        state = await self.gateway.set_cancel_at_period_end(
            subscription_id=sub.provider_id, cancel=cancel,
            idempotency_key=provider_key("ending", org_id, sub.provider_id, cancel, sub.updated_at))
        return self._view(await self._save(org_id, sub, state, sub.plan_id))

    # --- invoices and payment methods ----------------------------------------------------

    @requires(BILLING_INVOICES, "GET")
    async def invoices(self, caller: Caller, *, limit: object = 25,
                       starting_after: object = None) -> InvoicePage:
        org_id = caller.require_principal().org_id
        if not isinstance(limit, int) or isinstance(limit, bool) or not \
                1 <= limit <= MAX_INVOICE_PAGE:
            raise ValidationFailed(f"limit must be 1..{MAX_INVOICE_PAGE}",
                                   reason="invalid_limit")
        if starting_after is not None and (not isinstance(starting_after, str)
                                           or not 0 < len(starting_after) <= 128):
            raise ValidationFailed("starting_after must be an invoice id",
                                   reason="invalid_cursor")
        if not self.gateway.takes_payments:
            return InvoicePage([], False)
        customer = await self._customer_or_none(org_id)
        if customer is None:
            return InvoicePage([], False)
        return await self.gateway.list_invoices(customer_id=customer, limit=limit,
                                                starting_after=starting_after)

    @requires(BILLING_INVOICE, "GET")
    async def invoice(self, caller: Caller, *, invoice_id: object) -> Invoice:
        return await self._invoice(caller.require_principal().org_id, invoice_id)

    async def _invoice(self, org_id: str, invoice_id: object) -> Invoice:
        if not isinstance(invoice_id, str) or not 0 < len(invoice_id) <= 128:
            raise ValidationFailed("invoice id is required", reason="invoice_id_missing")
        customer = await self._customer_or_none(org_id) if self.gateway.takes_payments \
            else None
        found = await self.gateway.get_invoice(customer_id=customer, invoice_id=invoice_id) \
            if customer is not None else None
        if found is None:  # another organization's invoice looks missing too
            raise NotFound("Invoice not found", reason="invoice_not_found")
        return found

    @requires(BILLING_INVOICE_DOWNLOAD, "GET")
    async def invoice_pdf(self, caller: Caller, *, invoice_id: object) -> str:
        """Where the invoice's PDF is (the provider hosts it)."""
        found = await self._invoice(caller.require_principal().org_id, invoice_id)
        if not found.pdf_url:
            raise NotFound("The invoice has no PDF yet (drafts have none)",
                           reason="invoice_pdf_missing")
        return str(found.pdf_url)

    @requires(BILLING_PAYMENT_METHODS, "POST")
    async def add_payment_method(self, caller: Caller, *,
                                 idempotency_key: str | None = None) -> SetupIntent:
        """A SetupIntent whose client secret the browser or app confirms with the card
        (the card itself never reaches Fleetgate)."""
        self._payments()
        sub = await self._current(caller.require_principal().org_id)
        customer = await self._customer(caller, sub)
        return await self.gateway.create_setup_intent(
            customer_id=customer, idempotency_key=provider_key(
                "setup", customer, idempotency_key or self.clock.now().isoformat()))

    @requires(BILLING_PAYMENT_METHODS, "GET")
    async def payment_methods(self, caller: Caller) -> list[PaymentMethod]:
        if not self.gateway.takes_payments:
            return []
        customer = await self._customer_or_none(caller.require_principal().org_id)
        return [] if customer is None else \
            await self.gateway.list_payment_methods(customer_id=customer)

    @requires(BILLING_PAYMENT_METHOD, "DELETE")
    async def remove_payment_method(self, caller: Caller, *, payment_method_id: object) -> None:
        self._payments()
        if not isinstance(payment_method_id, str) or not 0 < len(payment_method_id) <= 128:
            raise ValidationFailed("payment method id is required",
                                   reason="payment_method_id_missing")
        customer = await self._customer_or_none(caller.require_principal().org_id)
        if customer is None or not await self.gateway.detach_payment_method(
                customer_id=customer, payment_method_id=payment_method_id):
            raise NotFound("Payment method not found", reason="payment_method_not_found")

    # --- the provider's webhook ----------------------------------------------------------

    @public
    async def handle_webhook(self, caller: Caller, *, payload: bytes,
                             signature: str | None) -> str:
        """A provider event: verified (ValidationFailed otherwise), then processed exactly
        once (its id is recorded in the same transaction as the change it makes; a second
        delivery, even a concurrent one, changes nothing). Subscription state is re-read
        from the provider, so events arriving out of order converge; when the provider
        cannot be reached the event's own state applies unless a newer one was applied.
        Returns what happened ("processed", "duplicate", "ignored: ...")."""
        if self.verifier is None:
            raise NotFound("Webhooks are not configured (STRIPE_WEBHOOK_SECRET)",
                           reason="webhook_not_configured")
        event = self.verifier.verify(payload, signature)
        async with self.uow(SYSTEM_SCOPE) as uow:
            if await uow.billing.event_seen(event.id):
                return "duplicate"
            sub = await uow.billing.by_customer(event.customer_id) \
                if event.customer_id else None
        state = await fetch_state(self.gateway, event) if sub is not None else None
        now = self.clock.now()
        async with self.uow(SYSTEM_SCOPE) as uow:
            if not await uow.billing.record_event(event.id, event.type, event.created,
                                                  sub.org_id if sub else None, now):
                return "duplicate"  # a concurrent delivery got there first
            if sub is None:
                await uow.commit()
                return "ignored: unknown customer"
            current = await uow.billing.get_subscription(sub.org_id)
            assert current is not None
            outcome = apply_event(current, event, state, self.catalog, now)
            await uow.billing.save_subscription(current)
            await uow.commit()
        return outcome
