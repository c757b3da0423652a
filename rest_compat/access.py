"""RainMaker v1 Roles and Policy Manager, User Role Mapping and API Info on the wire
(/v1/admin/policy, /v1/admin/role, /v1/admin/user_role, /v1/admin/api_paths_methods), and
the audit trail (/v1/admin/audit_logs). Handlers translate and delegate to the access use
cases (domain/access/use_cases.py); the schemas are in access_schemas.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access.use_cases import AccessUseCases
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.access_schemas import (
    ALL_PATHS,
    AUDIT,
    CREATE_POLICY,
    CREATE_ROLE,
    FORCE,
    LOOKUP,
    LOOKUP_USER,
    NUM_RECORDS,
    OPERATION,
    PATHS,
    POLICIES,
    ROLE_NAMES,
    ROLES,
    START_ID,
    UPDATE_POLICY,
    UPDATE_ROLE,
    USER_NAMES,
    USER_QUERY,
    USER_ROLES,
    explain_policy,
    explain_role,
    explain_user_roles,
    policy_entry,
    public_path,
    query_param,
    role_entry,
)
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation

TAG_POLICY = "Roles and Policy Manager"
TAG_USER_ROLE = "User Role Mapping"


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def _required(request: Request, name: str, *, what: str) -> str:
    value = _query(request, name)
    if value is None:
        raise ValidationFailed(f"{what.capitalize()} name is missing",
                               reason=f"{what}_name_missing")
    return value


def access_operations(access: AccessUseCases, authenticate: Authenticate,
                      max_body: int) -> list[Operation]:
    policies, roles = access.policies, access.roles
    assignments, review = access.assignments, access.review

    async def create_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_POLICY,
                               explain=explain_policy)
        await policies.create_policy(caller, name=body["policy_name"],
                                     policy_json=body["policy_json"])
        return success("Policy created successfully")

    async def update_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "policy_name", what="policy")
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_POLICY,
                               explain=explain_policy)
        await policies.update_policy(caller, name=name, policy_json=body["policy_json"])
        return success("Policy updated successfully")

    async def get_policies(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        found = await policies.policies(caller, name=_query(request, "policy_name"))
        return JSONResponse({"policies": [policy_entry(p) for p in found]})

    async def delete_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "policy_name", what="policy")
        detached = await policies.delete_policy(caller, name=name,
                                                force=bool(bool_param(request, "force")))
        return success("Policy deleted successfully", detached_from_roles=detached)

    async def create_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_ROLE,
                               explain=explain_role)
        await roles.create_role(caller, name=body["role_name"], policies=body["policies"],
                                level=body["role_level"])
        return success("Role created successfully")

    async def update_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "role_name", what="role")
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_ROLE,
                               explain=explain_role)
        await roles.update_role(caller, name=name, operation=_query(request, "operation"),
                                policies=body.get("policies"), level=body.get("role_level"))
        return success("Role updated successfully")

    async def get_roles(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        found = await roles.roles(caller, name=_query(request, "role_name"))
        return JSONResponse({"roles": [role_entry(r) for r in found]})

    async def delete_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await roles.delete_role(caller, name=_required(request, "role_name", what="role"))
        return success("Role deleted successfully")

    async def change_user_roles(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        user_name, user_id = _query(request, "user_name"), _query(request, "user_id")
        body = await json_body(request, max_bytes=max_body, schema=USER_ROLES,
                               explain=explain_user_roles)
        await assignments.change_roles(caller, operation=_query(request, "operation"),
                                       roles=body["roles"], user_name=user_name, user_id=user_id)
        return success("User roles updated successfully")

    async def get_user_roles(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        user_name, user_id = _query(request, "user_name"), _query(request, "user_id")
        role_name = _query(request, "role_name")
        if role_name is not None and (user_name or user_id):
            raise ValidationFailed("Specify either user or role details, but not both",
                                   reason="user_and_role")
        if role_name is not None:
            return JSONResponse({"users": await assignments.role_holders(
                caller, role_name=role_name)})
        return JSONResponse({"roles": await assignments.user_roles(
            caller, user_name=user_name, user_id=user_id)})

    async def audit_logs(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        page = await review.audit_log(caller, after=_query(request, "start_id"),
                                      limit=int(request.query_params.get("num_records", "25")))
        body: dict[str, Any] = {"audit_logs": [
            {"id": e.id, "timestamp": int(e.at.timestamp()), "actor": e.actor,
             "actor_name": e.actor_name, "action": e.action, "target": e.target,
             "before": e.before, "after": e.after} for e in page.entries]}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def api_paths(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        found = await review.api_paths(caller, all_paths=bool(bool_param(request, "all_paths")))
        return JSONResponse([{"path": public_path(p), "methods": m} for p, m in found])

    policy_name_q = query_param("policy_name", LOOKUP, required=True)
    role_name_q = query_param("role_name", LOOKUP, required=True)
    return [
        Operation(method="POST", path="/v1/admin/policy", handler=create_policy,
                  operation_id="addPolicy", tag=TAG_POLICY,
                  summary="Add a policy (statements of Allow/Deny on API paths, optional node "
                          "filters), compiled to Casbin rules for the roles that use it",
                  uses=(policies.create_policy,), request_body=CREATE_POLICY,
                  responses={200: s.SUCCESS}, extra_statuses=(403,)),
        Operation(method="PUT", path="/v1/admin/policy", handler=update_policy,
                  operation_id="updatePolicy", tag=TAG_POLICY,
                  summary="Replace a policy's document; roles using it change at once",
                  uses=(policies.update_policy,), request_body=UPDATE_POLICY,
                  query=(policy_name_q,), responses={200: s.SUCCESS}, extra_statuses=(403,)),
        Operation(method="GET", path="/v1/admin/policy", handler=get_policies,
                  operation_id="getPolicy", tag=TAG_POLICY,
                  summary="The organization's policies, or one by name",
                  uses=(policies.policies,), query=(query_param("policy_name", LOOKUP),),
                  responses={200: POLICIES}),
        Operation(method="DELETE", path="/v1/admin/policy", handler=delete_policy,
                  operation_id="removePolicy", tag=TAG_POLICY,
                  summary="Remove a policy; refused while a role uses it unless force=true, "
                          "which detaches it from those roles",
                  uses=(policies.delete_policy,),
                  query=(policy_name_q, query_param("force", FORCE)),
                  responses={200: s.SUCCESS}),
        Operation(method="POST", path="/v1/admin/role", handler=create_role,
                  operation_id="addRolesPolicy", tag=TAG_POLICY,
                  summary="Add a role with 1..10 policies and a role level (>= 1; only a "
                          "holder of a lower level may create it)",
                  uses=(roles.create_role,), request_body=CREATE_ROLE,
                  responses={200: s.SUCCESS}, extra_statuses=(403,)),
        Operation(method="PUT", path="/v1/admin/role", handler=update_role,
                  operation_id="updateRole", tag=TAG_POLICY,
                  summary="Attach (operation=add) or detach (remove) policies, and/or change "
                          "the role level",
                  uses=(roles.update_role,), request_body=UPDATE_ROLE,
                  query=(role_name_q, query_param("operation", OPERATION, required=True)),
                  responses={200: s.SUCCESS}, extra_statuses=(403,)),
        Operation(method="GET", path="/v1/admin/role", handler=get_roles,
                  operation_id="getRoles", tag=TAG_POLICY,
                  summary="The organization's roles (built-in superadmin and admin first), or "
                          "one by name",
                  uses=(roles.roles,), query=(query_param("role_name", LOOKUP),),
                  responses={200: ROLES}),
        Operation(method="DELETE", path="/v1/admin/role", handler=delete_role,
                  operation_id="deleteRole", tag=TAG_POLICY,
                  summary="Remove a role no user holds (built-in roles cannot be removed)",
                  uses=(roles.delete_role,), query=(role_name_q,),
                  responses={200: s.SUCCESS}),
        Operation(method="PUT", path="/v1/admin/user_role", handler=change_user_roles,
                  operation_id="updateUserRoleMapping", tag=TAG_USER_ROLE,
                  summary="Assign (operation=add) or remove roles of a user; each role needs "
                          "a holder of a strictly lower role level (0: any)",
                  uses=(assignments.change_roles,), request_body=USER_ROLES,
                  query=(query_param("user_name", LOOKUP_USER, required=True), USER_QUERY[1],
                         query_param("operation", OPERATION, required=True)),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/admin/user_role", handler=get_user_roles,
                  operation_id="getUserRoleMapping", tag=TAG_USER_ROLE,
                  summary="The roles of a user (user_name or user_id), or the users holding a "
                          "role (role_name)",
                  uses=(assignments.user_roles, assignments.role_holders),
                  query=(*USER_QUERY, query_param("role_name", LOOKUP)),
                  responses={200: {"anyOf": [ROLE_NAMES, USER_NAMES]}}),
        Operation(method="GET", path="/v1/admin/audit_logs", handler=audit_logs,
                  operation_id="getAuditLogs", tag=TAG_POLICY,
                  summary="Changes to roles, policies and role assignments, newest first "
                          "(superadmins): who, when, before and after",
                  uses=(review.audit_log,),
                  query=(query_param("start_id", START_ID),
                         query_param("num_records", NUM_RECORDS)),
                  responses={200: AUDIT}),
        Operation(method="GET", path="/v1/admin/api_paths_methods", handler=api_paths,
                  operation_id="getAPIPathsMethods", tag="API Info",
                  summary="The API's paths and methods (admin paths only unless "
                          "all_paths=true): what policy statements can name",
                  uses=(review.api_paths,),
                  query=(query_param("all_paths", ALL_PATHS),),
                  responses={200: PATHS}),
    ]
