"""Organizations' own policies and roles, and the audit trail of changes to them and to
role assignments; RLS on PostgreSQL. Compiled rules go to casbin_rule (v1 = organization,
v5 = the policy a rule came from).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("access_policies", "access_roles", "audit_log")


def _org() -> sa.Column:
    return sa.Column("org_id", sa.String(36),
                     sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "access_policies", _org(),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "access_roles", _org(),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36),
                  sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("actor_name", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.UniqueConstraint("org_id", "seq", name="uq_audit_log_seq"),
    )
    op.create_index("ix_casbin_rule_v1", "casbin_rule", ["v1"])
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce lengths
        # role and policy names are 2..256 characters (RainMaker)
        for column in ("v0", "v5"):
            op.alter_column("casbin_rule", column, type_=sa.String(256))
        op.alter_column("user_roles", "role", type_=sa.String(256))
    enable_tenant_rls(op, TABLES)


def downgrade() -> None:
    op.drop_index("ix_casbin_rule_v1", "casbin_rule")
    for table in reversed(TABLES):
        op.drop_table(table)
