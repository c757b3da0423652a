"""Table definitions (SQLAlchemy Core). The schema changes only through Alembic migrations;
these definitions describe it for queries and must match the latest migration (a test checks)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _ts(name: str, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(name, DateTime(timezone=True), nullable=nullable)


organizations = Table(
    "organizations", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("hostname", String(255), nullable=True, unique=True),
    _ts("created_at"),
)

users = Table(
    "users", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("user_name", String(255), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("name", String(256), nullable=False, default=""),
    Column("confirmed", Boolean, nullable=False, default=False),
    _ts("created_at"),
)

user_roles = Table(
    "user_roles", metadata,
    Column("org_id", String(36), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(256), primary_key=True),
)

sessions = Table(
    "sessions", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("revoked_at", nullable=True),
)

refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"),
           nullable=False, index=True),
    _ts("used_at", nullable=True),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("roles", String(255), nullable=False),
    Column("created_by", String(36), nullable=True),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("revoked_at", nullable=True),
    Index("ix_api_keys_org_created", "org_id", "created_at", "id"),
)

verification_codes = Table(
    "verification_codes", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    _ts("expires_at"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("consumed", Boolean, nullable=False, default=False),
    Index("ix_codes_user_purpose", "user_id", "purpose"),
)

outbox_messages = Table(
    "outbox_messages", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("recipient", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    _ts("created_at"),
    _ts("sent_at", nullable=True),
)

casbin_rule = Table(
    "casbin_rule", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ptype", String(8), nullable=False),
    Column("v0", String(256), nullable=False, default=""),
    Column("v1", String(255), nullable=False, default="", index=True),
    Column("v2", String(255), nullable=False, default=""),
    Column("v3", String(255), nullable=False, default=""),
    Column("v4", String(255), nullable=False, default=""),
    Column("v5", String(256), nullable=False, default=""),
    UniqueConstraint("ptype", "v0", "v1", "v2", "v3", "v4", "v5", name="uq_casbin_rule"),
)

nodes = Table(
    "nodes", metadata,
    Column("id", String(64), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("name", String(128), nullable=False, default=""),
    Column("type", String(128), nullable=False, default=""),
    Column("model", String(128), nullable=False, default=""),
    Column("fw_version", String(128), nullable=False, default=""),
    Column("config", JSON, nullable=True),
    Column("config_version", String(64), nullable=False, default=""),
    Column("reported", JSON, nullable=False),
    Column("desired", JSON, nullable=False),
    Column("params_version", BigInteger, nullable=False, default=0),
    Column("connected", Boolean, nullable=False, default=False),
    Column("connection_ts", BigInteger, nullable=False, default=0),
    Column("tags", JSON, nullable=False),
    Column("metadata", JSON, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    _ts("created_at"),
    # pages in id order; on PostgreSQL the index is on id COLLATE "C" (migration 0016)
    Index("ix_nodes_org_page", "org_id", "id"),
)

node_tags = Table(
    "node_tags", metadata,
    # one row per node and tag, kept equal to nodes.tags by triggers (migration 0016)
    Column("node_id", String(64), primary_key=True),
    Column("tag", String(256), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Index("ix_node_tags_org_tag", "org_id", "tag", "node_id"),
)

node_secrets = Table(
    "node_secrets", metadata,
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("mqtt_password_hash", String(64), nullable=False),
    Column("secret_key_hash", String(64), nullable=False),
    Column("public_key", Text, nullable=True),
)

node_registration_tokens = Table(
    "node_registration_tokens", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("node_name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(36), nullable=True),
    _ts("created_at"),
    _ts("expires_at"),
    _ts("used_at", nullable=True),
    Column("node_id", String(64), nullable=True),
)

node_memberships = Table(
    "node_memberships", metadata,
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("role", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    _ts("created_at"),
    # a user's nodes in id order; node_id COLLATE "C" on PostgreSQL (migration 0016)
    Index("ix_node_memberships_user_node", "user_id", "node_id", "org_id"),
)

node_mapping_requests = Table(
    "node_mapping_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("user_id", String(36), nullable=False, index=True),
    Column("node_id", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    Column("kind", String(16), nullable=False, server_default="provisioned"),
    Column("secret_hash", String(64), nullable=True),
    Column("challenge", String(128), nullable=True),
    _ts("expires_at", nullable=True),
    Column("extras", JSON, nullable=True),
    Index("ix_node_mapping_requests_node_status", "node_id", "status"),
)

node_params_history = Table(
    "node_params_history", metadata,
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("org_id", String(36), nullable=False),
    _ts("at"),
    Column("params", JSON, nullable=False),
)

node_groups = Table(
    "node_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("name", String(256), nullable=False),
    Column("parent_id", String(36), ForeignKey("node_groups.id", ondelete="CASCADE"),
           nullable=True),
    Column("type", String(256), nullable=False),
    Column("description", String(500), nullable=False),
    Column("mutually_exclusive", Boolean, nullable=False),
    Column("metadata", JSON, nullable=True),
    Column("custom_data", JSON, nullable=True),
    _ts("created_at"),
)

node_group_members = Table(
    "node_group_members", metadata,
    Column("group_id", String(36), ForeignKey("node_groups.id", ondelete="CASCADE"),
           primary_key=True),
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("position", Integer, nullable=False),
)

node_sharing_requests = Table(
    "node_sharing_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("from_user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("to_user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("node_ids", JSON, nullable=False),
    Column("primary_role", Boolean, nullable=False),
    Column("transfer", Boolean, nullable=False),
    Column("new_role", String(16), nullable=True),
    Column("request_metadata", JSON, nullable=True),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("expires_at", nullable=True),
    _ts("settled_at", nullable=True),
    Column("kind", String(8), nullable=False, server_default="node", index=True),
    Column("group_ids", JSON, nullable=True),
)

node_group_shares = Table(
    "node_group_shares", metadata,
    Column("group_id", String(36), ForeignKey("node_groups.id", ondelete="CASCADE"),
           primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("role", String(16), nullable=False),
    Column("share_metadata", JSON, nullable=True),
    _ts("created_at"),
)

admin_node_groups = Table(
    "admin_node_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("parent_id", String(36), ForeignKey("admin_node_groups.id", ondelete="CASCADE"),
           nullable=True),
    Column("type", String(256), nullable=False),
    Column("description", String(500), nullable=False),
    Column("mutually_exclusive", Boolean, nullable=False),
    Column("custom_data", JSON, nullable=True),
    Column("query_node_type", String(128), nullable=True),
    Column("query_node_model", String(128), nullable=True),
    Column("query_node_fw_version", String(128), nullable=True),
    Column("created_by", String(36), ForeignKey("users.id", ondelete="SET NULL"),
           nullable=True),
    _ts("created_at"),
)

admin_node_group_members = Table(
    "admin_node_group_members", metadata,
    Column("group_id", String(36), ForeignKey("admin_node_groups.id", ondelete="CASCADE"),
           primary_key=True),
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("position", Integer, nullable=False),
)

access_policies = Table(
    "access_policies", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("document", JSON, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
)

access_roles = Table(
    "access_roles", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("level", Integer, nullable=False),
    Column("policies", JSON, nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    _ts("at"),
    Column("actor", String(64), nullable=False),
    Column("actor_name", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    UniqueConstraint("org_id", "seq", name="uq_audit_log_seq"),
)

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
    _ts("created_at"),
    _ts("upload_expires_at", nullable=True),
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
    _ts("valid_from", nullable=True),
    _ts("valid_until", nullable=True),
    Column("rollout_max_per_minute", Integer, nullable=True),
    Column("rollout_max_in_flight", Integer, nullable=True),
    Column("abort_failure_percent", Float, nullable=True),
    Column("abort_min_executed", Integer, nullable=True),
    Column("metadata", JSON, nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(1024), nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("created_by", String(64), nullable=True),
    _ts("created_at"),
    _ts("ended_at", nullable=True),
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
    _ts("updated_at"),
    _ts("triggered_at", nullable=True),
    Column("attempts", Integer, nullable=False),
    Index("ix_ota_node_status_job_status", "job_id", "status"),
    Index("ix_ota_node_status_job_updated", "job_id", "updated_at"),
)

billing_subscriptions = Table(
    "billing_subscriptions", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("plan_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("current_period_start", nullable=True),
    _ts("current_period_end", nullable=True),
    Column("cancel_at_period_end", Boolean, nullable=False),
    _ts("canceled_at", nullable=True),
    _ts("past_due_since", nullable=True),
    Column("customer_id", String(255), nullable=True, unique=True),
    Column("provider_id", String(255), nullable=True),
    Column("provider_version", BigInteger, nullable=False),
    Column("request_key", String(255), nullable=True),
    Column("request_fingerprint", String(64), nullable=True),
)

billing_api_usage = Table(
    "billing_api_usage", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    _ts("month"),
    Column("requests", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "month"),
)

billing_events = Table(
    "billing_events", metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("org_id", String(36), nullable=True),
    _ts("processed_at"),
)

TENANT_TABLES = ("users", "user_roles", "sessions", "refresh_tokens", "api_keys",
                 "verification_codes", "outbox_messages", "nodes", "node_secrets",
                 "node_registration_tokens", "node_memberships", "node_mapping_requests",
                 "node_params_history", "node_groups", "node_group_members",
                 "node_sharing_requests", "node_group_shares",
                 "admin_node_groups", "admin_node_group_members",
                 "access_policies", "access_roles", "audit_log",
                 "ota_images", "ota_jobs", "ota_node_status",
                 "billing_subscriptions", "billing_api_usage")
"""Tables whose rows belong to one organization: filtered by org_id in every repository and,
on PostgreSQL, by row-level security as well."""
