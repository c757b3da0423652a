"""What the billing reads answer: the subscription with the plan that applies now, and the
month's usage against the plan's limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.billing.model import Metric, Plan, Subscription


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    plan: Plan  # the subscribed plan
    effective_plan: Plan  # the one whose quotas apply now (free when lapsed)


@dataclass(frozen=True, slots=True)
class UsageItem:
    metric: Metric
    used: int
    limit: int | None

    @property
    def percent(self) -> float | None:
        if self.limit is None:
            return None
        return round(100.0 * self.used / self.limit, 2) if self.limit else 100.0


@dataclass(frozen=True, slots=True)
class UsageReport:
    plan: Plan
    period_start: datetime
    items: list[UsageItem]
