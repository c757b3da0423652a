"""RainMaker v1 Roles and Policy Manager, User Role Mapping and API Info on the wire
(/v1/admin/policy, /v1/admin/role, /v1/admin/user_role, /v1/admin/api_paths_methods), and
the audit trail (/v1/admin/audit_logs). Handlers translate and delegate; the rules live in
domain/access/rbac/model.py and domain/access/roles.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access.rbac.model import (
    ACTIONS,
    MAX_ROLE_POLICIES,
    NAME_MAX,
    NAME_MIN,
    Policy,
    Role,
)
from domain.access.roles import RolesAndPolicies
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG_POLICY = "Roles and Policy Manager"
TAG_USER_ROLE = "User Role Mapping"
_EDGE = f"[^{s.CONTROL}{s.WHITESPACE}]"
NAME = {"type": "string", "minLength": NAME_MIN, "maxLength": NAME_MAX,
        "pattern": f"^{_EDGE}([^{s.CONTROL}]*{_EDGE})?$",
        "description": "2..256 characters, no control characters, no white space at either "
                       "end; names starting RM_DEFAULT_ and the built-in role names are "
                       "reserved"}
LOOKUP = NAME
_ACTIONS = [a for action in ACTIONS for a in (action, action.lower())]
_STATEMENT_KEYS = {"Effect": {"type": "string", "enum": ["Allow", "Deny", "allow", "deny"]},
                   "Action": {"type": "array", "minItems": 1, "maxItems": 6,
                              "items": {"type": "string", "enum": _ACTIONS}},
                   "Resource": {"type": "array", "minItems": 1, "items": {
                       "type": "string", "minLength": 1, "maxLength": 196,
                       "pattern": r"^/[A-Za-z0-9_{}./-]*[*]?$"}},
                   "Sid": {"type": "string", "maxLength": 128}}
STATEMENT = {"anyOf": [
    s.obj(_STATEMENT_KEYS, ("Effect", "Action", "Resource"), additional=False),
    s.obj({k.lower(): v for k, v in _STATEMENT_KEYS.items()}, ("effect", "action", "resource"),
          additional=False)],
    "description": "Effect Allow|Deny, Action api:Get|api:Put|api:Post|api:Delete|api:Patch|"
                   "api:*, Resource canonical REST paths ('/v1/admin/*' wildcards, "
                   "'/admin/...' and '/{version}/...' mean /v1); lower-case keys are accepted "
                   "too. Resources must match a path of GET /v1/admin/api_paths_methods"}
_TAG = {"type": "string", "minLength": 3, "maxLength": 256,
        "pattern": f"^[^:{s.CONTROL}]{{1,128}}:[^{s.CONTROL}]{{1,127}}$"}
_TYPE = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": f"^[^{s.CONTROL}]+$"}
FILTER = s.obj({
    "type": {"type": "string", "enum": ["nodes"]},
    "rules": s.obj({"tags": {"type": "array", "minItems": 1, "items": _TAG},
                    "type": {"type": "array", "minItems": 1, "items": _TYPE}},
                   additional=False, anyOf=[{"required": ["tags"]}, {"required": ["type"]}])},
    ("type", "rules"), additional=False)
POLICY_JSON = s.obj({
    "version": {"type": "string", "maxLength": 32},
    "filters": {"type": "array", "items": FILTER},
    "statement": {"type": "array", "minItems": 1, "items": STATEMENT}}, ("statement",),
    additional=False,
    description="At most 2 KB as compact JSON. Node filters narrow the nodes a role reaches "
                "through /v1/admin/nodes: a node matches a filter when it has any of its tags "
                "and one of its types (each when given), and a role reaches the nodes matching "
                "any filter of the policies that allow it")
CREATE_POLICY = s.obj({"policy_name": NAME, "policy_json": POLICY_JSON},
                      ("policy_name", "policy_json"))
UPDATE_POLICY = s.obj({"policy_json": POLICY_JSON}, ("policy_json",))
POLICY_ENTRY = s.obj({"policy_name": s.STR, "policy_json": {"type": "object"}},
                     ("policy_name", "policy_json"))
POLICIES = s.obj({"policies": {"type": "array", "items": POLICY_ENTRY}}, ("policies",))
LEVEL = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
POLICY_NAMES = {"type": "array", "minItems": 1, "maxItems": MAX_ROLE_POLICIES,
                "items": LOOKUP}
CREATE_ROLE = s.obj({"role_name": NAME, "policies": POLICY_NAMES, "role_level": LEVEL},
                    ("role_name", "policies", "role_level"))
UPDATE_ROLE = s.obj({"policies": POLICY_NAMES, "role_level": LEVEL},
                    anyOf=[{"required": ["policies"]}, {"required": ["role_level"]}])
ROLE_ENTRY = s.obj({"role_name": s.STR, "policies": {"type": "array", "items": s.STR},
                    "role_level": {"type": "integer"}, "builtin": {"type": "boolean"}},
                   ("role_name", "policies", "role_level"))
ROLES = s.obj({"roles": {"type": "array", "items": ROLE_ENTRY}}, ("roles",))
USER_ROLES = s.obj({"roles": {"type": "array", "minItems": 1, "maxItems": 50,
                              "items": LOOKUP}}, ("roles",))
ROLE_NAMES = s.obj({"roles": {"type": "array", "items": s.STR}}, ("roles",))
USER_NAMES = s.obj({"users": {"type": "array", "items": s.STR}}, ("users",))
AUDIT_ENTRY = s.obj({"id": s.STR, "timestamp": {"type": "integer"}, "actor": s.STR,
                     "actor_name": s.STR, "action": s.STR, "target": s.STR,
                     "before": {}, "after": {}}, ("id", "timestamp", "action", "target"))
AUDIT = s.obj({"audit_logs": {"type": "array", "items": AUDIT_ENTRY}, "next_id": s.STR},
              ("audit_logs",))
PATHS = {"type": "array", "items": s.obj({"path": s.STR,
                                           "methods": {"type": "array", "items": s.STR}},
                                          ("path", "methods"))}
OPERATION = {"type": "string", "enum": ["add", "remove"]}
LOOKUP_USER = s.USER_NAME
USER_QUERY = ({"name": "user_name", "in": "query", "schema": LOOKUP_USER},
              {"name": "user_id", "in": "query", "schema": {"type": "string", "minLength": 1,
                                                            "maxLength": 64}})


def _q(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "required": required}


def _explain_policy(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "policy_name":
        if violation.missing:
            return ValidationFailed("Policy name is missing", reason="policy_name_missing")
        return ValidationFailed("Name must be 2 to 256 characters long",
                                reason="access_name_length")
    if violation.field == "policy_json" and violation.missing:
        return ValidationFailed("Policy json is missing", reason="policy_json_missing")
    if violation.field == "policy_json":
        return ValidationFailed("Json policy is invalid", reason="invalid_policy_json")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _explain_role(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    field = violation.field
    if field == "role_name":
        if violation.missing:
            return ValidationFailed("Role name is missing", reason="role_name_missing")
        return ValidationFailed("Name must be 2 to 256 characters long",
                                reason="access_name_length")
    if field == "role_level":
        return ValidationFailed("Role Level must be a whole number from 1 up",
                                reason="invalid_role_level")
    if field == "policies" and violation.keyword == "maxItems":
        return ValidationFailed(f"You can specify maximum {MAX_ROLE_POLICIES} policies",
                                reason="too_many_policies")
    if field == "policies" or violation.keyword == "anyOf":
        return ValidationFailed("Policy name is missing", reason="policy_name_missing")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _explain_user_roles(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "roles" and isinstance(body.get("roles"), list) and body["roles"] \
            and violation.keyword != "maxItems":
        return ValidationFailed("Invalid role name", reason="invalid_role_name")
    if violation.field == "roles" and violation.keyword == "maxItems":
        return ValidationFailed("At most 50 roles at once", reason="invalid_body")
    if violation.field == "roles":
        return ValidationFailed("Please specify at least one role", reason="roles_missing")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def _required(request: Request, name: str, *, what: str) -> str:
    value = _query(request, name)
    if value is None:
        raise ValidationFailed(f"{what.capitalize()} name is missing",
                               reason=f"{what}_name_missing")
    return value


def policy_entry(policy: Policy) -> dict[str, Any]:
    return policy.as_json()


def role_entry(role: Role) -> dict[str, Any]:
    entry = role.as_json()
    if role.org_id == "*":
        entry["builtin"] = True
    return entry


def public_path(path: str) -> str:
    """RainMaker lists paths with its version placeholder: /{version}/admin/role."""
    return "/{version}" + path[3:] if path.startswith("/v1/") else path


def access_operations(access: RolesAndPolicies, authenticate: Authenticate,
                      max_body: int) -> list[Operation]:
    async def create_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_POLICY,
                               explain=_explain_policy)
        await access.create_policy(caller, name=body["policy_name"],
                                   policy_json=body["policy_json"])
        return success("Policy created successfully")

    async def update_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "policy_name", what="policy")
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_POLICY,
                               explain=_explain_policy)
        await access.update_policy(caller, name=name, policy_json=body["policy_json"])
        return success("Policy updated successfully")

    async def get_policies(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        found = await access.policies(caller, name=_query(request, "policy_name"))
        return JSONResponse({"policies": [policy_entry(p) for p in found]})

    async def delete_policy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "policy_name", what="policy")
        detached = await access.delete_policy(caller, name=name,
                                              force=bool(bool_param(request, "force")))
        return success("Policy deleted successfully", detached_from_roles=detached)

    async def create_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_ROLE,
                               explain=_explain_role)
        await access.create_role(caller, name=body["role_name"], policies=body["policies"],
                                 level=body["role_level"])
        return success("Role created successfully")

    async def update_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = _required(request, "role_name", what="role")
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_ROLE,
                               explain=_explain_role)
        await access.update_role(caller, name=name, operation=_query(request, "operation"),
                                 policies=body.get("policies"), level=body.get("role_level"))
        return success("Role updated successfully")

    async def get_roles(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        found = await access.roles(caller, name=_query(request, "role_name"))
        return JSONResponse({"roles": [role_entry(r) for r in found]})

    async def delete_role(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await access.delete_role(caller, name=_required(request, "role_name", what="role"))
        return success("Role deleted successfully")

    async def change_user_roles(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        user_name, user_id = _query(request, "user_name"), _query(request, "user_id")
        body = await json_body(request, max_bytes=max_body, schema=USER_ROLES,
                               explain=_explain_user_roles)
        await access.change_roles(caller, operation=_query(request, "operation"),
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
            return JSONResponse({"users": await access.role_holders(caller,
                                                                     role_name=role_name)})
        return JSONResponse({"roles": await access.user_roles(caller, user_name=user_name,
                                                              user_id=user_id)})

    async def audit_logs(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        page = await access.audit_log(caller, after=_query(request, "start_id"),
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
        found = await access.api_paths(caller,
                                       all_paths=bool(bool_param(request, "all_paths")))
        return JSONResponse([{"path": public_path(p), "methods": m} for p, m in found])

    policy_name_q = _q("policy_name", LOOKUP, required=True)
    role_name_q = _q("role_name", LOOKUP, required=True)
    return [
        Operation(method="POST", path="/v1/admin/policy", handler=create_policy,
                  operation_id="addPolicy", tag=TAG_POLICY,
                  summary="Add a policy (statements of Allow/Deny on API paths, optional node "
                          "filters), compiled to Casbin rules for the roles that use it",
                  uses=(access.create_policy,), request_body=CREATE_POLICY,
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="PUT", path="/v1/admin/policy", handler=update_policy,
                  operation_id="updatePolicy", tag=TAG_POLICY,
                  summary="Replace a policy's document; roles using it change at once",
                  uses=(access.update_policy,), request_body=UPDATE_POLICY,
                  query=(policy_name_q,), responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/admin/policy", handler=get_policies,
                  operation_id="getPolicy", tag=TAG_POLICY,
                  summary="The organization's policies, or one by name",
                  uses=(access.policies,), query=(_q("policy_name", LOOKUP),),
                  responses={200: POLICIES}),
        Operation(method="DELETE", path="/v1/admin/policy", handler=delete_policy,
                  operation_id="removePolicy", tag=TAG_POLICY,
                  summary="Remove a policy; refused while a role uses it unless force=true, "
                          "which detaches it from those roles",
                  uses=(access.delete_policy,),
                  query=(policy_name_q, _q("force", {"type": "string",
                                                     "enum": ["true", "false"]})),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="POST", path="/v1/admin/role", handler=create_role,
                  operation_id="addRolesPolicy", tag=TAG_POLICY,
                  summary="Add a role with 1..10 policies and a role level (>= 1; only a "
                          "holder of a lower level may create it)",
                  uses=(access.create_role,), request_body=CREATE_ROLE,
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="PUT", path="/v1/admin/role", handler=update_role,
                  operation_id="updateRole", tag=TAG_POLICY,
                  summary="Attach (operation=add) or detach (remove) policies, and/or change "
                          "the role level",
                  uses=(access.update_role,), request_body=UPDATE_ROLE,
                  query=(role_name_q, _q("operation", OPERATION, required=True)),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/admin/role", handler=get_roles,
                  operation_id="getRoles", tag=TAG_POLICY,
                  summary="The organization's roles (built-in superadmin and admin first), or "
                          "one by name",
                  uses=(access.roles,), query=(_q("role_name", LOOKUP),),
                  responses={200: ROLES}),
        Operation(method="DELETE", path="/v1/admin/role", handler=delete_role,
                  operation_id="deleteRole", tag=TAG_POLICY,
                  summary="Remove a role no user holds (built-in roles cannot be removed)",
                  uses=(access.delete_role,), query=(role_name_q,),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="PUT", path="/v1/admin/user_role", handler=change_user_roles,
                  operation_id="updateUserRoleMapping", tag=TAG_USER_ROLE,
                  summary="Assign (operation=add) or remove roles of a user; each role needs "
                          "a holder of a strictly lower role level (0: any)",
                  uses=(access.change_roles,), request_body=USER_ROLES,
                  query=(_q("user_name", LOOKUP_USER, required=True), USER_QUERY[1],
                         _q("operation", OPERATION, required=True)),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/admin/user_role", handler=get_user_roles,
                  operation_id="getUserRoleMapping", tag=TAG_USER_ROLE,
                  summary="The roles of a user (user_name or user_id), or the users holding a "
                          "role (role_name)",
                  uses=(access.user_roles, access.role_holders),
                  query=(*USER_QUERY, _q("role_name", LOOKUP)),
                  responses={200: {"anyOf": [ROLE_NAMES, USER_NAMES]}}),
        Operation(method="GET", path="/v1/admin/audit_logs", handler=audit_logs,
                  operation_id="getAuditLogs", tag=TAG_POLICY,
                  summary="Changes to roles, policies and role assignments, newest first "
                          "(superadmins): who, when, before and after",
                  uses=(access.audit_log,),
                  query=(_q("start_id", {"type": "string", "maxLength": 64}),
                         _q("num_records", {"type": "string",
                                            "pattern": "^([1-9][0-9]?|100)$"})),
                  responses={200: AUDIT}),
        Operation(method="GET", path="/v1/admin/api_paths_methods", handler=api_paths,
                  operation_id="getAPIPathsMethods", tag="API Info",
                  summary="The API's paths and methods (admin paths only unless "
                          "all_paths=true): what policy statements can name",
                  uses=(access.api_paths,),
                  query=(_q("all_paths", {"type": "string", "enum": ["true", "false"]}),),
                  responses={200: PATHS}),
    ]
