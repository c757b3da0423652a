"""Tables of groups: user groups and admin groups with their members. Both kinds share the
tree's columns and the members' shape (tree_columns, members_table); only their owners and
extras differ."""

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


def tree_columns(table: str) -> list[Column]:  # type: ignore[type-arg]
    """What every group of a tree has: its name, parent (deleting a group deletes its
    sub-groups), type, description and mutual exclusion."""
    return [
        Column("name", String(256), nullable=False),
        Column("parent_id", String(36), ForeignKey(f"{table}.id", ondelete="CASCADE"),
               nullable=True),
        Column("type", String(256), nullable=False),
        Column("description", String(500), nullable=False),
        Column("mutually_exclusive", Boolean, nullable=False),
    ]


def members_table(name: str, groups: str) -> Table:
    """A group's nodes, in the order they were added."""
    return Table(
        name, metadata,
        Column("group_id", String(36), ForeignKey(f"{groups}.id", ondelete="CASCADE"),
               primary_key=True),
        Column("node_id", String(64), ForeignKey("nodes.id", ondelete="CASCADE"),
               primary_key=True, index=True),
        Column("org_id", String(36), nullable=False),
        Column("position", Integer, nullable=False),
    )


node_groups = Table(
    "node_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
           index=True),
    *tree_columns("node_groups"),
    Column("metadata", JSON, nullable=True),
    Column("custom_data", JSON, nullable=True),
    ts("created_at"),
)

node_group_members = members_table("node_group_members", "node_groups")


admin_node_groups = Table(
    "admin_node_groups", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False, index=True),
    *tree_columns("admin_node_groups"),
    Column("custom_data", JSON, nullable=True),
    Column("query_node_type", String(128), nullable=True),
    Column("query_node_model", String(128), nullable=True),
    Column("query_node_fw_version", String(128), nullable=True),
    Column("created_by", String(36), ForeignKey("users.id", ondelete="SET NULL"),
           nullable=True),
    ts("created_at"),
)

admin_node_group_members = members_table("admin_node_group_members", "admin_node_groups")
