"""In-memory BillingRepository and a scripted BillingGateway for the billing domain tests."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.billing.model import (
    BillingEvent,
    Invoice,
    InvoicePage,
    PaymentMethod,
    Plan,
    ProviderSubscription,
    SetupIntent,
    Subscription,
    SubscriptionStatus,
    Usage,
)
from domain.errors import BillingUnavailable, ValidationFailed
from ports.repositories.uow import SYSTEM_SCOPE


@dataclass
class BillingState:
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    api_requests: dict[tuple[str, datetime], int] = field(default_factory=dict)


class InMemoryBilling:
    def __init__(self, store: Any, org: str) -> None:
        self._store, self._org = store, org

    @property
    def _b(self) -> BillingState:
        state: BillingState = self._store.billing
        return state

    def _mine(self, org_id: str) -> bool:
        return self._org == SYSTEM_SCOPE or org_id == self._org

    async def get_subscription(self, org_id: str) -> Subscription | None:
        found = self._b.subscriptions.get(org_id)
        return copy.deepcopy(found) if found is not None and self._mine(org_id) else None

    async def by_customer(self, customer_id: str) -> Subscription | None:
        for sub in self._b.subscriptions.values():
            if sub.customer_id == customer_id and self._mine(sub.org_id):
                return copy.deepcopy(sub)
        return None

    async def save_subscription(self, subscription: Subscription) -> None:
        assert self._mine(subscription.org_id)
        self._b.subscriptions[subscription.org_id] = copy.deepcopy(subscription)

    async def usage(self, org_id: str, month_start: datetime, *, lock: bool = False) -> Usage:
        store = self._store
        nodes = sum(1 for n in store.nodes.values() if n.org_id == org_id and n.active)
        users = sum(1 for u in store.users.values() if u.org_id == org_id)
        ota = sum(i.size for i in store.ota.images.values() if i.org_id == org_id)
        api = sum(n for (org, month), n in self._b.api_requests.items()
                  if org == org_id and month >= month_start)
        return Usage(nodes=nodes, ota_storage_bytes=ota, api_requests=api, users=users)

    async def event_seen(self, event_id: str) -> bool:
        return event_id in self._b.events

    async def record_event(self, event_id: str, type: str, created: int, org_id: str | None,
                           at: datetime) -> bool:
        if event_id in self._b.events:
            return False
        self._b.events[event_id] = type
        return True

    async def add_api_requests(self, counts: dict[tuple[str, datetime], int]) -> None:
        for key, n in counts.items():
            self._b.api_requests[key] = self._b.api_requests.get(key, 0) + n


class ScriptedGateway:
    """A provider whose subscriptions live here; `down` makes every call fail like an
    outage; `calls` records (method, idempotency key)."""

    name = "scripted"

    def __init__(self, plans: Sequence[Plan], clock: Any, *, takes_payments: bool = True
                 ) -> None:
        self._plans, self.clock, self.takes_payments = list(plans), clock, takes_payments
        self.subs: dict[str, ProviderSubscription] = {}
        self.invoices: dict[str, tuple[str, Invoice]] = {}
        self.methods: dict[str, tuple[str, PaymentMethod]] = {}
        self.calls: list[tuple[str, str | None]] = []
        self.down = False
        self._keys: dict[str, object] = {}

    def _call(self, name: str, key: str | None = None) -> None:
        if self.down:
            raise BillingUnavailable("provider down", reason="billing_unavailable")
        self.calls.append((name, key))

    def _version(self) -> int:
        return int(self.clock.now().timestamp())

    def plans(self) -> Sequence[Plan]:
        return self._plans

    async def ensure_customer(self, *, org_id: str, name: str, email: str | None,
                              idempotency_key: str) -> str:
        self._call("ensure_customer", idempotency_key)
        return f"cus_{org_id}"

    async def create_subscription(self, *, customer_id: str, plan: Plan,
                                  idempotency_key: str) -> ProviderSubscription:
        self._call("create_subscription", idempotency_key)
        if idempotency_key in self._keys:
            return self._keys[idempotency_key]  # type: ignore[return-value]
        now = self.clock.now()
        sub = ProviderSubscription(
            id=f"sub_{len(self.subs) + 1}", customer_id=customer_id, plan_id=plan.id,
            status=SubscriptionStatus.TRIALING if plan.trial_days else SubscriptionStatus.ACTIVE,
            cancel_at_period_end=False, current_period_start=now,
            current_period_end=now + timedelta(days=30), version=self._version())
        self.subs[sub.id] = sub
        self._keys[idempotency_key] = sub
        return sub

    def set(self, sub_id: str, **changes: Any) -> ProviderSubscription:
        self.subs[sub_id] = replace(self.subs[sub_id], version=self._version(), **changes)
        return self.subs[sub_id]

    async def change_plan(self, *, subscription_id: str, plan: Plan,
                          idempotency_key: str) -> ProviderSubscription:
        self._call("change_plan", idempotency_key)
        return self.set(subscription_id, plan_id=plan.id)

    async def set_cancel_at_period_end(self, *, subscription_id: str, cancel: bool,
                                       idempotency_key: str) -> ProviderSubscription:
        self._call("set_cancel_at_period_end", idempotency_key)
        return self.set(subscription_id, cancel_at_period_end=cancel)

    async def fetch_subscription(self, subscription_id: str) -> ProviderSubscription | None:
        self._call("fetch_subscription")
        found = self.subs.get(subscription_id)
        return replace(found, version=self._version()) if found else None

    async def list_invoices(self, *, customer_id: str, limit: int,
                            starting_after: str | None) -> InvoicePage:
        self._call("list_invoices")
        mine = [inv for cus, inv in self.invoices.values() if cus == customer_id]
        return InvoicePage(mine[:limit], len(mine) > limit)

    async def get_invoice(self, *, customer_id: str, invoice_id: str) -> Invoice | None:
        self._call("get_invoice")
        found = self.invoices.get(invoice_id)
        return found[1] if found and found[0] == customer_id else None

    async def create_setup_intent(self, *, customer_id: str,
                                  idempotency_key: str) -> SetupIntent:
        self._call("create_setup_intent", idempotency_key)
        return SetupIntent(id="seti_1", client_secret="seti_1_secret_x")

    async def list_payment_methods(self, *, customer_id: str) -> list[PaymentMethod]:
        self._call("list_payment_methods")
        return [pm for cus, pm in self.methods.values() if cus == customer_id]

    async def detach_payment_method(self, *, customer_id: str, payment_method_id: str) -> bool:
        self._call("detach_payment_method")
        found = self.methods.get(payment_method_id)
        if found is None or found[0] != customer_id:
            return False
        del self.methods[payment_method_id]
        return True


class PassThroughVerifier:
    """Verifies a payload that is the event itself (signatures are the adapter's tests)."""

    def __init__(self) -> None:
        self.events: dict[bytes, BillingEvent] = {}

    def add(self, event: BillingEvent) -> bytes:
        payload = event.id.encode()
        self.events[payload] = event
        return payload

    def verify(self, payload: bytes, signature: str | None) -> BillingEvent:
        if signature != "ok" or payload not in self.events:
            raise ValidationFailed("bad signature", reason="webhook_signature")
        return self.events[payload]
