"""Reported params history per node (one row per reported change); RLS on PostgreSQL.

Keyed by (node_id, version): a node's params version only increases, so a row is never
written twice, and "the newest N" and "older than version V" (pruning) are index range scans.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "node_params_history"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("node_id", sa.String(64), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
    )
    enable_tenant_rls(op, (TABLE,))


def downgrade() -> None:
    op.drop_table(TABLE)
