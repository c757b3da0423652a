"""The JSON bodies the /api/v1/billing routes answer (rest_compat/billing.py), from the
billing domain's values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.billing.model import Invoice, PaymentMethod, Plan, Subscription
from domain.billing.views import SubscriptionView, UsageReport


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def plan_json(plan: Plan) -> dict[str, Any]:
    q = plan.quotas
    return {"id": plan.id, "name": plan.name, "description": plan.description,
            "price_cents": plan.price_cents, "currency": plan.currency,
            "interval": plan.interval, "trial_days": plan.trial_days,
            "requests_per_minute": plan.requests_per_minute,
            "quotas": {"max_nodes": q.max_nodes, "max_ota_storage_bytes": q.max_ota_storage_bytes,
                       "max_api_requests_per_month": q.max_api_requests_per_month,
                       "max_users": q.max_users}}


def subscription_json(view: SubscriptionView, now: datetime, provider: str) -> dict[str, Any]:
    sub: Subscription = view.subscription
    return {"subscription": {
        "plan_id": view.plan.id, "effective_plan_id": view.effective_plan.id,
        "status": sub.status_at(now).value, "cancel_at_period_end": sub.cancel_at_period_end,
        "current_period_start": _time(sub.current_period_start),
        "current_period_end": _time(sub.current_period_end),
        "past_due_since": _time(sub.past_due_since), "canceled_at": _time(sub.canceled_at),
        "provider": provider}}


def usage_json(report: UsageReport) -> dict[str, Any]:
    return {"plan_id": report.plan.id, "period_start": report.period_start.isoformat(),
            "usage": [{"metric": item.metric.value, "used": item.used, "limit": item.limit,
                       "percent": item.percent} for item in report.items]}


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {"id": invoice.id, "number": invoice.number, "status": invoice.status,
            "currency": invoice.currency, "amount_due_cents": invoice.amount_due_cents,
            "amount_paid_cents": invoice.amount_paid_cents,
            "created": invoice.created.isoformat(), "period_start": _time(invoice.period_start),
            "period_end": _time(invoice.period_end), "hosted_url": invoice.hosted_url,
            "pdf_url": invoice.pdf_url,
            "lines": [{"description": line.description, "amount_cents": line.amount_cents,
                       "quantity": line.quantity} for line in invoice.lines]}


def payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    return {"id": method.id, "brand": method.brand, "last4": method.last4,
            "exp_month": method.exp_month, "exp_year": method.exp_year,
            "is_default": method.is_default}
