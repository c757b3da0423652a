"""Tables of billing: subscriptions, API usage, processed webhook events."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    PrimaryKeyConstraint,
    String,
    Table,
)

from adapters.sql.tables.base import metadata, ts

billing_subscriptions = Table(
    "billing_subscriptions", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("plan_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    ts("created_at"),
    ts("updated_at"),
    ts("current_period_start", nullable=True),
    ts("current_period_end", nullable=True),
    Column("cancel_at_period_end", Boolean, nullable=False),
    ts("canceled_at", nullable=True),
    ts("past_due_since", nullable=True),
    Column("customer_id", String(255), nullable=True, unique=True),
    Column("provider_id", String(255), nullable=True),
    Column("provider_version", BigInteger, nullable=False),
    Column("request_key", String(255), nullable=True),
    Column("request_fingerprint", String(64), nullable=True),
)


billing_api_usage = Table(
    "billing_api_usage", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    ts("month"),
    Column("requests", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "month"),
)


billing_events = Table(
    "billing_events", metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("org_id", String(36), nullable=True),
    ts("processed_at"),
)
