"""Tables of groups: user groups and admin groups with their members."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

from adapters.sql.tables.base import metadata, ts

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
    ts("created_at"),
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
    ts("created_at"),
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
