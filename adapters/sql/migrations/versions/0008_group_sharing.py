"""Group sharing: who a group is shared with (and as what), and group sharing requests kept
beside node sharing requests (a kind column and the group ids); RLS on PostgreSQL.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SHARES = "node_group_shares"
REQUESTS = "node_sharing_requests"


def upgrade() -> None:
    op.create_table(
        SHARES,
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("node_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True, index=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("share_metadata", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    enable_tenant_rls(op, (SHARES,))
    with op.batch_alter_table(REQUESTS) as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False,
                                   server_default="node"))
        batch.add_column(sa.Column("group_ids", sa.JSON(), nullable=True))
    op.create_index("ix_node_sharing_requests_kind", REQUESTS, ["kind"])


def downgrade() -> None:
    op.drop_index("ix_node_sharing_requests_kind", REQUESTS)
    with op.batch_alter_table(REQUESTS) as batch:
        batch.drop_column("group_ids")
        batch.drop_column("kind")
    op.drop_table(SHARES)
