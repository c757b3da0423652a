"""Row-level security on the last two tables holding an organization: casbin_rule (each
organization's compiled rules, v1 = the organization; the built-in rules, v1 = '*', are the
system scope's) and billing_events (org_id; events of unknown customers have none and are
the system scope's, as the payment provider's webhook runs in it). The application role
keeps only SELECT on alembic_version: it reads the revision (readiness), only migrations
write it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from alembic import op

from adapters.sql.rls import APP_ROLE, disable_tenant_rls, enable_tenant_rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    enable_tenant_rls(op, ["casbin_rule"], column="v1")
    enable_tenant_rls(op, ["billing_events"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {APP_ROLE}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"GRANT INSERT, UPDATE, DELETE ON alembic_version TO {APP_ROLE}")
    disable_tenant_rls(op, ["billing_events", "casbin_rule"])
