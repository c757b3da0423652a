"""Tables of accounts: organizations, users, sessions, API keys, verification codes, and
the mail outbox."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from adapters.sql.tables.base import metadata, ts

organizations = Table(
    "organizations", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("hostname", String(255), nullable=True, unique=True),
    ts("created_at"),
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
    ts("created_at"),
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
    ts("created_at"),
    ts("expires_at"),
    ts("revoked_at", nullable=True),
)


refresh_tokens = Table(
    "refresh_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"),
           nullable=False, index=True),
    ts("used_at", nullable=True),
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
    ts("created_at"),
    ts("expires_at", nullable=True),
    ts("revoked_at", nullable=True),
    Index("ix_api_keys_org_created", "org_id", "created_at", "id"),
)


verification_codes = Table(
    "verification_codes", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("code_hash", String(64), nullable=False),
    ts("expires_at"),
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
    ts("created_at"),
    ts("sent_at", nullable=True),
)
