"""The SQL BillingRepository on a real database (SQLite; PostgreSQL with DATABASE_URL):
subscriptions round trip, usage in one query, events recorded once, API request counts
added up, and another organization seeing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.billing.model import Subscription, SubscriptionStatus
from tests.integration.test_ota_repository import NOW, Db, add_nodes, db, image  # noqa: F401

MONTH = datetime(2026, 1, 1, tzinfo=UTC)


async def test_a_subscription_round_trips_and_is_found_by_customer(db: Db) -> None:  # noqa: F811
    sub = Subscription(org_id="org-a", plan_id="pro", status=SubscriptionStatus.PAST_DUE,
                       created_at=NOW, updated_at=NOW, current_period_start=NOW,
                       current_period_end=NOW + timedelta(days=30), cancel_at_period_end=True,
                       past_due_since=NOW, customer_id="cus_1", provider_id="sub_1",
                       provider_version=1_700_000_000, request_key="k",
                       request_fingerprint="pro")
    async with db.uow("org-a") as tx:
        await tx.billing.save_subscription(sub)
        await tx.commit()
    async with db.uow("org-a") as tx:
        assert await tx.billing.get_subscription("org-a") == sub
        sub.status = SubscriptionStatus.ACTIVE
        await tx.billing.save_subscription(sub)  # upsert
        await tx.commit()
    async with db.uow("*") as tx:
        found = await tx.billing.by_customer("cus_1")
        assert found is not None and found.status == SubscriptionStatus.ACTIVE
    async with db.uow("org-b") as tx:
        assert await tx.billing.get_subscription("org-a") is None
        assert await tx.billing.by_customer("cus_1") is None


async def test_usage_counts_what_the_organization_has_and_did(db: Db) -> None:  # noqa: F811
    await add_nodes(db, "org-a", 3)
    await add_nodes(db, "org-b", 2)
    async with db.uow("org-a") as tx:
        await tx.ota.add_image(image("i1", size=1000))
        await tx.ota.add_image(image("i2", size=24))
        await tx.commit()
    async with db.uow("*") as tx:
        await tx.billing.add_api_requests({("org-a", MONTH): 5, ("org-b", MONTH): 7})
        await tx.billing.add_api_requests({("org-a", MONTH): 2,
                                           ("org-a", MONTH - timedelta(days=31)): 100})
        await tx.commit()
    async with db.uow("org-a") as tx:
        usage = await tx.billing.usage("org-a", MONTH, lock=True)
    assert (usage.nodes, usage.ota_storage_bytes, usage.api_requests, usage.users) == \
        (3, 1024, 7, 0)
    async with db.uow("org-b") as tx:
        assert (await tx.billing.usage("org-b", MONTH)).nodes == 2


async def test_an_event_is_recorded_once(db: Db) -> None:  # noqa: F811
    async with db.uow("*") as tx:
        assert not await tx.billing.event_seen("evt_1")
        assert await tx.billing.record_event("evt_1", "invoice.paid", 1, "org-a", NOW)
        assert not await tx.billing.record_event("evt_1", "invoice.paid", 1, "org-a", NOW)
        await tx.commit()
    async with db.uow("*") as tx:
        assert await tx.billing.event_seen("evt_1")

