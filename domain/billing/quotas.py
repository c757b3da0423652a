"""QuotaGuard: the check other use cases make, inside their own unit of work and before they
write, that what they add still fits the organization's plan (QUOTA_EXCEEDED otherwise, and
the caller's transaction writes nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from domain.billing.limits import require_room
from domain.billing.model import DEFAULT_GRACE, FREE_PLAN, Metric, Plan, Subscription
from ports.repositories.uow import UnitOfWork
from ports.services import Clock


class QuotaGuard:
    """ports.billing.QuotaCheck over the plans and the organization's usage."""

    def __init__(self, *, plans: Sequence[Plan], clock: Clock,
                 grace: timedelta = DEFAULT_GRACE) -> None:
        self._plans = {plan.id: plan for plan in plans}
        self.clock, self.grace = clock, grace

    def plan_of(self, subscription: Subscription | None) -> Plan:
        now = self.clock.now()
        plan_id = subscription.effective_plan_id(now, self.grace) if subscription \
            else FREE_PLAN
        return self._plans.get(plan_id) or self._plans[FREE_PLAN]

    async def require(self, uow: UnitOfWork, org_id: str, metric: Metric,
                      adding: int = 1) -> None:
        """Raises QuotaExceeded when `adding` more of the metric does not fit. Locks the
        organization's row first (PostgreSQL), so two requests cannot both take the last
        place; call it in the unit of work that then writes."""
        plan = self.plan_of(await uow.billing.get_subscription(org_id))
        if plan.quotas.limit(metric) is None:
            return
        now = self.clock.now()
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        usage = await uow.billing.usage(org_id, month, lock=True)
        require_room(plan, usage, metric, adding)
