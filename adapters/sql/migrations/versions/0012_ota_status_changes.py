"""An index for reading what changed in an OTA job since a moment (the otaJobProgress
subscription polls ota_node_status by (job_id, updated_at)).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ota_node_status_job_updated", "ota_node_status",
                    ["job_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_ota_node_status_job_updated", table_name="ota_node_status")
