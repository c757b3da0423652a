"""Billing in the domain with in-memory fakes: plans and quotas, the subscription's lifecycle,
downgrades refused naming what is over, quota checks that write nothing, and the provider's
webhook events processed once and converging whatever their order (SECURITY.md B2/B3)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import SUPERADMIN, Organization, User
from domain.billing.limits import overages, require_room
from domain.billing.model import (
    FREE_PLAN,
    BillingEvent,
    EventKind,
    Invoice,
    Metric,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    Quotas,
    Subscription,
    SubscriptionStatus,
    Usage,
)
from domain.billing.quotas import QuotaGuard
from domain.billing.service import Billing
from domain.devices.model import Node
from domain.devices.provisioning import Provisioning
from domain.errors import (
    BillingUnavailable,
    Conflict,
    NotFound,
    QuotaExceeded,
    ValidationFailed,
)
from tests.unit.fakes import AllowAll, FakeClock, InMemoryUnitOfWork, SequentialIds
from tests.unit.fakes.billing import PassThroughVerifier, ScriptedGateway
from tests.unit.fakes.store import Store

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FREE = Plan(id=FREE_PLAN, name="Free", description="", price_cents=0, currency="usd",
            interval="month", quotas=Quotas(2, 1000, 100, 2), requests_per_minute=60)
PRO = Plan(id="pro", name="Pro", description="", price_cents=4900, currency="usd",
           interval="month", quotas=Quotas(5, 10_000, None, 5), requests_per_minute=600)
TINY = Plan(id="tiny", name="Tiny", description="", price_cents=900, currency="usd",
            interval="month", quotas=Quotas(1, 10_000, None, 5), requests_per_minute=60)
PLANS = [FREE, PRO, TINY]
ORG = "org-a"


def caller(org: str = ORG) -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org, user_id="u1",
                                      roles=frozenset({SUPERADMIN})))


class World:
    def __init__(self, *, takes_payments: bool = True) -> None:
        self.store, self.clock = Store(), FakeClock(T0)
        self.gateway = ScriptedGateway(PLANS, self.clock, takes_payments=takes_payments)
        self.verifier = PassThroughVerifier()
        self.billing = Billing(uow=self.uow, gateway=self.gateway, clock=self.clock,
                               authorizer=AllowAll(), verifier=self.verifier)
        self.guard = QuotaGuard(plans=PLANS, clock=self.clock)
        for org in (ORG, "org-b"):
            self.store.orgs[org] = Organization(id=org, name=org, created_at=T0)
        self.store.users["u1"] = User(id="u1", org_id=ORG, user_name="ops@acme.io",
                                      password_hash="x", created_at=T0)

    def uow(self, org: str) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, org)

    def nodes(self, count: int, org: str = ORG) -> None:
        for i in range(count):
            node_id = f"{org}-n{len(self.store.nodes) + i}"
            self.store.nodes[node_id] = Node(id=node_id, org_id=org, created_at=T0)

    def sub(self, org: str = ORG) -> Subscription:
        return self.store.billing.subscriptions[org]

    def event(self, event_id: str, kind: EventKind, created: int,
              state: ProviderSubscription | None = None) -> bytes:
        sub = self.sub()
        return self.verifier.add(BillingEvent(
            id=event_id, type=kind.value, created=created, customer_id=sub.customer_id,
            subscription_id=sub.provider_id, subscription=state))


@pytest.fixture
def world() -> World:
    return World()


# --- the rules ----------------------------------------------------------------------------


def test_room_and_overages_name_what_is_over() -> None:
    usage = Usage(nodes=2, ota_storage_bytes=500, api_requests=10_000, users=1)
    require_room(FREE, usage, Metric.USERS, 1)
    with pytest.raises(QuotaExceeded) as refused:
        require_room(FREE, usage, Metric.NODES, 1)
    assert refused.value.reason == "quota_nodes" and "allows 2 nodes" in refused.value.message
    require_room(PRO, usage, Metric.API_REQUESTS, 10**9)  # unlimited
    over = overages(Usage(nodes=3, ota_storage_bytes=2000, api_requests=10**6, users=1),
                    FREE.quotas)
    assert [(o.metric, o.used, o.limit) for o in over] == [
        (Metric.NODES, 3, 2), (Metric.OTA_STORAGE, 2000, 1000)]  # API requests never block


def test_effective_plan_falls_back_to_free_after_grace_or_the_end() -> None:
    sub = Subscription(org_id=ORG, plan_id="pro", status=SubscriptionStatus.ACTIVE,
                       created_at=T0, updated_at=T0, current_period_end=T0 + timedelta(days=30))
    assert sub.effective_plan_id(T0) == "pro"
    sub.payment_failed(T0)
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert sub.effective_plan_id(T0 + timedelta(days=6)) == "pro"  # in grace
    assert sub.effective_plan_id(T0 + timedelta(days=7)) == FREE_PLAN
    sub.payment_succeeded(T0 + timedelta(days=8))
    assert sub.effective_plan_id(T0 + timedelta(days=8)) == "pro"
    sub.cancel_at_period_end = True
    assert not sub.ended(T0 + timedelta(days=29))
    assert sub.ended(T0 + timedelta(days=30)) and sub.effective_plan_id(
        T0 + timedelta(days=30)) == FREE_PLAN
    assert sub.status_at(T0 + timedelta(days=30)) == SubscriptionStatus.CANCELED


def test_provider_state_older_than_the_applied_one_is_ignored() -> None:
    sub = Subscription.free(ORG, T0)
    state = ProviderSubscription(id="sub_1", customer_id="cus", plan_id="pro",
                                 status=SubscriptionStatus.ACTIVE, cancel_at_period_end=False,
                                 current_period_start=T0, current_period_end=None, version=100)
    assert sub.apply(state, "pro", T0)
    assert not sub.apply(replace(state, status=SubscriptionStatus.CANCELED, version=99), "pro",
                         T0)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.apply(replace(state, status=SubscriptionStatus.PAST_DUE, version=101), "pro", T0)
    assert sub.past_due_since == T0


# --- the lifecycle ------------------------------------------------------------------------


async def test_subscribe_change_cancel_resume(world: World) -> None:
    assert (await world.billing.subscription(caller())).plan.id == FREE_PLAN
    view = await world.billing.subscribe(caller(), plan_id="pro")
    assert view.plan.id == "pro" and view.subscription.status == SubscriptionStatus.ACTIVE
    assert view.subscription.customer_id == f"cus_{ORG}"
    with pytest.raises(Conflict):
        await world.billing.subscribe(caller(), plan_id="tiny")
    with pytest.raises(Conflict):
        await world.billing.subscribe(caller(), plan_id=FREE_PLAN)
    with pytest.raises(NotFound):
        await world.billing.change_plan(caller(), plan_id="gold")
    changed = await world.billing.change_plan(caller(), plan_id="tiny")
    assert changed.plan.id == "tiny"
    with pytest.raises(Conflict):
        await world.billing.resume(caller())  # not being canceled
    ending = await world.billing.cancel(caller())
    assert ending.subscription.cancel_at_period_end and ending.effective_plan.id == "tiny"
    resumed = await world.billing.resume(caller())
    assert not resumed.subscription.cancel_at_period_end
    # creates carry idempotency keys; the same logical subscribe reuses its key
    keys = [key for name, key in world.gateway.calls if key]
    assert all(key.startswith("fg-") for key in keys) and len(keys) == len(set(keys))
    # another organization sees its own free plan
    assert (await world.billing.subscription(caller("org-b"))).plan.id == FREE_PLAN


async def test_a_downgrade_below_usage_is_refused_naming_what_is_over(world: World) -> None:
    await world.billing.subscribe(caller(), plan_id="pro")
    world.nodes(3)
    with pytest.raises(Conflict) as refused:
        await world.billing.change_plan(caller(), plan_id="tiny")
    assert refused.value.reason == "plan_below_usage"
    assert "nodes: 3 used, the plan allows 1" in refused.value.message
    assert world.sub().plan_id == "pro"


async def test_after_the_period_ends_a_canceled_plan_gives_way_to_free(world: World) -> None:
    await world.billing.subscribe(caller(), plan_id="pro")
    await world.billing.cancel(caller())
    world.clock.advance(days=31)
    view = await world.billing.subscription(caller())
    assert view.effective_plan.id == FREE_PLAN
    with pytest.raises(NotFound):
        await world.billing.resume(caller())
    again = await world.billing.subscribe(caller(), plan_id="pro")  # subscribes anew
    assert again.effective_plan.id == "pro"


async def test_usage_reports_each_metric_with_its_quota(world: World) -> None:
    world.nodes(1)
    report = await world.billing.usage(caller())
    items = {item.metric: item for item in report.items}
    assert (items[Metric.NODES].used, items[Metric.NODES].limit,
            items[Metric.NODES].percent) == (1, 2, 50.0)
    assert items[Metric.USERS].used == 1 and report.plan.id == FREE_PLAN


async def test_invoices_and_payment_methods_stay_within_the_customer(world: World) -> None:
    await world.billing.subscribe(caller(), plan_id="pro")
    invoice = Invoice(id="in_1", number="A-1", status="paid", currency="usd",
                      amount_due_cents=4900, amount_paid_cents=4900, created=T0,
                      period_start=T0, period_end=T0, hosted_url=None,
                      pdf_url="https://pdf.example/in_1")
    world.gateway.invoices["in_1"] = (f"cus_{ORG}", invoice)
    world.gateway.invoices["in_2"] = ("cus_other", replace(invoice, id="in_2"))
    assert [i.id for i in (await world.billing.invoices(caller())).invoices] == ["in_1"]
    assert await world.billing.invoice_pdf(caller(), invoice_id="in_1") == \
        "https://pdf.example/in_1"
    with pytest.raises(NotFound):
        await world.billing.invoice(caller(), invoice_id="in_2")
    with pytest.raises(NotFound):  # org-b has no customer at all
        await world.billing.invoice(caller("org-b"), invoice_id="in_1")
    world.gateway.methods["pm_1"] = (f"cus_{ORG}", PaymentMethod("pm_1", "visa", "4242", 1,
                                                                 2030, True))
    world.gateway.methods["pm_2"] = ("cus_other", PaymentMethod("pm_2", "visa", "1111", 1,
                                                                2030))
    assert [m.id for m in await world.billing.payment_methods(caller())] == ["pm_1"]
    with pytest.raises(NotFound):
        await world.billing.remove_payment_method(caller(), payment_method_id="pm_2")
    await world.billing.remove_payment_method(caller(), payment_method_id="pm_1")
    assert (await world.billing.add_payment_method(caller())).client_secret
    with pytest.raises(ValidationFailed):
        await world.billing.invoices(caller(), limit=0)


async def test_without_payments_there_are_no_invoices_or_methods() -> None:
    world = World(takes_payments=False)
    assert (await world.billing.invoices(caller())).invoices == []
    assert await world.billing.payment_methods(caller()) == []
    with pytest.raises(Conflict):
        await world.billing.add_payment_method(caller())


async def test_a_provider_outage_is_a_clear_error_and_changes_nothing(world: World) -> None:
    world.gateway.down = True
    with pytest.raises(BillingUnavailable):
        await world.billing.subscribe(caller(), plan_id="pro")
    assert ORG not in world.store.billing.subscriptions or \
        world.sub().plan_id == FREE_PLAN
    assert (await world.billing.subscription(caller())).plan.id == FREE_PLAN  # reads work


# --- quotas in other use cases ------------------------------------------------------------


async def test_provisioning_beyond_the_plan_fails_and_writes_nothing(world: World) -> None:
    provisioning = Provisioning(uow=world.uow, ids=SequentialIds(), clock=world.clock,
                                authorizer=AllowAll(), quotas=world.guard)
    tokens = [await provisioning.create_registration_token(caller(), node_name=f"n{i}")
              for i in range(3)]  # room for 2: tokens are issued while there is room
    await provisioning.provision_node(Caller(), token=tokens[0].token)
    await provisioning.provision_node(Caller(), token=tokens[1].token)
    before = dict(world.store.nodes)
    with pytest.raises(QuotaExceeded):
        await provisioning.provision_node(Caller(), token=tokens[2].token)
    with pytest.raises(QuotaExceeded):
        await provisioning.create_registration_token(caller(), node_name="more")
    assert world.store.nodes == before
    assert world.store.tokens[tokens[2].record.id].node_id is None  # the token still works
    await world.billing.subscribe(caller(), plan_id="pro")
    await provisioning.provision_node(Caller(), token=tokens[2].token)  # the plan has room


async def test_past_due_beyond_grace_falls_back_to_free_quotas(world: World) -> None:
    await world.billing.subscribe(caller(), plan_id="pro")
    world.nodes(2)
    async with world.uow(ORG) as uow:
        await world.guard.require(uow, ORG, Metric.NODES)  # pro: room
    payload = world.event("evt_fail", EventKind.INVOICE_PAYMENT_FAILED,
                          int(world.clock.now().timestamp()) + 1)
    world.gateway.set(world.sub().provider_id or "", status=SubscriptionStatus.PAST_DUE)
    assert await world.billing.handle_webhook(Caller(), payload=payload,
                                              signature="ok") == "processed"
    assert world.sub().status == SubscriptionStatus.PAST_DUE
    world.clock.advance(days=8)
    with pytest.raises(QuotaExceeded):
        async with world.uow(ORG) as uow:
            await world.guard.require(uow, ORG, Metric.NODES)
    assert len(world.store.nodes) == 2  # nothing deleted


# --- webhooks -----------------------------------------------------------------------------


async def test_an_event_is_processed_once(world: World) -> None:
    await world.billing.subscribe(caller(), plan_id="pro")
    sub_id = world.sub().provider_id or ""
    world.gateway.set(sub_id, status=SubscriptionStatus.PAST_DUE)
    payload = world.event("evt_1", EventKind.SUBSCRIPTION_UPDATED, 10)
    outcomes = [await world.billing.handle_webhook(Caller(), payload=payload, signature="ok")
                for _ in range(3)]
    assert outcomes == ["processed", "duplicate", "duplicate"]
    assert world.store.billing.events == {"evt_1": EventKind.SUBSCRIPTION_UPDATED.value}
    with pytest.raises(ValidationFailed):
        await world.billing.handle_webhook(Caller(), payload=payload, signature="forged")
    unknown = world.verifier.add(BillingEvent(id="evt_x", type="invoice.paid", created=1,
                                              customer_id="cus_nobody", subscription_id=None))
    assert await world.billing.handle_webhook(Caller(), payload=unknown, signature="ok") == \
        "ignored: unknown customer"


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
async def test_any_order_of_events_converges_to_the_provider_state(order: tuple[int, ...]
                                                                   ) -> None:
    """B3: created, updated (past due), deleted and invoice.paid for one subscription, in
    every order: the stored state ends as the provider's (re-read on every event)."""
    world = World()
    await world.billing.subscribe(caller(), plan_id="pro")
    sub_id = world.sub().provider_id or ""
    world.gateway.set(sub_id, status=SubscriptionStatus.CANCELED)  # what happened last
    events = [world.event("evt_created", EventKind.SUBSCRIPTION_CREATED, 100),
              world.event("evt_updated", EventKind.SUBSCRIPTION_UPDATED, 200),
              world.event("evt_deleted", EventKind.SUBSCRIPTION_DELETED, 300),
              world.event("evt_paid", EventKind.INVOICE_PAID, 250)]
    for index in order:
        world.clock.advance(seconds=1)
        await world.billing.handle_webhook(Caller(), payload=events[index], signature="ok")
    assert world.sub().status == SubscriptionStatus.CANCELED
    assert (await world.billing.subscription(caller())).effective_plan.id == FREE_PLAN


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_without_the_provider_the_newest_event_state_wins(order: tuple[int, ...]
                                                                ) -> None:
    """When the re-read fails, each event's own state applies unless a newer one did."""
    world = World()
    await world.billing.subscribe(caller(), plan_id="pro")
    base = world.gateway.subs[world.sub().provider_id or ""]
    world.gateway.down = True
    states = [replace(base, status=SubscriptionStatus.ACTIVE, version=base.version + 10),
              replace(base, status=SubscriptionStatus.PAST_DUE, version=base.version + 20),
              replace(base, status=SubscriptionStatus.ACTIVE, cancel_at_period_end=True,
                      version=base.version + 30)]
    payloads = [world.event(f"evt_{i}", EventKind.SUBSCRIPTION_UPDATED, state.version, state)
                for i, state in enumerate(states)]
    for index in order:
        await world.billing.handle_webhook(Caller(), payload=payloads[index], signature="ok")
    final = world.sub()
    assert (final.status, final.cancel_at_period_end) == (SubscriptionStatus.ACTIVE, True)


async def test_a_failure_mid_event_records_nothing_and_the_retry_applies_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """SECURITY.md D2: the event id and the state change commit together or not at all."""
    from tests.unit.fakes.billing import InMemoryBilling

    await world.billing.subscribe(caller(), plan_id="pro")
    world.gateway.set(world.sub().provider_id or "", status=SubscriptionStatus.PAST_DUE)
    payload = world.event("evt_d2", EventKind.SUBSCRIPTION_UPDATED, 10)
    save = InMemoryBilling.save_subscription

    async def broken(self: InMemoryBilling, subscription: Subscription) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(InMemoryBilling, "save_subscription", broken)
    with pytest.raises(RuntimeError):
        await world.billing.handle_webhook(Caller(), payload=payload, signature="ok")
    assert world.store.billing.events == {}
    assert world.sub().status == SubscriptionStatus.ACTIVE
    monkeypatch.setattr(InMemoryBilling, "save_subscription", save)
    assert await world.billing.handle_webhook(Caller(), payload=payload,
                                              signature="ok") == "processed"
    assert world.sub().status == SubscriptionStatus.PAST_DUE
