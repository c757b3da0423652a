"""Admin device groups: organization-wide groups, static or query-based."""
