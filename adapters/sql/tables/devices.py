"""Tables of devices: nodes, their tags, secrets, registration tokens, mapping requests and
params history."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)

from adapters.sql.tables.base import metadata, ts

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
    ts("created_at"),
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
    ts("created_at"),
    ts("expires_at"),
    ts("used_at", nullable=True),
    Column("node_id", String(64), nullable=True),
)


node_mapping_requests = Table(
    "node_mapping_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("user_id", String(36), nullable=False, index=True),
    Column("node_id", String(64), nullable=False),
    Column("operation", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    ts("created_at"),
    Column("kind", String(16), nullable=False, server_default="provisioned"),
    Column("secret_hash", String(64), nullable=True),
    Column("challenge", String(128), nullable=True),
    ts("expires_at", nullable=True),
    Column("extras", JSON, nullable=True),
    Index("ix_node_mapping_requests_node_status", "node_id", "status"),
)


node_params_history = Table(
    "node_params_history", metadata,
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("org_id", String(36), nullable=False),
    ts("at"),
    Column("params", JSON, nullable=False),
)
