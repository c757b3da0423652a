"""What fits a plan: the usage over a plan's quotas (a downgrade is refused naming it) and the
check before something is added (QUOTA_EXCEEDED)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.billing.model import Metric, Plan, Quotas, Usage
from domain.errors import QuotaExceeded

METRIC_LABELS = {Metric.NODES: "nodes", Metric.OTA_STORAGE: "OTA storage bytes",
                 Metric.API_REQUESTS: "API requests this month", Metric.USERS: "users"}


@dataclass(frozen=True, slots=True)
class Overage:
    metric: Metric
    used: int
    limit: int

    def describe(self) -> str:
        return f"{METRIC_LABELS[self.metric]}: {self.used:,} used, the plan allows {self.limit:,}"


# API requests are counted, shown and rate limited, never a reason to refuse a plan change
HARD_METRICS = (Metric.NODES, Metric.OTA_STORAGE, Metric.USERS)


def overages(usage: Usage, quotas: Quotas, metrics: tuple[Metric, ...] = HARD_METRICS
             ) -> list[Overage]:
    found = []
    for metric in metrics:
        limit = quotas.limit(metric)
        if limit is not None and usage.value(metric) > limit:
            found.append(Overage(metric, usage.value(metric), limit))
    return found


def require_room(plan: Plan, usage: Usage, metric: Metric, adding: int) -> None:
    """Raises QUOTA_EXCEEDED when `adding` more of the metric would go past the plan's
    limit (nothing has been written yet: callers check before they write)."""
    limit = plan.quotas.limit(metric)
    used = usage.value(metric)
    if limit is not None and used + adding > limit:
        raise QuotaExceeded(
            f"The {plan.name} plan allows {limit:,} {METRIC_LABELS[metric]}; the organization "
            f"has {used:,} and this would add {adding:,}. Upgrade the plan or remove some.",
            reason=f"quota_{metric.value}")
