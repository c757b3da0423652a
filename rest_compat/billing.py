"""Billing under /api/v1/billing in the EdgeFlow dialect (seeds/000): plans, the
organization's subscription, usage and quotas, invoices, payment methods, and the Stripe
webhook. Errors are `{"error", "code", "status"}`; handlers translate and call the use cases
of domain/billing/service.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access.model import Caller
from domain.billing.model import Invoice, PaymentMethod, Plan, Subscription
from domain.billing.service import Billing, SubscriptionView, UsageReport
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import Authenticate, caller_for, json_body, read_body
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

BASE = "/api/v1/billing"
TAG = "Billing (EdgeFlow /api/v1)"
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


def _explain(violation: Violation, _body: dict[str, Any]) -> ValidationFailed:
    field = violation.field or "body"
    return ValidationFailed(f"Invalid request body: {field} ({violation.keyword})",
                            reason="invalid_body")


def _idempotency_key(request: Request) -> str | None:
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    if not 0 < len(value) <= 255 or not all(33 <= ord(c) <= 126 for c in value):
        raise ValidationFailed("Idempotency-Key must be 1..255 visible ASCII characters",
                               reason="invalid_idempotency_key")
    return value


def _path_id(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if not 0 < len(value) <= 128 or not all(c.isalnum() or c in "_-" for c in value):
        raise ValidationFailed(f"Invalid {name}", reason="invalid_body")
    return value


def billing_operations(billing: Billing, authenticate: Authenticate,
                       max_body: int) -> list[Operation]:
    async def caller(request: Request) -> Caller:
        return await caller_for(request, authenticate, required=True)

    def subscription(view: SubscriptionView, status: int = 200) -> JSONResponse:
        return JSONResponse(subscription_json(view, billing.clock.now(), billing.gateway.name),
                            status_code=status)

    async def plans(request: Request) -> Response:
        found = await billing.plans(await caller(request))
        return JSONResponse({"plans": [plan_json(plan) for plan in found]})

    async def get_subscription(request: Request) -> Response:
        return subscription(await billing.subscription(await caller(request)))

    async def subscribe(request: Request) -> Response:
        who = await caller(request)
        key = _idempotency_key(request)
        body = await json_body(request, max_bytes=max_body, schema=PLAN_BODY, explain=_explain)
        return subscription(await billing.subscribe(who, plan_id=body["plan_id"],
                                                    idempotency_key=key), 201)

    async def change_plan(request: Request) -> Response:
        who = await caller(request)
        body = await json_body(request, max_bytes=max_body, schema=PLAN_BODY, explain=_explain)
        return subscription(await billing.change_plan(who, plan_id=body["plan_id"]))

    async def cancel(request: Request) -> Response:
        return subscription(await billing.cancel(await caller(request)))

    async def resume(request: Request) -> Response:
        who = await caller(request)
        await json_body(request, max_bytes=max_body, required=False, schema=EMPTY_BODY,
                        explain=_explain)
        return subscription(await billing.resume(who))

    async def usage(request: Request) -> Response:
        return JSONResponse(usage_json(await billing.usage(await caller(request))))

    async def quotas(request: Request) -> Response:
        plan, _ = await billing.quotas(await caller(request))
        body = plan_json(plan)
        return JSONResponse({"plan_id": plan.id, "requests_per_minute":
                             plan.requests_per_minute, "quotas": body["quotas"]})

    async def invoices(request: Request) -> Response:
        who = await caller(request)
        raw = request.query_params.get("limit", "25")
        if not raw.isdigit():
            raise ValidationFailed("limit must be 1..100", reason="invalid_limit")
        page = await billing.invoices(who, limit=int(raw),
                                      starting_after=request.query_params.get("starting_after"))
        return JSONResponse({"invoices": [invoice_json(i) for i in page.invoices],
                             "has_more": page.has_more})

    async def invoice(request: Request) -> Response:
        who = await caller(request)
        found = await billing.invoice(who, invoice_id=_path_id(request, "invoice_id"))
        return JSONResponse({"invoice": invoice_json(found)})

    async def download(request: Request) -> Response:
        who = await caller(request)
        url = await billing.invoice_pdf(who, invoice_id=_path_id(request, "invoice_id"))
        return JSONResponse({"url": url}, status_code=302, headers={"Location": url})

    async def add_method(request: Request) -> Response:
        who = await caller(request)
        key = _idempotency_key(request)
        await json_body(request, max_bytes=max_body, required=False, schema=EMPTY_BODY,
                        explain=_explain)
        intent = await billing.add_payment_method(who, idempotency_key=key)
        return JSONResponse({"setup_intent": {"id": intent.id,
                                              "client_secret": intent.client_secret}},
                            status_code=201)

    async def methods(request: Request) -> Response:
        found = await billing.payment_methods(await caller(request))
        return JSONResponse({"payment_methods": [payment_method_json(m) for m in found]})

    async def remove_method(request: Request) -> Response:
        who = await caller(request)
        method_id = _path_id(request, "payment_method_id")
        await billing.remove_payment_method(who, payment_method_id=method_id)
        return JSONResponse({"deleted": True, "id": method_id})

    async def webhook(request: Request) -> Response:
        payload = await read_body(request, max_bytes=WEBHOOK_MAX_BYTES)
        outcome = await billing.handle_webhook(
            Caller(ip=request.client.host if request.client else "unknown"),
            payload=payload, signature=request.headers.get("stripe-signature"))
        return JSONResponse({"received": True, "outcome": outcome})

    invoice_id = {"name": "invoice_id", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": ID_PATTERN}}
    method_id = {"name": "payment_method_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": ID_PATTERN}}
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^(100|[1-9][0-9]?)$"},
             "description": "1..100 (25)"}
    after = {"name": "starting_after", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": ID_PATTERN},
             "description": "the last invoice id of the previous page"}
    signature = {"name": "Stripe-Signature", "in": "header", "required": False,
                 "schema": {"type": "string"}}
    sub = f"{BASE}/subscription"
    return [
        Operation(method="GET", path=f"{BASE}/plans", handler=plans, operation_id="billingPlans",
                  tag=TAG, summary="The plans on offer with their quotas and rate limit",
                  uses=(billing.plans,), responses={200: PLANS}),
        Operation(method="GET", path=sub, handler=get_subscription,
                  operation_id="billingGetSubscription", tag=TAG,
                  summary="The organization's subscription (free when it has none) and the "
                          "plan whose quotas apply now", uses=(billing.subscription,),
                  responses={200: SUBSCRIPTION}),
        Operation(method="POST", path=sub, handler=subscribe, operation_id="billingSubscribe",
                  tag=TAG, summary="Subscribe to a paid plan (Idempotency-Key honoured)",
                  uses=(billing.subscribe,), request_body=PLAN_BODY,
                  query=(IDEMPOTENCY_KEY,), responses={201: SUBSCRIPTION},
                  extra_statuses=(402, 409, 503)),
        Operation(method="PUT", path=sub, handler=change_plan,
                  operation_id="billingChangePlan", tag=TAG,
                  summary="Change to another paid plan (refused, naming what is over, below "
                          "current usage; proration is the provider's)",
                  uses=(billing.change_plan,), request_body=PLAN_BODY,
                  responses={200: SUBSCRIPTION}, extra_statuses=(409, 503)),
        Operation(method="DELETE", path=sub, handler=cancel, operation_id="billingCancel",
                  tag=TAG, summary="Cancel at the end of the current period",
                  uses=(billing.cancel,), responses={200: SUBSCRIPTION},
                  extra_statuses=(503,)),
        Operation(method="POST", path=f"{sub}/resume", handler=resume,
                  operation_id="billingResume", tag=TAG,
                  summary="Take back a cancellation before the period ends",
                  uses=(billing.resume,), request_body=EMPTY_BODY, body_required=False,
                  responses={200: SUBSCRIPTION}, extra_statuses=(409, 503)),
        Operation(method="GET", path=f"{BASE}/usage", handler=usage, operation_id="billingUsage",
                  tag=TAG, summary="What the organization uses against each quota",
                  uses=(billing.usage,), responses={200: USAGE}),
        Operation(method="GET", path=f"{BASE}/quotas", handler=quotas,
                  operation_id="billingQuotas", tag=TAG,
                  summary="The quotas and rate limit that apply now", uses=(billing.quotas,),
                  responses={200: QUOTA_BODY}),
        Operation(method="GET", path=f"{BASE}/invoices", handler=invoices,
                  operation_id="billingInvoices", tag=TAG,
                  summary="The organization's invoices, newest first, a page at a time",
                  uses=(billing.invoices,), query=(limit, after), responses={200: INVOICES},
                  extra_statuses=(503,)),
        Operation(method="GET", path=f"{BASE}/invoices/{{invoice_id}}", handler=invoice,
                  operation_id="billingInvoice", tag=TAG, summary="One invoice",
                  uses=(billing.invoice,), query=(invoice_id,),
                  responses={200: s.obj({"invoice": INVOICE})}, extra_statuses=(503,)),
        Operation(method="GET", path=f"{BASE}/invoices/{{invoice_id}}/download",
                  handler=download, operation_id="billingInvoicePdf", tag=TAG,
                  summary="Redirect (302) to the invoice's PDF", uses=(billing.invoice_pdf,),
                  query=(invoice_id,), responses={302: s.obj({"url": s.STR})},
                  extra_statuses=(503,)),
        Operation(method="POST", path=f"{BASE}/payment-methods", handler=add_method,
                  operation_id="billingAddPaymentMethod", tag=TAG,
                  summary="Start adding a card: a SetupIntent whose client secret the app "
                          "confirms with the provider", uses=(billing.add_payment_method,),
                  request_body=EMPTY_BODY, body_required=False, query=(IDEMPOTENCY_KEY,),
                  responses={201: s.obj({"setup_intent": s.obj({
                      "id": s.STR, "client_secret": s.STR})})}, extra_statuses=(409, 503)),
        Operation(method="GET", path=f"{BASE}/payment-methods", handler=methods,
                  operation_id="billingPaymentMethods", tag=TAG,
                  summary="The organization's cards", uses=(billing.payment_methods,),
                  responses={200: s.obj({"payment_methods": {"type": "array",
                                                             "items": PAYMENT_METHOD}})},
                  extra_statuses=(503,)),
        Operation(method="DELETE", path=f"{BASE}/payment-methods/{{payment_method_id}}",
                  handler=remove_method, operation_id="billingRemovePaymentMethod", tag=TAG,
                  summary="Remove a card", uses=(billing.remove_payment_method,),
                  query=(method_id,), responses={200: s.obj({
                      "deleted": {"type": "boolean"}, "id": s.STR})},
                  extra_statuses=(409, 503)),
        Operation(method="POST", path=f"{BASE}/webhooks/stripe", handler=webhook,
                  operation_id="billingStripeWebhook", tag=TAG, public=True, auth=False,
                  summary="Stripe's events, verified with STRIPE_WEBHOOK_SECRET and processed "
                          "once each", uses=(billing.handle_webhook,),
                  request_body=WEBHOOK_BODY, query=(signature,),
                  responses={200: s.obj({"received": {"type": "boolean"},
                                         "outcome": s.STR})},
                  extra_statuses=(503,)),
    ]
