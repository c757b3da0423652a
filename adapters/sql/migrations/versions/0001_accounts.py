"""Accounts, sessions, API keys, codes, outbox, Casbin rules; RLS on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "fleetgate_app"
TENANT_TABLES = ("users", "user_roles", "sessions", "refresh_tokens", "api_keys",
                 "verification_codes", "outbox_messages")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("hostname", sa.String(255), nullable=True, unique=True),
        _ts("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("user_name", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("name", sa.String(256), nullable=False, server_default=""),
        sa.Column("confirmed", sa.Boolean, nullable=False, server_default=sa.false()),
        _ts("created_at"),
    )
    op.create_table(
        "user_roles",
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", sa.String(64), primary_key=True),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        _ts("created_at"), _ts("expires_at"), _ts("revoked_at", nullable=True),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), sa.ForeignKey("sessions.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        _ts("used_at", nullable=True),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        _ts("created_at"), _ts("expires_at", nullable=True), _ts("revoked_at", nullable=True),
    )
    op.create_index("ix_api_keys_org_created", "api_keys", ["org_id", "created_at", "id"])
    op.create_table(
        "verification_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        _ts("expires_at"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("consumed", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_codes_user_purpose", "verification_codes", ["user_id", "purpose"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), nullable=False, index=True),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _ts("created_at"), _ts("sent_at", nullable=True),
    )
    op.create_table(
        "casbin_rule",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ptype", sa.String(8), nullable=False),
        *[sa.Column(f"v{i}", sa.String(255), nullable=False, server_default="") for i in range(6)],
        sa.UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4", "v5", name="uq_casbin_rule"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgres_row_level_security()


def _postgres_row_level_security() -> None:
    """Second line of defence: rows are visible only inside their organization's scope.

    The app switches to APP_ROLE (no BYPASSRLS) on every connection; the scope is the
    transaction-local setting fleetgate.org_id ('*' for the few system look-ups).
    """
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          END IF;
        END $$""")
    op.execute(f"GRANT {APP_ROLE} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    scope = "current_setting('fleetgate.org_id', true)"
    for table, column in [("organizations", "id")] + [(t, "org_id") for t in TENANT_TABLES]:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY org_isolation ON {table} "
            f"USING ({scope} = '*' OR {column} = {scope}) "
            f"WITH CHECK ({scope} = '*' OR {column} = {scope})")


def downgrade() -> None:
    for table in ("casbin_rule", "outbox_messages", "verification_codes", "api_keys",
                  "refresh_tokens", "sessions", "user_roles", "users", "organizations"):
        op.drop_table(table)
