"""Node sharing requests; RLS on PostgreSQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APP_ROLE = "fleetgate_app"
TABLE = "node_sharing_requests"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("from_user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("to_user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("node_ids", sa.JSON(), nullable=False),
        sa.Column("primary_role", sa.Boolean(), nullable=False),
        sa.Column("transfer", sa.Boolean(), nullable=False),
        sa.Column("new_role", sa.String(16), nullable=True),
        sa.Column("request_metadata", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
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
