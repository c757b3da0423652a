"""Admin device groups of an organization (static, or dynamic from a query on node type,
model and firmware version) and their member nodes; RLS on PostgreSQL.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("admin_node_groups", "admin_node_group_members")


def upgrade() -> None:
    op.create_table(
        "admin_node_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36),
                  sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("parent_id", sa.String(36),
                  sa.ForeignKey("admin_node_groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("mutually_exclusive", sa.Boolean(), nullable=False),
        sa.Column("custom_data", sa.JSON(), nullable=True),
        sa.Column("query_node_type", sa.String(128), nullable=True),
        sa.Column("query_node_model", sa.String(128), nullable=True),
        sa.Column("query_node_fw_version", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "admin_node_group_members",
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("admin_node_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("node_id", sa.String(64), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  primary_key=True, index=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    enable_tenant_rls(op, TABLES)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
