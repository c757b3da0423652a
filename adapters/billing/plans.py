"""Plans from a YAML file (fleetgate/plans.yaml by default, FLEETGATE_PLANS_FILE otherwise),
checked strictly: a wrong file stops the server at start with a message naming the entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from domain.billing.model import FREE_PLAN, Plan, Quotas

DEFAULT_PLANS = Path(__file__).resolve().parents[2] / "fleetgate" / "plans.yaml"
_QUOTAS = ("max_nodes", "max_ota_storage_bytes", "max_api_requests_per_month", "max_users")


class PlanFileError(ValueError):
    pass


def _count(entry: dict[str, Any], key: str, where: str, *, nullable: bool = False,
           default: int | None = None) -> int | None:
    value = entry.get(key, default)
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PlanFileError(f"{where}: {key} must be a whole number >= 0"
                            + (" or null" if nullable else ""))
    return value


def _text(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise PlanFileError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def parse_plans(document: object) -> list[Plan]:
    raw = document.get("plans") if isinstance(document, dict) else None
    if not isinstance(raw, list) or not raw:
        raise PlanFileError("the file must hold a non-empty list under 'plans'")
    plans: list[Plan] = []
    for index, entry in enumerate(raw):
        where = f"plans[{index}]"
        if not isinstance(entry, dict):
            raise PlanFileError(f"{where} must be a mapping")
        quotas = entry.get("quotas")
        if not isinstance(quotas, dict) or set(quotas) - set(_QUOTAS):
            raise PlanFileError(f"{where}: quotas must be a mapping of {', '.join(_QUOTAS)}")
        interval = _text(entry, "interval", where, "month")
        if interval not in ("month", "year"):
            raise PlanFileError(f"{where}: interval must be month or year")
        plan = Plan(
            id=_text(entry, "id", where), name=_text(entry, "name", where),
            description=str(entry.get("description") or ""),
            price_cents=_count(entry, "price_cents", where) or 0,
            currency=_text(entry, "currency", where, "usd").lower(), interval=interval,
            requests_per_minute=_count(entry, "requests_per_minute", where) or 1,
            trial_days=_count(entry, "trial_days", where, default=0) or 0,
            quotas=Quotas(*(_count(quotas, key, f"{where}.quotas", nullable=True)
                            for key in _QUOTAS)))
        if any(p.id == plan.id for p in plans):
            raise PlanFileError(f"{where}: plan id {plan.id!r} appears twice")
        plans.append(plan)
    free = next((p for p in plans if p.id == FREE_PLAN), None)
    if free is None or free.paid:
        raise PlanFileError("a plan with id 'free' and price_cents 0 is required")
    return [free] + [p for p in plans if p.id != FREE_PLAN]


def load_plans(path: str | Path | None = None) -> list[Plan]:
    file = Path(path) if path else DEFAULT_PLANS
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanFileError(f"cannot read plans from {file}: {exc}") from exc
    try:
        return parse_plans(document)
    except PlanFileError as exc:
        raise PlanFileError(f"{file}: {exc}") from exc
