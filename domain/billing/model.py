"""Billing's entities and values: plans with their quotas, an organization's subscription and
its lifecycle, usage counted from what the organization has and does. The rules that decide
whether something still fits are in domain/billing/limits.py.

Nothing here knows Stripe: a payment provider is behind ports/billing.BillingGateway and
speaks to the domain in the value objects at the end of this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

FREE_PLAN = "free"
DEFAULT_GRACE = timedelta(days=7)


class Metric(StrEnum):
    NODES = "nodes"
    OTA_STORAGE = "ota_storage_bytes"
    API_REQUESTS = "api_requests"
    USERS = "users"


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Quotas:
    """Limits of a plan; None is unlimited."""

    max_nodes: int | None
    max_ota_storage_bytes: int | None
    max_api_requests_per_month: int | None
    max_users: int | None

    def limit(self, metric: Metric) -> int | None:
        return {Metric.NODES: self.max_nodes, Metric.OTA_STORAGE: self.max_ota_storage_bytes,
                Metric.API_REQUESTS: self.max_api_requests_per_month,
                Metric.USERS: self.max_users}[metric]


@dataclass(frozen=True, slots=True)
class Plan:
    id: str  # stable: "free", "pro", ... (Stripe prices carry it as lookup_key)
    name: str
    description: str
    price_cents: int
    currency: str
    interval: str  # month | year
    quotas: Quotas
    requests_per_minute: int  # the organization's API rate limit on this plan
    trial_days: int = 0

    @property
    def paid(self) -> bool:
        return self.price_cents > 0


@dataclass(frozen=True, slots=True)
class Usage:
    nodes: int
    ota_storage_bytes: int
    api_requests: int
    users: int

    def value(self, metric: Metric) -> int:
        return {Metric.NODES: self.nodes, Metric.OTA_STORAGE: self.ota_storage_bytes,
                Metric.API_REQUESTS: self.api_requests, Metric.USERS: self.users}[metric]


@dataclass(slots=True)
class Subscription:
    """An organization's subscription. An organization without a row is on the free plan."""

    org_id: str
    plan_id: str
    status: SubscriptionStatus
    created_at: datetime
    updated_at: datetime
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    past_due_since: datetime | None = None
    customer_id: str | None = None  # the provider's customer
    provider_id: str | None = None  # the provider's subscription
    provider_version: int = 0  # `created` of the newest provider state applied (webhooks)
    request_key: str | None = None  # the Idempotency-Key of the last subscribe request
    request_fingerprint: str | None = None  # and what it asked for

    @classmethod
    def free(cls, org_id: str, now: datetime) -> Subscription:
        return cls(org_id=org_id, plan_id=FREE_PLAN, status=SubscriptionStatus.ACTIVE,
                   created_at=now, updated_at=now)

    @property
    def live(self) -> bool:
        """A paid subscription the provider has not ended (it may be ending at period end:
        see ended())."""
        return self.plan_id != FREE_PLAN and self.status != SubscriptionStatus.CANCELED

    def ended(self, now: datetime) -> bool:
        """Canceled, or canceled at a period end that has passed (the provider's deleted
        event may not have arrived yet; without a provider it never does)."""
        return self.status == SubscriptionStatus.CANCELED or (
            self.cancel_at_period_end and self.current_period_end is not None
            and now >= self.current_period_end)

    def status_at(self, now: datetime) -> SubscriptionStatus:
        return SubscriptionStatus.CANCELED if self.ended(now) else self.status

    def effective_plan_id(self, now: datetime, grace: timedelta = DEFAULT_GRACE) -> str:
        """The plan whose quotas apply: an ended subscription, or one past due for longer
        than the grace period, falls back to the free plan (nothing is deleted)."""
        if self.ended(now):
            return FREE_PLAN
        if self.status == SubscriptionStatus.PAST_DUE and self.past_due_since is not None \
                and now - self.past_due_since >= grace:
            return FREE_PLAN
        return self.plan_id

    def apply(self, state: ProviderSubscription, plan_id: str | None, now: datetime) -> bool:
        """Takes the provider's state of this subscription unless an equal or newer one was
        applied already (webhooks arrive out of order). Returns True when applied."""
        if state.version < self.provider_version:
            return False
        was = self.status
        self.provider_version = state.version
        self.provider_id = state.id
        self.customer_id = state.customer_id or self.customer_id
        if plan_id is not None:
            self.plan_id = plan_id
        self.status = state.status
        self.cancel_at_period_end = state.cancel_at_period_end
        self.current_period_start = state.current_period_start
        self.current_period_end = state.current_period_end
        if state.status == SubscriptionStatus.PAST_DUE:
            if was != SubscriptionStatus.PAST_DUE or self.past_due_since is None:
                self.past_due_since = now
        else:
            self.past_due_since = None
        if state.status == SubscriptionStatus.CANCELED and self.canceled_at is None:
            self.canceled_at = now
        self.updated_at = now
        return True

    def payment_failed(self, now: datetime) -> None:
        if self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
            self.status = SubscriptionStatus.PAST_DUE
            self.past_due_since = now
            self.updated_at = now

    def payment_succeeded(self, now: datetime) -> None:
        if self.status == SubscriptionStatus.PAST_DUE:
            self.status = SubscriptionStatus.ACTIVE
            self.past_due_since = None
            self.updated_at = now


# --------------------------------------------------------------- what a provider speaks


@dataclass(frozen=True, slots=True)
class ProviderSubscription:
    id: str
    customer_id: str
    plan_id: str | None  # None: a price Fleetgate does not know
    status: SubscriptionStatus
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    version: int  # monotonic: when this state was produced (epoch seconds)


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    amount_cents: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Invoice:
    id: str
    number: str | None
    status: str  # draft | open | paid | uncollectible | void
    currency: str
    amount_due_cents: int
    amount_paid_cents: int
    created: datetime
    period_start: datetime | None
    period_end: datetime | None
    hosted_url: str | None
    pdf_url: str | None
    lines: tuple[InvoiceLine, ...] = ()


@dataclass(frozen=True, slots=True)
class InvoicePage:
    invoices: list[Invoice]
    has_more: bool


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class SetupIntent:
    id: str
    client_secret: str


class EventKind(StrEnum):
    SUBSCRIPTION_CREATED = "customer.subscription.created"
    SUBSCRIPTION_UPDATED = "customer.subscription.updated"
    SUBSCRIPTION_DELETED = "customer.subscription.deleted"
    INVOICE_PAID = "invoice.paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed"


@dataclass(frozen=True, slots=True)
class BillingEvent:
    """A verified provider event: its id (processed once), kind, when it was created, the
    customer and subscription it is about, and the subscription state it carried."""

    id: str
    type: str
    created: int
    customer_id: str | None
    subscription_id: str | None
    subscription: ProviderSubscription | None = None
    data: dict[str, object] = field(default_factory=dict)


BILLING = "/api/v1/billing"
"""Where the billing API lives (plans, subscription, usage, invoices)."""


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
