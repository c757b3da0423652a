"""Nodes, their device secrets and registration tokens; RLS on PostgreSQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("nodes", "node_secrets", "node_registration_tokens")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        *[sa.Column(c, sa.String(128), nullable=False, server_default="")
          for c in ("name", "type", "model", "fw_version")],
        sa.Column("config", sa.JSON, nullable=True),
        sa.Column("config_version", sa.String(64), nullable=False, server_default=""),
        sa.Column("reported", sa.JSON, nullable=False),
        sa.Column("desired", sa.JSON, nullable=False),
        sa.Column("params_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("connected", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("connection_ts", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        _ts("created_at"),
    )
    op.create_table(
        "node_secrets",
        sa.Column("node_id", sa.String(64), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("mqtt_password_hash", sa.String(64), nullable=False),
        sa.Column("secret_key_hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "node_registration_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("node_name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(36), nullable=True),
        _ts("created_at"), _ts("expires_at"), _ts("used_at", nullable=True),
        sa.Column("node_id", sa.String(64), nullable=True),
    )
    enable_tenant_rls(op, TABLES)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
