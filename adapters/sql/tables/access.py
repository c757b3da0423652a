"""Tables of access: roles, policies, the Casbin rule table, the audit log."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from adapters.sql.tables.base import metadata, ts

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


access_policies = Table(
    "access_policies", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("document", JSON, nullable=False),
    ts("created_at"),
    ts("updated_at"),
)


access_roles = Table(
    "access_roles", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("level", Integer, nullable=False),
    Column("policies", JSON, nullable=False),
    ts("created_at"),
    ts("updated_at"),
)


audit_log = Table(
    "audit_log", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id", ondelete="CASCADE"),
           nullable=False),
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    ts("at"),
    Column("actor", String(64), nullable=False),
    Column("actor_name", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    UniqueConstraint("org_id", "seq", name="uq_audit_log_seq"),
)
