"""Reported params history per node (one row per reported change); RLS on PostgreSQL.

Keyed by (node_id, version): a node's params version only increases, so a row is never
written twice, and "the newest N" and "older than version V" (pruning) are index range scans.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "fleetgate_app"
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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {TABLE} TO {APP_ROLE}")
        scope = "current_setting('fleetgate.org_id', true)"
        op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY org_isolation ON {TABLE} "
                   f"USING ({scope} = '*' OR org_id = {scope}) "
                   f"WITH CHECK ({scope} = '*' OR org_id = {scope})")


def downgrade() -> None:
    op.drop_table(TABLE)
