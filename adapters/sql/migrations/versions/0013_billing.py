"""Billing: each organization's subscription (RLS), its API request counts per month (RLS),
and the payment provider's webhook events processed (one row per event id, so a redelivered
event changes nothing).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import APP_ROLE, enable_tenant_rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "billing_subscriptions",
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id",
                                                         ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("current_period_start", nullable=True),
        _ts("current_period_end", nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        _ts("canceled_at", nullable=True),
        _ts("past_due_since", nullable=True),
        sa.Column("customer_id", sa.String(255), nullable=True, unique=True),
        sa.Column("provider_id", sa.String(255), nullable=True),
        sa.Column("provider_version", sa.BigInteger(), nullable=False),
        sa.Column("request_key", sa.String(255), nullable=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=True),
    )
    op.create_table(
        "billing_api_usage",
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id",
                                                         ondelete="CASCADE"),
                  nullable=False),
        _ts("month"),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "month"),
    )
    op.create_table(
        "billing_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=True),
        _ts("processed_at"),
    )
    enable_tenant_rls(op, ("billing_subscriptions", "billing_api_usage"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON billing_events TO {APP_ROLE}")


def downgrade() -> None:
    for table in ("billing_events", "billing_api_usage", "billing_subscriptions"):
        op.drop_table(table)
