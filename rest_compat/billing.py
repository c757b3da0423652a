"""Billing under /api/v1/billing in the EdgeFlow dialect (seeds/000): plans, the
organization's subscription, usage and quotas, invoices, payment methods, and the Stripe
webhook. Errors are `{"error", "code", "status"}`; handlers translate and call the use cases
of domain/billing/service.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access.model import Caller
from domain.billing.service import Billing
from domain.billing.views import SubscriptionView
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.billing_json import (
    invoice_json,
    payment_method_json,
    plan_json,
    subscription_json,
    usage_json,
)
from rest_compat.billing_schemas import (
    EMPTY_BODY,
    ID_PATTERN,
    IDEMPOTENCY_KEY,
    INVOICE,
    INVOICES,
    PAYMENT_METHOD,
    PLAN_BODY,
    PLANS,
    QUOTA_BODY,
    SUBSCRIPTION,
    USAGE,
    WEBHOOK_BODY,
    WEBHOOK_MAX_BYTES,
    explain_body,
    idempotency_key,
    path_id,
)
from rest_compat.http import Authenticate, caller_for, json_body, read_body
from rest_compat.operations import Operation

BASE = "/api/v1/billing"
TAG = "Billing (EdgeFlow /api/v1)"


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
        key = idempotency_key(request)
        body = await json_body(request, max_bytes=max_body, schema=PLAN_BODY, explain=explain_body)
        return subscription(await billing.subscribe(who, plan_id=body["plan_id"],
                                                    idempotency_key=key), 201)

    async def change_plan(request: Request) -> Response:
        who = await caller(request)
        body = await json_body(request, max_bytes=max_body, schema=PLAN_BODY, explain=explain_body)
        return subscription(await billing.change_plan(who, plan_id=body["plan_id"]))

    async def cancel(request: Request) -> Response:
        return subscription(await billing.cancel(await caller(request)))

    async def resume(request: Request) -> Response:
        who = await caller(request)
        await json_body(request, max_bytes=max_body, required=False, schema=EMPTY_BODY,
                        explain=explain_body)
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
        found = await billing.invoice(who, invoice_id=path_id(request, "invoice_id"))
        return JSONResponse({"invoice": invoice_json(found)})

    async def download(request: Request) -> Response:
        who = await caller(request)
        url = await billing.invoice_pdf(who, invoice_id=path_id(request, "invoice_id"))
        return JSONResponse({"url": url}, status_code=302, headers={"Location": url})

    async def add_method(request: Request) -> Response:
        who = await caller(request)
        key = idempotency_key(request)
        await json_body(request, max_bytes=max_body, required=False, schema=EMPTY_BODY,
                        explain=explain_body)
        intent = await billing.add_payment_method(who, idempotency_key=key)
        return JSONResponse({"setup_intent": {"id": intent.id,
                                              "client_secret": intent.client_secret}},
                            status_code=201)

    async def methods(request: Request) -> Response:
        found = await billing.payment_methods(await caller(request))
        return JSONResponse({"payment_methods": [payment_method_json(m) for m in found]})

    async def remove_method(request: Request) -> Response:
        who = await caller(request)
        method_id = path_id(request, "payment_method_id")
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
