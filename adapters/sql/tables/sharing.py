"""Tables of sharing: who has which node (memberships), sharing requests, group shares."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
)

from adapters.sql.tables.base import metadata, ts

node_memberships = Table(
    "node_memberships", metadata,
    Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
           index=True),
    Column("org_id", String(36), nullable=False),
    Column("role", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    ts("created_at"),
    # a user's nodes in id order; node_id COLLATE "C" on PostgreSQL (migration 0016)
    Index("ix_node_memberships_user_node", "user_id", "node_id", "org_id"),
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
    ts("created_at"),
    ts("expires_at", nullable=True),
    ts("settled_at", nullable=True),
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
    ts("created_at"),
)
