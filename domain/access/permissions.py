"""The resources a use case can require, by name, grouped by product area.

A permission is the canonical REST path of the operation as the resource and the HTTP method
as the action (`@requires(USER_NODES, "GET")`), so one policy governs a REST route and its
GraphQL equivalent. The values are the REST paths RainMaker policies already name: changing
one breaks every stored policy that grants it, so a value never changes; a new operation gets
a new constant. Every constant here is declared by at least one use case, and every use case
declares one of these (tests/test_permissions_named.py); GET /v1/admin/api_paths_methods lists
them (fleetgate/catalogue.py).
"""

from __future__ import annotations

from typing import Final

# --- accounts: the signed-in user, their organization, admin user management, API keys ---
PROFILE: Final = "/v1/user2"
PASSWORD: Final = "/v1/password2"
LOGOUT: Final = "/v1/logout2"
ORGANIZATION: Final = "/v1/organization"
ADMIN_USERS: Final = "/v1/admin/user2"
ADMIN_USERS_SUMMARY: Final = "/v1/admin/user2/summary"
API_KEYS: Final = "/v1/admin/apikeys"

# --- access: policies, roles, who holds them, the audit log, the API catalogue ---
POLICIES: Final = "/v1/admin/policy"
ROLES: Final = "/v1/admin/role"
USER_ROLES: Final = "/v1/admin/user_role"
AUDIT_LOGS: Final = "/v1/admin/audit_logs"
API_PATHS: Final = "/v1/admin/api_paths_methods"

# --- devices: the caller's nodes ---
USER_NODES: Final = "/v1/user/nodes"
USER_NODE: Final = "/v1/user/nodes/{node_id}"
NODE_CONFIG: Final = "/v1/user/nodes/config"
NODE_STATUS: Final = "/v1/user/nodes/status"
NODE_PARAMS: Final = "/v1/user/nodes/params"
NODE_MAPPING: Final = "/v1/user/nodes/mapping"
NODE_MAPPING_INITIATE: Final = "/v1/user/nodes/mapping/initiate"
NODE_MAPPING_VERIFY: Final = "/v1/user/nodes/mapping/verify"
NODE_PROXY: Final = "/v1/user/nodes/{node_id}/proxy/{action}"

# --- devices: administration and provisioning ---
ADMIN_NODES: Final = "/v1/admin/nodes"
ADMIN_NODE_TAGS: Final = "/v1/admin/nodes/tags"
ADMIN_USER_NODES: Final = "/v1/admin/user/nodes"
ADMIN_NODE_MAPPING: Final = "/v1/admin/users/{user_id}/nodes/{node_id}/mapping"
REGISTRATION_TOKENS: Final = "/v1/admin/nodes/registration_token"

# --- groups ---
USER_GROUPS: Final = "/v1/user/node_group"
ADMIN_GROUPS: Final = "/v1/admin/node_group"

# --- sharing: nodes and groups ---
NODE_SHARING: Final = "/v1/user/nodes/sharing"
NODE_SHARING_REQUESTS: Final = "/v1/user/nodes/sharing/requests"
GROUP_SHARING: Final = "/v1/user/node_group/sharing"
GROUP_SHARING_REQUESTS: Final = "/v1/user/node_group/sharing/requests"

# --- ota: images, jobs, and what a user asks of their own nodes ---
OTA_IMAGES: Final = "/v1/admin/otaimage"
USER_OTA_IMAGES: Final = "/v1/user/otaimage"
OTA_JOBS: Final = "/v1/admin/otajob"
NODE_OTA_UPDATE: Final = "/v1/user/nodes/ota_update"
NODE_OTA_STATUS: Final = "/v1/user/nodes/ota_status"

# --- billing (Fleetgate's own /api/v1 paths: RainMaker has no billing) ---
BILLING_PLANS: Final = "/api/v1/billing/plans"
BILLING_SUBSCRIPTION: Final = "/api/v1/billing/subscription"
BILLING_SUBSCRIPTION_RESUME: Final = "/api/v1/billing/subscription/resume"
BILLING_QUOTAS: Final = "/api/v1/billing/quotas"
BILLING_USAGE: Final = "/api/v1/billing/usage"
BILLING_INVOICES: Final = "/api/v1/billing/invoices"
BILLING_INVOICE: Final = "/api/v1/billing/invoices/{id}"
BILLING_INVOICE_DOWNLOAD: Final = "/api/v1/billing/invoices/{id}/download"
BILLING_PAYMENT_METHODS: Final = "/api/v1/billing/payment-methods"
BILLING_PAYMENT_METHOD: Final = "/api/v1/billing/payment-methods/{id}"


def resources() -> dict[str, str]:
    """Every named resource: constant name -> REST path."""
    return {name: value for name, value in globals().items()
            if name.isupper() and isinstance(value, str)}
