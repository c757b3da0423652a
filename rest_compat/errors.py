"""The one place REST compat maps domain errors to RainMaker's failure body and status.

RainMaker answers `{"status":"failure","description":...,"error_code":<int>}`; its documented
numeric codes are used where the spec has one, and its documented status codes for them
(for instance 400 for a wrong password on login2, as RainMaker clients expect).
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from domain.errors import DomainError

# stable domain code -> (HTTP status, RainMaker error_code)
BY_CODE: dict[str, tuple[int, int]] = {
    "UNAUTHENTICATED": (401, 100047),
    "FORBIDDEN": (403, 100004),
    "NOT_FOUND": (404, 100009),
    "VALIDATION": (400, 100006),
    "CONFLICT": (409, 100010),
    "QUOTA_EXCEEDED": (402, 100011),
    "RATE_LIMITED": (429, 101057),
}

# finer reasons -> (HTTP status, RainMaker error_code), from Rainmaker_Swagger.yaml
BY_REASON: dict[str, tuple[int, int]] = {
    "invalid_body": (400, 100006),
    "user_name_missing": (400, 101001),
    "user_name_format": (400, 101002),
    "phone_format": (400, 101037),
    "password_or_code_missing": (400, 101003),
    "password_missing": (400, 101032),
    "password_policy": (400, 101004),
    "user_exists": (400, 101006),
    "wrong_password": (400, 101007),
    "bad_credentials": (400, 101009),
    "already_verified": (400, 101011),
    "code_incorrect": (400, 101012),
    "not_verified": (400, 101015),
    "refresh_failed": (400, 101017),
    "refresh_reused": (400, 101017),
    "new_password_missing": (400, 101018),
    "user_not_found": (404, 101025),
    "code_missing": (400, 101030),
    "invalid_logout_all": (400, 101036),
    "profile_field_missing": (400, 101045),
    "missing_token": (401, 100046),
    "invalid_token": (401, 100047),
    "session_ended": (401, 100047),
    "not_a_user": (403, 100004),
    "superadmin_delete": (400, 119017),
    "no_delete_request": (400, 119015),
    "delete_code_missing": (400, 119007),
    "delete_code_incorrect": (400, 119005),
    "body_too_large": (413, 100006),
    "unsupported_media_type": (415, 100006),
    "invalid_version": (400, 100002),
    "node_id_missing": (400, 100009),
    "invalid_node_id": (400, 100006),
    "node_not_found": (404, 100010),
    "invalid_operation": (400, 103003),
    "invalid_tags": (400, 100012),
    "invalid_page": (400, 100012),
    "secret_key_missing": (400, 100006),
    "node_already_mapped": (409, 103008),
    "request_id_missing": (400, 103016),
    "mapping_not_found": (404, 103018),
    "secret_key_too_long": (400, 103006),
    "invalid_timeout": (400, 103029),
    "invalid_challenge_response": (400, 103031),
    "mapping_already_confirmed": (400, 103033),
    "mapping_timed_out": (400, 103011),
    "mapping_not_pending": (400, 103034),
    "invalid_public_key": (400, 103048),
    "not_primary": (403, 107085),
    "unsupported_action": (400, 103052),
    "signature_missing": (400, 103046),
    "signature_incorrect": (400, 103047),
    "proxy_data_missing": (400, 103063),
    "proxy_timestamp_missing": (400, 103062),
    "proxy_timestamp_window": (400, 103049),
    "proxy_replayed": (409, 103049),
    # admin node routes
    "nodes_not_found": (404, 100015),
    "admin_node_id_missing": (400, 105018),
    "invalid_node_operation": (400, 105025),
    "invalid_node_tags": (400, 105046),
    "no_tags": (400, 105048),
    "too_many_nodes": (400, 105062),
    "too_many_tags": (400, 105047),
    "nul_character": (400, 100016),
    "model_needs_type": (400, 105034),
    "fw_version_needs_model": (400, 105035),
    "mixed_tag_operators": (400, 105042),
    "invalid_node_status": (400, 105044),
    "invalid_start_time": (400, 105063),
    "invalid_role": (400, 103023),
    "user_or_node_missing": (400, 103036),
    "user_id_and_node": (400, 103037),
    "user_name_and_node": (400, 103038),
    "node_not_mapped_to_user": (404, 103020),
    "user_is_primary": (409, 100010),
    # user device groups
    "group_name_missing": (400, 108001),
    "invalid_group_name": (400, 108002),
    "invalid_group_nodes": (400, 108003),
    "group_name_exists": (409, 108007),
    "group_parent_cycle": (400, 108009),
    "group_too_deep": (400, 108011),
    "group_nodes_not_mapped": (404, 108013),
    "nodes_not_in_parent_group": (400, 108015),
    "group_id_missing": (400, 108016),
    "invalid_group_operation": (400, 108017),
    "group_not_found": (404, 108023),
    "group_update_empty": (400, 108024),
    "invalid_group_description": (400, 108025),
    "group_name_not_found": (404, 108029),
    "group_id_and_name": (400, 108030),
    "too_many_sub_groups": (400, 108073),
    "group_mutually_exclusive": (409, 108900),  # Fleetgate's own: RainMaker has no code
    # admin device groups (the group reasons above apply too)
    "admin_group_nodes_not_found": (404, 108012),
    "group_query_with_parent": (400, 108059),
    "group_query_in_update": (400, 108060),
    "group_query_with_nodes": (400, 108061),
    "group_query_no_nodes": (404, 108063),
    "regroup_static_group": (400, 108065),
    "regroup_with_fields": (400, 108067),
    "group_query_exists": (409, 108075),
    "dynamic_group_nodes": (400, 108076),
    "dynamic_group_parent": (400, 108149),
    "nodes_not_in_group": (400, 108150),
    "all_nodes_group_read_only": (400, 108901),  # Fleetgate's own: FFFF-FFFF is virtual
    # group sharing
    "group_not_primary": (400, 108041),
    "group_parent_not_owned": (400, 108009),
    "node_access_through_group": (400, 107028),
    "group_sharing_not_primary": (400, 108041),
    "group_sharing_no_groups": (400, 108044),
    "group_sharing_too_many": (400, 108036),
    "group_sharing_duplicate": (400, 108112),
    "group_sharing_self": (400, 108046),
    "group_sharing_user_name_missing": (400, 108045),
    "group_sharing_user_not_found": (400, 108050),
    "group_sharing_nodes_not_primary": (400, 108052),
    "group_sharing_invalid_new_role": (400, 108138),
    "group_sharing_new_role_needs_transfer": (400, 108139),
    "group_transfer_not_owner": (400, 108141),
    "group_unshare_via_parent": (400, 108055),
    "group_sharing_not_shared": (400, 108071),
    "group_unshare_owner": (400, 108071),
    "group_leave_owner": (400, 108071),
    "group_sharing_invalid_primary_user": (400, 108033),
    "group_sharing_request_id_missing": (400, 108035),
    "group_sharing_accept_invalid": (400, 108054),
    "group_sharing_cancel_declined": (400, 108039),
    "group_sharing_request_not_found": (404, 108040),
    **{f"group_sharing_request_{status}": (400, 108037)
       for status in ("accepted", "declined", "cancelled", "expired")},
    # node sharing
    "sharing_no_nodes": (400, 107001),
    "sharing_user_name_missing": (400, 107002),
    "sharing_self": (400, 107003),
    "sharing_user_not_found": (400, 107007),
    "sharing_not_shared": (400, 107011),
    "sharing_accept_invalid": (400, 107017),
    "sharing_invalid_primary_user": (400, 107019),
    "sharing_request_id_missing": (400, 107021),
    "sharing_too_many_nodes": (400, 107022),
    "sharing_request_accepted": (400, 107023),
    "sharing_request_declined": (400, 107023),
    "sharing_request_cancelled": (400, 107023),
    "sharing_request_expired": (400, 107023),
    "sharing_cancel_declined": (400, 107025),
    "sharing_request_not_found": (404, 107026),
    "sharing_not_primary": (400, 107027),
    "sharing_via_group": (400, 107028),
    "sharing_invalid_new_role": (400, 107033),
    "sharing_new_role_needs_transfer": (400, 107035),
    # admin user management (/v1/admin/user2) and role changes
    "self_operation": (400, 101053),
    "invalid_role_name": (400, 129020),
    "role_level_insufficient": (400, 129033),
    "actor_has_no_level": (400, 129038),
    "last_superadmin": (409, 129045),
    # roles and policies (Rainmaker_Swagger.yaml "Roles and Policy Manager")
    "role_name_missing": (400, 129001),
    "policy_name_missing": (400, 129002),
    "access_name_length": (400, 100039),
    "policy_exists": (409, 129007),
    "policy_not_found": (404, 129008),
    "policy_json_missing": (400, 129009),
    "invalid_policy_json": (400, 129010),
    "unknown_policy": (400, 129011),
    "role_exists": (409, 129014),
    "role_not_found": (404, 129017),
    "roles_missing": (400, 129021),
    "invalid_role_operation": (400, 129022),
    "policy_in_use": (409, 129023),
    "too_many_policies": (400, 129024),
    "role_in_use": (409, 129024),
    "policy_too_large": (400, 129026),
    "default_role": (400, 129027),
    "default_policy": (400, 129028),
    "user_and_role": (400, 129029),
    "invalid_role_level": (400, 129035),
    "operation_missing": (400, 129041),
    "grant_exceeds_own": (403, 129046),
    "role_needs_policy": (400, 129047),
    "resource_not_in_api": (400, 129048),
    "user_or_role_required": (400, 100037),
    "no_role_change": (400, 101080),
    "not_superadmin": (400, 101081),
    "not_admin": (400, 101082),
    "already_superadmin": (400, 101083),
    "already_admin": (400, 101084),
    "invalid_quota": (400, 101042),
    "delete_user_not_found": (400, 119006),
    "invalid_active_start_time": (400, 100054),
}


def failure(status: int, error_code: int, description: str,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "failure", "description": description,
                         "error_code": error_code}, status_code=status, headers=headers)


def error_response(exc: DomainError, *, reason_overrides: dict[str, str] | None = None
                   ) -> JSONResponse:
    reason = (reason_overrides or {}).get(exc.reason, exc.reason)
    status, code = BY_REASON.get(reason) or BY_CODE.get(exc.code, (400, 100006))
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return failure(status, code, exc.message, headers)


def status_and_code(exc: DomainError) -> tuple[int, int]:
    """The HTTP status and RainMaker error_code a domain error maps to (per-item results)."""
    return BY_REASON.get(exc.reason) or BY_CODE.get(exc.code, (400, 100006))
