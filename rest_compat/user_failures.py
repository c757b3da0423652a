"""RainMaker failures for user-management bodies that break the documented schema
(user2, login2, logout2, password2, forgotpassword2): one Explain per operation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.accounts.model import check_display_name, check_password_policy, normalize_user_name
from domain.errors import ValidationFailed
from rest_compat.http import Explain, invalid_body
from rest_compat.schemas import Violation

# Each field's failure is the one the use case would give for that value (same reason, same
# RainMaker error_code, same text), so validating up front changes no answer clients know.

FieldFailure = Callable[[object, bool], ValidationFailed]


def _failure(description: str, reason: str) -> FieldFailure:
    return lambda _value, _missing: ValidationFailed(description, reason=reason)


def _domain_says(check: Callable[[object], object], value: object,
                 otherwise: ValidationFailed) -> ValidationFailed:
    try:
        check(value)
    except ValidationFailed as exc:
        return exc
    return otherwise


def _user_name(value: object, _missing: bool) -> ValidationFailed:
    return _domain_says(normalize_user_name, value, ValidationFailed(
        "Email-id is not in correct format", reason="user_name_format"))


def _new_password(value: object, _missing: bool) -> ValidationFailed:
    return _domain_says(check_password_policy, value, ValidationFailed(
        "Password length must be between 8 to 256 characters. It should be alpha-numeric "
        "without any whitespace. It should contain atleast one uppercase, one lowercase "
        "character and a number", reason="password_policy"))


def _code(value: object, _missing: bool) -> ValidationFailed:
    if not isinstance(value, str) or not value.strip():
        return ValidationFailed("Verification code is missing", reason="code_missing")
    return ValidationFailed("Verification code is incorrect", reason="code_incorrect")


def _password_given_or(otherwise: FieldFailure) -> FieldFailure:
    def failure(value: object, missing: bool) -> ValidationFailed:
        if missing or not isinstance(value, str) or not value:
            return ValidationFailed("Password is missing", reason="password_missing")
        return otherwise(value, missing)
    return failure


def _display_name(value: object, missing: bool) -> ValidationFailed:
    if missing:
        return ValidationFailed("Error, name, phone number or MFA is missing",
                                reason="profile_field_missing")
    return _domain_says(check_display_name, value, ValidationFailed(
        "name must be 1..256 printable characters", reason="invalid_name"))


def _explain(fields: Mapping[str, FieldFailure],
             whole: Callable[[dict[str, Any]], ValidationFailed] | None = None) -> Explain:
    def explain(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
        if violation.field in fields:
            return fields[violation.field](body.get(violation.field), violation.missing)
        if violation.field is None and violation.keyword == "anyOf" and whole is not None:
            return whole(body)
        return invalid_body(violation)
    return explain


def _login_incomplete(body: dict[str, Any]) -> ValidationFailed:
    if not body.get("user_name"):
        return ValidationFailed("User name is missing", reason="user_name_missing")
    return ValidationFailed("Password is missing", reason="password_or_code_missing")


CREATE_OR_CONFIRM_RULES = _explain(
    {"user_name": _user_name, "password": _password_given_or(_new_password),
     "verification_code": _code},
    lambda _body: ValidationFailed("Password or verification code is missing",
                                   reason="password_or_code_missing"))
LOGIN_RULES = _explain(
    {"user_name": _user_name,
     "password": _password_given_or(_failure("Incorrect user name or password",
                                             "bad_credentials")),
     "refreshtoken": _failure("Refresh token failed", "refresh_failed")},
    _login_incomplete)
LOGOUT_RULES = _explain({})
PASSWORD_CHANGE_RULES = _explain({
    "password": _password_given_or(_failure("The password you entered is incorrect",
                                            "wrong_password")),
    "newpassword": lambda value, missing: (
        ValidationFailed("New Password is missing", reason="new_password_missing")
        if missing or value == "" else _new_password(value, missing))})


def _reset_incomplete(body: dict[str, Any]) -> ValidationFailed:
    """One of the new password and the code is given (not null), the other is not."""
    if body.get("password") is None:
        return ValidationFailed("Password is missing", reason="password_missing")
    return ValidationFailed("Verification code is missing", reason="code_missing")


FORGOT_PASSWORD_RULES = _explain({"user_name": _user_name,
                                  "password": _password_given_or(_new_password),
                                  "verification_code": _code}, _reset_incomplete)
UPDATE_USER_RULES = _explain({"name": _display_name})
