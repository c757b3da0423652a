"""RainMaker v1 user management on the wire: user2, login2, logout2, password2,
forgotpassword2, and their deprecated aliases. Handlers translate and delegate only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access.model import Caller
from domain.accounts.model import User
from domain.accounts.tokens import API_KEY_PREFIX, RefreshMode
from domain.accounts.use_cases import AccountUseCases
from domain.errors import Unauthenticated, ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import (
    anonymous_caller,
    bearer_token,
    bool_param,
    caller_for,
    json_body,
    success,
    without_nulls,
)
from rest_compat.operations import Operation
from rest_compat.user_failures import (
    CREATE_OR_CONFIRM_RULES,
    FORGOT_PASSWORD_RULES,
    LOGIN_RULES,
    LOGOUT_RULES,
    PASSWORD_CHANGE_RULES,
    UPDATE_USER_RULES,
)

TAG = "User Management"
COMMON_ERRORS = (400, 401, 403, 404, 413, 429)


def _user_body(user: User) -> dict[str, object]:
    body: dict[str, object] = {"user_id": user.id, "user_name": user.user_name,
                               "name": user.name}
    if user.is_superadmin:
        body["super_admin"] = True
    return body


def user_operations(uc: AccountUseCases, max_body: int) -> list[Operation]:
    authenticate = uc.sessions.authenticate
    reg, sessions, profiles = uc.registration, uc.sessions, uc.profiles

    async def sign_up_caller(request: Request) -> Caller:
        """Who signs up: an organization API key chooses the organization (a bad one is 401,
        so a user never lands in another organization unnoticed); any other Authorization
        header that does not authenticate (an earlier session's token a client kept) is
        ignored: the spec asks no credentials of sign-up."""
        try:
            return await caller_for(request, authenticate, required=False)
        except Unauthenticated:
            if (bearer_token(request) or "").startswith(API_KEY_PREFIX):
                raise
            return anonymous_caller(request)

    async def create_or_confirm(request: Request) -> Response:
        caller = await sign_up_caller(request)
        body = await json_body(request, max_bytes=max_body, schema=s.CREATE_OR_CONFIRM_USER,
                               explain=CREATE_OR_CONFIRM_RULES)
        if "password" in body:
            await reg.sign_up(caller, user_name=body.get("user_name"), password=body["password"])
            return success("User created successfully. Verification code sent", 201)
        if "verification_code" in body:
            await reg.confirm_sign_up(caller, user_name=body.get("user_name"),
                                      code=body["verification_code"])
            return success("User confirmed successfully", 201)
        if not body.get("user_name"):
            raise ValidationFailed("User name is missing", reason="user_name_missing")
        raise ValidationFailed("Password or verification code is missing",
                               reason="password_or_code_missing")

    async def get_user(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        bool_param(request, "custom_data")
        user = await profiles.get_profile(caller)
        return JSONResponse(_user_body(user))

    async def update_user(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=s.UPDATE_USER,
                               explain=UPDATE_USER_RULES)
        if "name" not in body:
            raise ValidationFailed("Error, name, phone number or MFA is missing",
                                   reason="profile_field_missing")
        await profiles.update_profile(caller, name=body["name"])
        return success("User updated successfully")

    async def delete_user(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        code = request.query_params.get("verification_code")
        if code == "":
            raise ValidationFailed("Verification code is missing", reason="delete_code_missing")
        if code is not None and s.violated_keyword(s.CODE, code):
            raise ValidationFailed("Verification code is incorrect",
                                   reason="delete_code_incorrect")
        if bool_param(request, "request"):
            await profiles.request_account_deletion(caller)
            return success("Delete user request successful. Verification code sent")
        if not code:
            raise ValidationFailed("Verification code is missing", reason="delete_code_missing")
        try:
            await profiles.confirm_account_deletion(caller, code=code)
        except ValidationFailed as exc:
            if exc.reason != "code_incorrect":
                raise
            # RainMaker numbers this refusal differently on DELETE /user2 (119005)
            raise ValidationFailed(exc.message, reason="delete_code_incorrect") from exc
        return success("User deleted successfully")

    async def login(request: Request) -> Response:
        caller = anonymous_caller(request)
        body = await json_body(request, max_bytes=max_body, schema=s.LOGIN, explain=LOGIN_RULES)
        if "refreshtoken" in body:
            # RainMaker's clients keep the login's refresh token and drop any other
            tokens = await sessions.refresh(caller, refresh_token=body["refreshtoken"],
                                            user_name=body.get("user_name"),
                                            mode=RefreshMode.KEEP)
        elif "password" in body:
            tokens = await sessions.login(caller, user_name=body.get("user_name"),
                                          password=body["password"])
        else:
            if not body.get("user_name"):
                raise ValidationFailed("User name is missing", reason="user_name_missing")
            raise ValidationFailed("Password is missing", reason="password_or_code_missing")
        return success("Login successful", idtoken=tokens.id_token,
                       accesstoken=tokens.access_token, refreshtoken=tokens.refresh_token)

    async def logout(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        logout_all = bool_param(request, "logout_all", reason="invalid_logout_all") or False
        body = await json_body(request, max_bytes=max_body, required=False, schema=s.LOGOUT,
                               explain=LOGOUT_RULES)
        await sessions.logout(caller, logout_all=logout_all,
                              refresh_token=body.get("refreshtoken"))
        return success("Logged out successfully")

    async def change_password(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=s.PASSWORD_CHANGE,
                               explain=PASSWORD_CHANGE_RULES)
        await profiles.change_password(caller, password=body.get("password"),
                                       new_password=body.get("newpassword"))
        return success("Password changed successfully")

    async def forgot_password(request: Request) -> Response:
        caller = anonymous_caller(request)
        body = await json_body(request, max_bytes=max_body, schema=s.FORGOT_PASSWORD,
                               explain=FORGOT_PASSWORD_RULES)
        body = without_nulls(body, s.FORGOT_PASSWORD_NULLABLE)
        if "verification_code" in body or "password" in body:
            if not body.get("verification_code"):
                raise ValidationFailed("Verification code is missing", reason="code_missing")
            await profiles.reset_password(caller, user_name=body.get("user_name"),
                                          code=body["verification_code"],
                                          new_password=body.get("password"))
            return success("Password reset successfully")
        await profiles.request_password_reset(caller, user_name=body.get("user_name"))
        return success("Verification code sent")

    ok = {200: s.SUCCESS}
    ops = [
        Operation(method="POST", path="/v1/user2", handler=create_or_confirm,
                  operation_id="userCreation2", tag=TAG, public=True, auth=False,
                  optional_auth=True,
                  summary="Create or confirm a user account",
                  uses=(reg.sign_up, reg.confirm_sign_up), request_body=s.CREATE_OR_CONFIRM_USER,
                  query=({"name": "locale", "in": "query", "schema": {"type": "string"}},),
                  responses={201: s.SUCCESS}),
        Operation(method="GET", path="/v1/user2", handler=get_user, operation_id="getUsermobile",
                  tag=TAG, summary="Fetches the details of current user",
                  uses=(profiles.get_profile,), request_body=None,
                  query=({"name": "custom_data", "in": "query", "schema": s.flag(False)},),
                  responses={200: s.GET_USER}),
        Operation(method="PUT", path="/v1/user2", handler=update_user,
                  operation_id="userattributeupdate", tag=TAG,
                  summary="Updates the name of the user", uses=(profiles.update_profile,),
                  request_body=s.UPDATE_USER, responses=ok),
        Operation(method="DELETE", path="/v1/user2", handler=delete_user,
                  operation_id="userdeletionmobile", tag=TAG, summary="Deletes user account",
                  uses=(profiles.request_account_deletion, profiles.confirm_account_deletion),
                  query=({"name": "request", "in": "query", "schema": s.flag(False),
                          "description": "true: send the code that confirms the deletion"},
                         {"name": "verification_code", "in": "query", "schema": s.CODE,
                          "x-fleetgate-handler-validates": True,
                          "description": "the code sent after request=true; without request="
                                         "true this parameter is required"},
                         {"name": "locale", "in": "query", "schema": {"type": "string"}}),
                  responses=ok),
        Operation(method="POST", path="/v1/login2", handler=login, operation_id="login2",
                  tag=TAG, public=True, auth=False,
                  summary="Handle login or extend session request from the user",
                  uses=(sessions.login, sessions.refresh), request_body=s.LOGIN,
                  responses={200: s.LOGIN_SUCCESS}),
        Operation(method="POST", path="/v1/logout2", handler=logout, operation_id="logout2",
                  tag=TAG, summary="Log out user from the session", uses=(sessions.logout,),
                  request_body=s.LOGOUT, body_required=False,
                  query=({"name": "logout_all", "in": "query", "schema": s.flag(False),
                          "x-fleetgate-handler-validates": True},),
                  responses=ok),
        Operation(method="PUT", path="/v1/password2", handler=change_password,
                  operation_id="passwordmobile", tag=TAG,
                  summary="Handle password change request from the user",
                  uses=(profiles.change_password,), request_body=s.PASSWORD_CHANGE,
                  responses=ok),
        Operation(method="PUT", path="/v1/forgotpassword2", handler=forgot_password,
                  operation_id="forgotpasswordmobile", tag=TAG, public=True, auth=False,
                  summary="Handle forgot password request from the user",
                  uses=(profiles.request_password_reset, profiles.reset_password),
                  request_body=s.FORGOT_PASSWORD,
                  query=({"name": "locale", "in": "query", "schema": {"type": "string"}},),
                  responses=ok),
    ]
    aliases = {"/v1/user2": ("/v1/user", {"POST": "usercreation", "GET": "getUser",
                                          "PUT": "usernameupdate", "DELETE": "userdeletion"}),
               "/v1/login2": ("/v1/login", {"POST": "login"}),
               "/v1/logout2": ("/v1/logout", {"POST": "logout"}),
               "/v1/password2": ("/v1/password", {"PUT": "password"}),
               "/v1/forgotpassword2": ("/v1/forgotpassword", {"PUT": "forgotpassword"})}
    for op in list(ops):
        path, ids = aliases[op.path]
        ops.append(op.alias(path, ids[op.method]))
    return ops

