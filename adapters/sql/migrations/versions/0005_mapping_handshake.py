"""User-node mapping by handshake and by challenge: what a pending request needs to be
confirmed later (secret hash, challenge, expiry, tags/metadata to apply), and nodes' public
keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("node_secrets") as batch:
        batch.add_column(sa.Column("public_key", sa.Text(), nullable=True))
    with op.batch_alter_table("node_mapping_requests") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="provisioned"))
        batch.add_column(sa.Column("secret_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("challenge", sa.String(128), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("extras", sa.JSON(), nullable=True))
    op.create_index("ix_node_mapping_requests_node_status", "node_mapping_requests",
                    ["node_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_node_mapping_requests_node_status", "node_mapping_requests")
    with op.batch_alter_table("node_mapping_requests") as batch:
        for name in ("extras", "expires_at", "challenge", "secret_hash", "kind"):
            batch.drop_column(name)
    with op.batch_alter_table("node_secrets") as batch:
        batch.drop_column("public_key")
