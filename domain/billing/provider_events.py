"""How a verified provider event changes the organization's subscription: the state re-read
from the provider wins, the event's own state or kind applies otherwise, older ones are
ignored (events arrive out of order)."""

from __future__ import annotations

from datetime import datetime

from domain.billing.catalog import PlanCatalog
from domain.billing.model import (
    BillingEvent,
    EventKind,
    ProviderSubscription,
    Subscription,
    SubscriptionStatus,
)
from domain.errors import BillingUnavailable
from ports.billing import BillingGateway


async def fetch_state(gateway: BillingGateway, event: BillingEvent
                      ) -> ProviderSubscription | None:
    """The provider's current state of the event's subscription; None when the event is not
    about one, or the provider cannot be reached (what the event carried applies then)."""
    if event.subscription_id is None or event.type not in {k.value for k in EventKind}:
        return None
    try:
        return await gateway.fetch_subscription(event.subscription_id)
    except BillingUnavailable:
        return None  # fall back to what the event carried


def apply_event(sub: Subscription, event: BillingEvent, fetched: ProviderSubscription | None,
                catalog: PlanCatalog, now: datetime) -> str:
    """Applies the event to `sub`; returns what happened ("processed", "ignored: ...")."""
    if event.type not in {k.value for k in EventKind}:
        return f"ignored: {event.type}"
    if sub.provider_id is not None and event.subscription_id not in (None,
                                                                     sub.provider_id) \
            and sub.live:
        return "ignored: another subscription of the customer"
    state = fetched or event.subscription
    if state is not None:
        known = catalog.find(state.plan_id)
        return "processed" if sub.apply(state, known.id if known else None, now) \
            else "ignored: older than the state applied"
    if event.created < sub.provider_version:
        return "ignored: older than the state applied"
    moment = datetime.fromtimestamp(event.created, tz=now.tzinfo) \
        if event.created else now
    if event.type == EventKind.INVOICE_PAYMENT_FAILED:
        sub.payment_failed(moment)
    elif event.type == EventKind.INVOICE_PAID:
        sub.payment_succeeded(now)
    elif event.type == EventKind.SUBSCRIPTION_DELETED:
        sub.status, sub.canceled_at = SubscriptionStatus.CANCELED, now
    sub.provider_version = max(sub.provider_version, event.created)
    sub.updated_at = now
    return "processed"
