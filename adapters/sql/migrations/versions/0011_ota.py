"""OTA firmware updates: images, jobs and each target node's status in a job; RLS on
PostgreSQL. A job keeps its row when its image is deleted (with force, after the job was
cancelled): ota_jobs.image_id becomes null.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = ("ota_images", "ota_jobs", "ota_node_status")


def _org() -> sa.Column:
    return sa.Column("org_id", sa.String(36),
                     sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ota_images",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("fw_version", sa.String(128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("blob_key", sa.String(512), nullable=False),
        sa.Column("uploaded", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("expected_md5", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("upload_expires_at", nullable=True),
    )
    op.create_index("ix_ota_images_org_name", "ota_images", ["org_id", "name"])
    op.create_table(
        "ota_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        _org(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("image_id", sa.String(36),
                  sa.ForeignKey("ota_images.id", ondelete="SET NULL"), nullable=True,
                  index=True),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=True),
        sa.Column("force_push", sa.Boolean(), nullable=False),
        sa.Column("user_approval", sa.Boolean(), nullable=False),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("query_node_type", sa.String(128), nullable=True),
        sa.Column("query_node_model", sa.String(128), nullable=True),
        sa.Column("query_node_fw_version", sa.String(128), nullable=True),
        sa.Column("window_start", sa.String(5), nullable=True),
        sa.Column("window_end", sa.String(5), nullable=True),
        _ts("valid_from", nullable=True),
        _ts("valid_until", nullable=True),
        sa.Column("rollout_max_per_minute", sa.Integer(), nullable=True),
        sa.Column("rollout_max_in_flight", sa.Integer(), nullable=True),
        sa.Column("abort_failure_percent", sa.Float(), nullable=True),
        sa.Column("abort_min_executed", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.String(1024), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("ended_at", nullable=True),
        sa.UniqueConstraint("org_id", "name", name="uq_ota_jobs_org_name"),
    )
    op.create_table(
        "ota_node_status",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("ota_jobs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("node_id", sa.String(64), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  primary_key=True, index=True),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("additional_info", sa.String(1024), nullable=False),
        _ts("updated_at"),
        _ts("triggered_at", nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_ota_node_status_job_status", "ota_node_status", ["job_id", "status"])
    enable_tenant_rls(op, TABLES)


def downgrade() -> None:
    op.drop_index("ix_ota_node_status_job_status", "ota_node_status")
    op.drop_index("ix_ota_images_org_name", "ota_images")
    for table in reversed(TABLES):
        op.drop_table(table)
