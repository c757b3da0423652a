"""Billing: subscriptions, usage, provider events and API request counts."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.billing.model import Subscription, Usage


class BillingRepository(Protocol):
    """Subscriptions, what the organization uses, the provider's events processed, and the
    organization's API request counts."""

    async def get_subscription(self, org_id: str) -> Subscription | None: ...
    async def by_customer(self, customer_id: str) -> Subscription | None:
        """The subscription of the provider's customer, whatever the organization (webhooks
        run in SYSTEM_SCOPE)."""
        ...

    async def save_subscription(self, subscription: Subscription) -> None:
        """Inserts or replaces the organization's subscription row."""
        ...

    async def usage(self, org_id: str, month_start: datetime, *, lock: bool = False) -> Usage:
        """What the organization has and did, in one query: active nodes, bytes of OTA images
        stored, users, API requests since month_start. lock=True first locks the
        organization's row (PostgreSQL: SELECT ... FOR UPDATE) so concurrent quota-checked
        writes of one organization take turns."""
        ...

    async def event_seen(self, event_id: str) -> bool: ...
    async def record_event(self, event_id: str, type: str, created: int, org_id: str | None,
                           at: datetime) -> bool:
        """Records a provider event as processed; False when it was recorded already (also
        by a concurrent transaction): the caller must then change nothing."""
        ...

    async def add_api_requests(self, counts: dict[tuple[str, datetime], int]) -> None:
        """Adds request counts per (organization, month start)."""
        ...
