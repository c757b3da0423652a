"""Tables of ota: OTA images, jobs and per-node status."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from adapters.sql.tables.base import metadata, ts

ota_images = Table(
    "ota_images", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("type", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("fw_version", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("md5", String(32), nullable=False),
    Column("blob_key", String(512), nullable=False),
    Column("uploaded", Boolean, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("expected_md5", String(32), nullable=True),
    Column("created_by", String(64), nullable=True),
    ts("created_at"),
    ts("upload_expires_at", nullable=True),
    # bumped by every write: a write based on an older read matches nothing (0015)
    Column("revision", Integer, nullable=False, server_default="0"),
    Index("ix_ota_images_org_name", "org_id", "name"),
)


ota_jobs = Table(
    "ota_jobs", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(256), nullable=False),
    # null once the image is deleted (force): the cancelled job stays as history
    Column("image_id", String(36), ForeignKey("ota_images.id", ondelete="SET NULL"),
           nullable=True, index=True),
    Column("description", String(1024), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("timeout_seconds", Integer, nullable=True),
    Column("force_push", Boolean, nullable=False),
    Column("user_approval", Boolean, nullable=False),
    Column("notify", Boolean, nullable=False),
    Column("nodes", JSON, nullable=False),
    Column("groups", JSON, nullable=False),
    Column("query_node_type", String(128), nullable=True),
    Column("query_node_model", String(128), nullable=True),
    Column("query_node_fw_version", String(128), nullable=True),
    Column("window_start", String(5), nullable=True),
    Column("window_end", String(5), nullable=True),
    ts("valid_from", nullable=True),
    ts("valid_until", nullable=True),
    Column("rollout_max_per_minute", Integer, nullable=True),
    Column("rollout_max_in_flight", Integer, nullable=True),
    Column("abort_failure_percent", Float, nullable=True),
    Column("abort_min_executed", Integer, nullable=True),
    Column("metadata", JSON, nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(1024), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("created_by", String(64), nullable=True),
    ts("created_at"),
    ts("ended_at", nullable=True),
    UniqueConstraint("org_id", "name", name="uq_ota_jobs_org_name"),
)


ota_node_status = Table(
    "ota_node_status", metadata,
    Column("job_id", String(36), ForeignKey("ota_jobs.id", ondelete="CASCADE"),
           primary_key=True),
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("additional_info", String(1024), nullable=False),
    ts("updated_at"),
    ts("triggered_at", nullable=True),
    Column("attempts", Integer, nullable=False),
    Index("ix_ota_node_status_job_status", "job_id", "status"),
    Index("ix_ota_node_status_job_updated", "job_id", "updated_at"),
)
