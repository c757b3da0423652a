"""The request and response schemas of the /api/v1/billing routes (rest_compat/billing.py),
the error a refused body answers, and the readers of its headers and path ids."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import invalid_body
from rest_compat.schemas import Violation

WEBHOOK_MAX_BYTES = 256 * 1024
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                              "pattern": "^[\\x21-\\x7e]+$"},
                   "description": "The same key with the same body answers the first "
                                  "result again and creates nothing more; with another "
                                  "body it is refused (409)."}
ID_PATTERN = "^[A-Za-z0-9_-]{1,128}$"

NULLABLE_INT = {"type": ["integer", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
QUOTAS = s.obj({"max_nodes": NULLABLE_INT, "max_ota_storage_bytes": NULLABLE_INT,
                "max_api_requests_per_month": NULLABLE_INT, "max_users": NULLABLE_INT})
PLAN = s.obj({"id": s.STR, "name": s.STR, "description": s.STR,
              "price_cents": {"type": "integer"}, "currency": s.STR,
              "interval": {"type": "string", "enum": ["month", "year"]},
              "trial_days": {"type": "integer"}, "requests_per_minute": {"type": "integer"},
              "quotas": QUOTAS})
PLANS = s.obj({"plans": {"type": "array", "items": PLAN}})
SUBSCRIPTION = s.obj({"subscription": s.obj({
    "plan_id": s.STR, "effective_plan_id": s.STR,
    "status": {"type": "string", "enum": ["trialing", "active", "past_due", "canceled"]},
    "cancel_at_period_end": {"type": "boolean"}, "current_period_start": NULLABLE_TIME,
    "current_period_end": NULLABLE_TIME, "past_due_since": NULLABLE_TIME,
    "canceled_at": NULLABLE_TIME, "provider": s.STR})})
USAGE = s.obj({"plan_id": s.STR, "period_start": {"type": "string", "format": "date-time"},
               "usage": {"type": "array", "items": s.obj({
                   "metric": {"type": "string", "enum": ["nodes", "ota_storage_bytes",
                                                         "api_requests", "users"]},
                   "used": {"type": "integer"}, "limit": NULLABLE_INT,
                   "percent": {"type": ["number", "null"]}})}})
QUOTA_BODY = s.obj({"plan_id": s.STR, "requests_per_minute": {"type": "integer"},
                    "quotas": QUOTAS})
INVOICE = s.obj({"id": s.STR, "number": {"type": ["string", "null"]}, "status": s.STR,
                 "currency": s.STR, "amount_due_cents": {"type": "integer"},
                 "amount_paid_cents": {"type": "integer"},
                 "created": {"type": "string", "format": "date-time"},
                 "period_start": NULLABLE_TIME, "period_end": NULLABLE_TIME,
                 "hosted_url": {"type": ["string", "null"]},
                 "pdf_url": {"type": ["string", "null"]},
                 "lines": {"type": "array", "items": s.obj({
                     "description": s.STR, "amount_cents": {"type": "integer"},
                     "quantity": {"type": "integer"}})}})
INVOICES = s.obj({"invoices": {"type": "array", "items": INVOICE},
                  "has_more": {"type": "boolean"}})
PAYMENT_METHOD = s.obj({"id": s.STR, "brand": s.STR, "last4": s.STR,
                        "exp_month": {"type": "integer"}, "exp_year": {"type": "integer"},
                        "is_default": {"type": "boolean"}})
PLAN_BODY = {"type": "object", "required": ["plan_id"], "additionalProperties": False,
             "properties": {"plan_id": {"type": "string", "minLength": 1, "maxLength": 64,
                                        "pattern": "^[A-Za-z0-9_-]+$"}}}
EMPTY_BODY = {"type": "object", "additionalProperties": False, "properties": {}}
WEBHOOK_BODY = {"type": "object", "description": "The Stripe event, exactly as Stripe sent "
                                                 "it (the Stripe-Signature header signs the "
                                                 "raw bytes)"}


def explain_body(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    return invalid_body(violation, body)


def idempotency_key(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not 0 < len(value) <= 255 or not all(33 <= ord(c) <= 126 for c in value):
        raise ValidationFailed("Idempotency-Key must be 1..255 visible ASCII characters",
                               reason="invalid_idempotency_key")
    return value


def path_id(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not 0 < len(value) <= 128 or not all(c.isalnum() or c in "_-" for c in value):
        raise ValidationFailed(f"Invalid {name}", reason="invalid_body")
    return value
