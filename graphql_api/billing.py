"""Billing in GraphQL: plans, organization { subscription usage }, invoices (a connection),
paymentMethods, and subscribe / changePlan / cancelSubscription / resumeSubscription /
addPaymentMethod / removePaymentMethod. Resolvers translate and call the use cases of
domain/billing/service.py named in "uses"."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.billing.model import Invoice, PaymentMethod, Plan
from domain.billing.service import Billing
from domain.billing.views import SubscriptionView, UsageReport
from domain.errors import ValidationFailed
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor


@strawberry.type(name="PlanQuotas", description="null: unlimited.")
class PlanQuotasType:
    max_nodes: int | None
    max_ota_storage_bytes: float | None  # bytes can pass 2^31: GraphQL Int is 32-bit
    max_api_requests_per_month: float | None
    max_users: int | None


@strawberry.type(name="Plan")
class PlanType:
    id: strawberry.ID
    name: str
    description: str
    price_cents: int
    currency: str
    interval: str
    trial_days: int
    requests_per_minute: int
    quotas: PlanQuotasType

    @classmethod
    def of(cls, plan: Plan) -> PlanType:
        q = plan.quotas
        return cls(id=strawberry.ID(plan.id), name=plan.name, description=plan.description,
                   price_cents=plan.price_cents, currency=plan.currency,
                   interval=plan.interval, trial_days=plan.trial_days,
                   requests_per_minute=plan.requests_per_minute,
                   quotas=PlanQuotasType(
                       max_nodes=q.max_nodes,
                       max_ota_storage_bytes=None if q.max_ota_storage_bytes is None
                       else float(q.max_ota_storage_bytes),
                       max_api_requests_per_month=None if q.max_api_requests_per_month is None
                       else float(q.max_api_requests_per_month),
                       max_users=q.max_users))


@strawberry.type(name="BillingSubscription")
class SubscriptionType:
    plan: PlanType
    effective_plan: PlanType = strawberry.field(
        description="The plan whose quotas apply now (free once canceled, or past due "
                    "beyond the grace period).")
    status: str = strawberry.field(description="trialing | active | past_due | canceled")
    cancel_at_period_end: bool
    current_period_start: datetime | None
    current_period_end: datetime | None
    past_due_since: datetime | None
    canceled_at: datetime | None
    provider: str

    @classmethod
    def of(cls, view: SubscriptionView, now: datetime, provider: str) -> SubscriptionType:
        sub = view.subscription
        return cls(plan=PlanType.of(view.plan), effective_plan=PlanType.of(view.effective_plan),
                   status=sub.status_at(now).value,
                   cancel_at_period_end=sub.cancel_at_period_end,
                   current_period_start=sub.current_period_start,
                   current_period_end=sub.current_period_end,
                   past_due_since=sub.past_due_since, canceled_at=sub.canceled_at,
                   provider=provider)


@strawberry.type(name="UsageItem")
class UsageItemType:
    metric: str = strawberry.field(description="nodes | ota_storage_bytes | api_requests | "
                                               "users")
    used: float
    quota: float | None = strawberry.field(description="null: unlimited")
    percent: float | None


@strawberry.type(name="Usage")
class UsageType:
    plan: PlanType
    period_start: datetime
    items: list[UsageItemType]

    @classmethod
    def of(cls, report: UsageReport) -> UsageType:
        return cls(plan=PlanType.of(report.plan), period_start=report.period_start,
                   items=[UsageItemType(metric=item.metric.value, used=float(item.used),
                                        quota=None if item.limit is None else float(item.limit),
                                        percent=item.percent) for item in report.items])


@strawberry.type(name="InvoiceLine")
class InvoiceLineType:
    description: str
    amount_cents: int
    quantity: int


@strawberry.type(name="Invoice")
class InvoiceType:
    id: strawberry.ID
    number: str | None
    status: str
    currency: str
    amount_due_cents: int
    amount_paid_cents: int
    created: datetime
    period_start: datetime | None
    period_end: datetime | None
    hosted_url: str | None
    pdf_url: str | None
    lines: list[InvoiceLineType]

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceType:
        return cls(id=strawberry.ID(invoice.id), number=invoice.number, status=invoice.status,
                   currency=invoice.currency, amount_due_cents=invoice.amount_due_cents,
                   amount_paid_cents=invoice.amount_paid_cents, created=invoice.created,
                   period_start=invoice.period_start, period_end=invoice.period_end,
                   hosted_url=invoice.hosted_url, pdf_url=invoice.pdf_url,
                   lines=[InvoiceLineType(description=line.description,
                                          amount_cents=line.amount_cents,
                                          quantity=line.quantity) for line in invoice.lines])


@strawberry.type(name="InvoiceEdge")
class InvoiceEdge:
    cursor: str
    node: InvoiceType


@strawberry.type(name="InvoiceConnection")
class InvoiceConnection:
    edges: list[InvoiceEdge]
    page_info: PageInfo


@strawberry.type(name="PaymentMethod")
class PaymentMethodType:
    id: strawberry.ID
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool

    @classmethod
    def of(cls, method: PaymentMethod) -> PaymentMethodType:
        return cls(id=strawberry.ID(method.id), brand=method.brand, last4=method.last4,
                   exp_month=method.exp_month, exp_year=method.exp_year,
                   is_default=method.is_default)


@strawberry.type
class SetupIntentPayload:
    setup_intent_id: strawberry.ID
    client_secret: str = strawberry.field(
        description="Confirm it with the provider's SDK (Stripe.js confirmCardSetup) to "
                    "attach the card; the card never reaches Fleetgate.")


@strawberry.type
class SubscriptionPayload:
    subscription: SubscriptionType


@strawberry.input
class PlanInput:
    plan_id: strawberry.ID


@strawberry.input
class SubscribeInput:
    plan_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(
        default=None, description="Sent again with the same plan, the first result comes "
                                  "back and nothing more is created.")


@strawberry.input
class RemovePaymentMethodInput:
    id: strawberry.ID


@strawberry.type
class RemovePaymentMethodPayload:
    removed_id: strawberry.ID


def _subscription(billing: Billing, view: SubscriptionView) -> SubscriptionPayload:
    return SubscriptionPayload(subscription=SubscriptionType.of(view, billing.clock.now(),
                                                                billing.gateway.name))


async def organization_subscription(info: Ctx) -> SubscriptionType:
    ctx = info.context
    billing = ctx.billing.service
    return SubscriptionType.of(await billing.subscription(await ctx.caller()),
                               billing.clock.now(), billing.gateway.name)


async def organization_usage(info: Ctx) -> UsageType:
    ctx = info.context
    return UsageType.of(await ctx.billing.service.usage(await ctx.caller()))


@strawberry.type
class BillingQueries:
    @strawberry.field(description="The plans on offer, the free plan first.",
                      metadata=uses(Billing.plans))
    async def plans(self, info: Ctx) -> list[PlanType]:
        ctx = info.context
        return [PlanType.of(p) for p in await ctx.billing.service.plans(await ctx.caller())]

    @strawberry.field(description="The organization's invoices, newest first.",
                      metadata=uses(Billing.invoices))
    async def invoices(self, info: Ctx, first: int = 25,
                       after: str | None = None) -> InvoiceConnection:
        ctx = info.context
        cursor = decode_cursor(after) if after is not None else None
        if after is not None and cursor is None:
            raise ValidationFailed("Invalid cursor", reason="invalid_cursor")
        page = await ctx.billing.service.invoices(await ctx.caller(), limit=first,
                                                   starting_after=cursor)
        edges = [InvoiceEdge(cursor=encode_cursor(i.id), node=InvoiceType.of(i))
                 for i in page.invoices]
        return InvoiceConnection(edges=edges, page_info=PageInfo(
            has_next_page=page.has_more, has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The organization's cards.",
                      metadata=uses(Billing.payment_methods))
    async def payment_methods(self, info: Ctx) -> list[PaymentMethodType]:
        ctx = info.context
        found = await ctx.billing.service.payment_methods(await ctx.caller())
        return [PaymentMethodType.of(m) for m in found]


@strawberry.type
class BillingMutations:
    @strawberry.mutation(description="Subscribe the organization to a paid plan.",
                         metadata=uses(Billing.subscribe))
    async def subscribe(self, info: Ctx, input: SubscribeInput) -> SubscriptionPayload:
        ctx = info.context
        billing = ctx.billing.service
        return _subscription(billing, await billing.subscribe(
            await ctx.caller(), plan_id=str(input.plan_id),
            idempotency_key=input.idempotency_key))

    @strawberry.mutation(description="Move the subscription to another paid plan (refused, "
                                     "naming what is over, below current usage).",
                         metadata=uses(Billing.change_plan))
    async def change_plan(self, info: Ctx, input: PlanInput) -> SubscriptionPayload:
        ctx = info.context
        billing = ctx.billing.service
        return _subscription(billing, await billing.change_plan(await ctx.caller(),
                                                                plan_id=str(input.plan_id)))

    @strawberry.mutation(description="Cancel at the end of the current period.",
                         metadata=uses(Billing.cancel))
    async def cancel_subscription(self, info: Ctx) -> SubscriptionPayload:
        ctx = info.context
        billing = ctx.billing.service
        return _subscription(billing, await billing.cancel(await ctx.caller()))

    @strawberry.mutation(description="Take back a cancellation before the period ends.",
                         metadata=uses(Billing.resume))
    async def resume_subscription(self, info: Ctx) -> SubscriptionPayload:
        ctx = info.context
        billing = ctx.billing.service
        return _subscription(billing, await billing.resume(await ctx.caller()))

    @strawberry.mutation(description="Start adding a card: a SetupIntent client secret.",
                         metadata=uses(Billing.add_payment_method))
    async def add_payment_method(self, info: Ctx,
                                 idempotency_key: str | None = None) -> SetupIntentPayload:
        ctx = info.context
        intent = await ctx.billing.service.add_payment_method(
            await ctx.caller(), idempotency_key=idempotency_key)
        return SetupIntentPayload(setup_intent_id=strawberry.ID(intent.id),
                                  client_secret=intent.client_secret)

    @strawberry.mutation(description="Remove a card.",
                         metadata=uses(Billing.remove_payment_method))
    async def remove_payment_method(self, info: Ctx, input: RemovePaymentMethodInput
                                    ) -> RemovePaymentMethodPayload:
        ctx = info.context
        await ctx.billing.service.remove_payment_method(await ctx.caller(),
                                                         payment_method_id=str(input.id))
        return RemovePaymentMethodPayload(removed_id=input.id)
