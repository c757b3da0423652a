"""Every table, for what needs the whole schema at once (Alembic, the schema-matches-migrations
test, row-level security checks)."""

from __future__ import annotations

from sqlalchemy import MetaData

from adapters.sql.tables import access, accounts, billing, devices, groups, ota, sharing
from adapters.sql.tables.base import metadata

AREAS = (accounts, access, devices, sharing, groups, ota, billing)


def complete_metadata() -> MetaData:
    """The MetaData with every area's tables on it."""
    assert all(AREAS)  # importing the modules above registered their tables
    return metadata


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
