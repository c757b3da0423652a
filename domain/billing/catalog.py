"""The plans on offer and how a requested plan id is read."""

from __future__ import annotations

from collections.abc import Sequence

from domain.billing.model import BILLING, FREE_PLAN, Plan
from domain.errors import NotFound, ValidationFailed


def check_plan_id(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise ValidationFailed("plan_id is required (see GET /api/v1/billing/plans)",
                               reason="plan_id_missing")
    return raw.strip()


class PlanCatalog:
    """The plans on offer (from the gateway); the free plan must be one of them."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        self._plans = {plan.id: plan for plan in plans}
        if FREE_PLAN not in self._plans:
            raise ValueError("the plans must include the free plan")
        self.ordered = list(plans)

    def get(self, plan_id: str) -> Plan:
        plan = self._plans.get(plan_id)
        if plan is None:
            raise NotFound(f"No plan {plan_id!r}; see GET {BILLING}/plans",
                           reason="plan_not_found")
        return plan

    def find(self, plan_id: str | None) -> Plan | None:
        return self._plans.get(plan_id) if plan_id is not None else None

    @property
    def free(self) -> Plan:
        return self._plans[FREE_PLAN]
