"""RainMaker v1 admin user management on the wire (/v1/admin/user2 and its summary). Handlers
translate and delegate; the rules live in domain/accounts/admin_users.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.accounts.admin_requests import MAX_PAGE, ROLE_NAME_MAX, START_MAX_CHARS
from domain.accounts.model import User, normalize_user_name
from domain.accounts.use_cases import AccountUseCases
from domain.errors import ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import bool_param, caller_for, invalid_body, json_body, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG = "Admin User Management"
PATH = "/v1/admin/user2"
BOOL = {"type": "boolean"}
ROLE_NAME = {"type": "string", "minLength": 1, "maxLength": ROLE_NAME_MAX,
             "pattern": f"[^{s.WHITESPACE}]", "description": "a built-in or organization role"}
_FIELDS: dict[str, Any] = {
    "user_name": s.USER_NAME,
    "super_admin": {**BOOL, "description": "true: the user holds role superadmin"},
    "admin": {**BOOL, "description": "true: the user holds role admin"},
    "roles": {"type": "array", "items": ROLE_NAME, "maxItems": 100,
              "description": "roles attached to the user (in addition to the flags' roles)"},
    "quota": {"type": "number", "minimum": 1, "deprecated": True,
              "description": "accepted for RainMaker clients, not used"}}
CREATE_USER = s.obj(_FIELDS, ("user_name",))
UPDATE_USER = s.obj({**_FIELDS, "roles": {**_FIELDS["roles"], "minItems": 1}}, ("user_name",),
                    anyOf=[{"required": ["super_admin"]}, {"required": ["admin"]},
                           {"required": ["roles"]}],
                    description="super_admin/admin true grant the role, false take it away; "
                                "roles are attached")
USER_ENTRY = s.obj({"user_id": s.STR, "user_name": s.STR, "name": s.STR, "super_admin": BOOL,
                    "admin": BOOL, "user_roles": {"type": "array", "items": s.STR}},
                   ("user_id", "user_name", "user_roles"))
USERS_LIST = s.obj({"users_list": {"type": "array", "items": USER_ENTRY},
                    "next_id": s.STR, "total": {"type": "integer"}}, ("users_list", "total"))
ACTIVE_COUNT = s.obj({"active_count": {"type": "integer"}}, ("active_count",))
FLAG = s.FLAG
NUM_RECORDS = {"type": "string", "pattern": f"^([1-9][0-9]?|{MAX_PAGE})$",
               "description": f"1..{MAX_PAGE}, 25 by default"}
LOCALE = {"name": "locale", "in": "query", "schema": {"type": "string"},
          "description": "accepted for RainMaker clients, not used"}


def _explain(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "user_name":
        try:
            normalize_user_name(body.get("user_name"))
        except ValidationFailed as exc:
            return exc
        return ValidationFailed("Email-id is not in correct format", reason="user_name_format")
    if violation.field == "roles" and violation.keyword == "items":
        return ValidationFailed("Invalid role name", reason="invalid_role_name")
    if violation.field == "quota":
        return ValidationFailed("Invalid admin quota. Quota should be greater than 0",
                                reason="invalid_quota")
    if violation.field is None and violation.keyword == "anyOf":
        return ValidationFailed("Please specify either admin or super_admin",
                                reason="no_role_change")
    return invalid_body(violation)


def _entry(user: User) -> dict[str, object]:
    """RainMaker's shape: the flags and name appear only when set."""
    entry: dict[str, object] = {"user_id": user.id, "user_name": user.user_name,
                                "user_roles": sorted(user.roles)}
    if user.name:
        entry["name"] = user.name
    if user.is_superadmin:
        entry["super_admin"] = True
    if "admin" in user.roles:
        entry["admin"] = True
    return entry


def _num_records(request: Request) -> int:
    raw = request.query_params.get("num_records")
    if raw is None:
        return 25
    if s.violated_keyword(NUM_RECORDS, raw) is not None:
        raise ValidationFailed(f"num_records must be 1..{MAX_PAGE}", reason="invalid_page")
    return int(raw)


def admin_user_operations(uc: AccountUseCases, max_body: int) -> list[Operation]:
    authenticate, users = uc.sessions.authenticate, uc.admin_users

    async def create(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_USER,
                               explain=_explain)
        await users.create_user(caller, user_name=body["user_name"],
                                super_admin=body.get("super_admin"), admin=body.get("admin"),
                                roles=body.get("roles"))
        return success("User created successfully", 201)

    async def update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_USER,
                               explain=_explain)
        await users.update_user(caller, user_name=body["user_name"],
                                super_admin=body.get("super_admin"), admin=body.get("admin"),
                                roles=body.get("roles"))
        return success("User updated successfully")

    async def get(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        q = request.query_params
        page = await users.get_users(
            caller, user_name=q.get("user_name"), user_id=q.get("user_id"),
            all_users=bool(bool_param(request, "all")),
            admin=bool(bool_param(request, "admin")),
            superadmin=bool(bool_param(request, "superadmin")),
            start_id=q.get("start_id"), num_records=_num_records(request))
        body: dict[str, object] = {"users_list": [_entry(u) for u in page.users],
                                   "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def delete(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await users.delete_user(caller, user_name=request.query_params.get("user_name"))
        return success("User deleted successfully")

    async def summary(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        count = await users.active_count(caller,
                                         start_time=request.query_params.get("start_time"))
        return JSONResponse({"active_count": count})

    def query(name: str, schema: dict[str, Any], description: str, **extra: Any
              ) -> dict[str, Any]:
        return {"name": name, "in": "query", "schema": schema, "description": description,
                **extra}

    return [
        Operation(method="POST", path=PATH, handler=create,
                  operation_id="createUserWithPrivileges2", tag=TAG,
                  summary="Create a user of the organization (mailed a code to choose a "
                          "password through forgotpassword2), optionally admin, superadmin "
                          "or holding roles; admins cannot create admins nor superadmins",
                  uses=(users.create_user,), request_body=CREATE_USER, query=(LOCALE,),
                  responses={201: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="PUT", path=PATH, handler=update,
                  operation_id="updateUserPrivileges2", tag=TAG,
                  summary="Grant or take away a user's superadmin/admin role, or attach roles",
                  uses=(users.update_user,), request_body=UPDATE_USER, query=(LOCALE,),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path=PATH, handler=get, operation_id="getUsers2", tag=TAG,
                  summary="The organization's users a page at a time, by user name: internal "
                          "users (holding a role) by default, every user (all), admins or "
                          "superadmins; admins never see superadmins",
                  uses=(users.get_users,),
                  query=(query("user_name", {"type": "string", "maxLength": START_MAX_CHARS},
                               "users whose user name starts with it"),
                         query("user_id", {"type": "string", "maxLength": 64}, "one user"),
                         query("all", FLAG, "true: every user"),
                         query("admin", FLAG, "true: the admins"),
                         query("superadmin", FLAG, "true: the superadmins (superadmins only)"),
                         query("start_id", {"type": "string", "maxLength": START_MAX_CHARS},
                               "next_id of the page before"),
                         query("num_records", NUM_RECORDS, "users per page",
                               **{"x-fleetgate-handler-validates": True})),
                  responses={200: USERS_LIST}),
        Operation(method="DELETE", path=PATH, handler=delete, operation_id="deleteUser2",
                  tag=TAG,
                  summary="Delete a user of the organization at once (not a superadmin, not "
                          "oneself; admins cannot delete admins)",
                  uses=(users.delete_user,),
                  query=(query("user_name", s.USER_NAME, "the user to delete", required=True,
                               **{"x-fleetgate-handler-validates": True}),
                         LOCALE),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path=f"{PATH}/summary", handler=summary,
                  operation_id="getActiveUserCount", tag=TAG,
                  summary="How many distinct users of the organization signed in at or after "
                          "start_time",
                  uses=(users.active_count,),
                  query=(query("start_time", {"type": "string", "pattern": "^[0-9]{1,11}$"},
                               "epoch seconds: beginning of the activity window",
                               required=True, **{"x-fleetgate-handler-validates": True}),),
                  responses={200: ACTIVE_COUNT}),
    ]
