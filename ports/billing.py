"""Billing ports: the payment provider (BillingGateway: LocalBilling by default, StripeBilling
when STRIPE_API_KEY is set), the verifier of its webhooks, and the quota check other areas
make (QuotaCheck: domain.billing.quotas.QuotaGuard)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.billing.model import (
    BillingEvent,
    Invoice,
    InvoicePage,
    Metric,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    SetupIntent,
)
from ports.repositories.uow import UnitOfWork


class BillingGateway(Protocol):
    """What a payment provider does for Fleetgate. Calls that create something take an
    idempotency key (the same key sent again returns the first result, never a second
    object). Provider failures raise domain errors: ValidationFailed for what the caller
    can fix (a declined card), BillingUnavailable (domain.errors) when the
    provider cannot be reached or fails; they never leak provider exception types."""

    name: str  # "local" | "stripe"
    takes_payments: bool  # False: no invoices, no payment methods (LocalBilling)

    def plans(self) -> Sequence[Plan]:
        """Every plan on offer, the free plan first."""
        ...

    async def ensure_customer(self, *, org_id: str, name: str, email: str | None,
                              idempotency_key: str) -> str:
        """The provider's customer id for this organization (created once)."""
        ...

    async def create_subscription(self, *, customer_id: str, plan: Plan,
                                  idempotency_key: str) -> ProviderSubscription: ...

    async def change_plan(self, *, subscription_id: str, plan: Plan,
                          idempotency_key: str) -> ProviderSubscription:
        """Moves the subscription to another plan (proration is the provider's)."""
        ...

    async def set_cancel_at_period_end(self, *, subscription_id: str, cancel: bool,
                                       idempotency_key: str) -> ProviderSubscription:
        """cancel=True: ends at the period's end; False: resumes one that was ending."""
        ...

    async def fetch_subscription(self, subscription_id: str) -> ProviderSubscription | None:
        """The provider's current state (webhooks re-read it: arrival order is not trusted)."""
        ...

    async def list_invoices(self, *, customer_id: str, limit: int,
                            starting_after: str | None) -> InvoicePage: ...

    async def get_invoice(self, *, customer_id: str, invoice_id: str) -> Invoice | None:
        """The invoice when it belongs to this customer, else None."""
        ...

    async def create_setup_intent(self, *, customer_id: str,
                                  idempotency_key: str) -> SetupIntent: ...

    async def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethod]: ...

    async def detach_payment_method(self, *, customer_id: str, payment_method_id: str) -> bool:
        """Detaches it when it belongs to this customer; False when it does not exist or
        belongs to someone else."""
        ...


class WebhookVerifier(Protocol):
    def verify(self, payload: bytes, signature: str | None) -> BillingEvent:
        """The event when the signature header is valid for the payload and recent enough;
        raises ValidationFailed (reason webhook_signature) otherwise."""
        ...


class QuotaCheck(Protocol):
    """Inside the caller's unit of work and before it writes: raises QuotaExceeded when
    `adding` more of the metric does not fit the organization's plan. Locks the
    organization's row first (PostgreSQL), so two requests cannot both take the last place."""

    async def require(self, uow: UnitOfWork, org_id: str, metric: Metric,
                      adding: int = 1) -> None: ...
