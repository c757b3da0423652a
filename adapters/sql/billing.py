"""BillingRepository on SQL: subscriptions, usage in one query, the provider's events
processed (insert-or-nothing on the event id), API request counts per month."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.accounts import users
from adapters.sql.tables.billing import billing_api_usage, billing_events, billing_subscriptions
from adapters.sql.tables.devices import nodes
from adapters.sql.tables.ota import ota_images
from domain.billing.model import Subscription, SubscriptionStatus, Usage

b = billing_subscriptions.c
_FIELDS = ("plan_id", "status", "created_at", "updated_at", "current_period_start",
           "current_period_end", "cancel_at_period_end", "canceled_at", "past_due_since",
           "customer_id", "provider_id", "provider_version", "request_key",
           "request_fingerprint")


def _values(sub: Subscription) -> dict[str, Any]:
    values = {name: getattr(sub, name) for name in _FIELDS}
    values["status"] = sub.status.value
    return values


def _subscription(row: Any) -> Subscription:
    return Subscription(
        org_id=row.org_id, plan_id=row.plan_id, status=SubscriptionStatus(row.status),
        created_at=aware(row.created_at), updated_at=aware(row.updated_at),  # type: ignore[arg-type]
        current_period_start=aware(row.current_period_start),
        current_period_end=aware(row.current_period_end),
        cancel_at_period_end=bool(row.cancel_at_period_end),
        canceled_at=aware(row.canceled_at), past_due_since=aware(row.past_due_since),
        customer_id=row.customer_id, provider_id=row.provider_id,
        provider_version=int(row.provider_version), request_key=row.request_key,
        request_fingerprint=row.request_fingerprint)


class SqlBillingRepository(_Scoped):
    async def _dialect(self) -> str:
        conn = await self._tx.connection()
        return str(conn.dialect.name)

    async def _insert(self) -> Any:
        return pg_insert if await self._dialect() == "postgresql" else sqlite_insert

    async def get_subscription(self, org_id: str) -> Subscription | None:
        row = (await self._exec(select(billing_subscriptions).where(
            b.org_id == org_id, self._in_scope(b.org_id)))).first()
        return _subscription(row) if row else None

    async def by_customer(self, customer_id: str) -> Subscription | None:
        row = (await self._exec(select(billing_subscriptions).where(
            b.customer_id == customer_id, self._in_scope(b.org_id)))).first()
        return _subscription(row) if row else None

    async def save_subscription(self, subscription: Subscription) -> None:
        if not self._visible(subscription.org_id):
            raise PermissionError("subscription of another organization")
        values = _values(subscription)
        insert = await self._insert()
        statement = insert(billing_subscriptions).values(org_id=subscription.org_id, **values)
        await self._exec(statement.on_conflict_do_update(index_elements=["org_id"],
                                                         set_=values))

    async def usage(self, org_id: str, month_start: datetime, *, lock: bool = False) -> Usage:
        if lock and await self._dialect() == "postgresql":
            await self._exec(text("SELECT 1 FROM organizations WHERE id = :org FOR UPDATE"),
                             {"org": org_id})
        n, o, u, a = nodes.c, ota_images.c, users.c, billing_api_usage.c
        row = (await self._exec(select(
            select(func.count()).select_from(nodes).where(
                n.org_id == org_id, n.active.is_(True)).scalar_subquery().label("nodes"),
            select(func.coalesce(func.sum(o.size), 0)).where(
                o.org_id == org_id).scalar_subquery().label("ota"),
            select(func.count()).select_from(users).where(
                u.org_id == org_id).scalar_subquery().label("users"),
            select(func.coalesce(func.sum(a.requests), 0)).where(
                a.org_id == org_id, a.month >= month_start).scalar_subquery().label("api"),
        ).select_from(select(literal(1)).subquery()))).one()
        return Usage(nodes=int(row.nodes), ota_storage_bytes=int(row.ota),
                     api_requests=int(row.api), users=int(row.users))

    async def event_seen(self, event_id: str) -> bool:
        return (await self._exec(select(billing_events.c.id).where(
            billing_events.c.id == event_id))).first() is not None

    async def record_event(self, event_id: str, type: str, created: int, org_id: str | None,
                           at: datetime) -> bool:
        insert = await self._insert()
        result = await self._exec(insert(billing_events).values(
            id=event_id, type=type, created=created, org_id=org_id, processed_at=at
        ).on_conflict_do_nothing(index_elements=["id"]).returning(billing_events.c.id))
        return result.first() is not None

    async def add_api_requests(self, counts: dict[tuple[str, datetime], int]) -> None:
        if not counts:
            return
        insert = await self._insert()
        statement = insert(billing_api_usage)
        statement = statement.on_conflict_do_update(
            index_elements=["org_id", "month"],
            set_={"requests": billing_api_usage.c.requests + statement.excluded.requests})
        await self._exec(statement, [{"org_id": org, "month": month, "requests": n}
                                     for (org, month), n in counts.items()])
