"""Accounts: organizations, users, sessions (refresh-token families), API keys, codes.

Entities are plain classes that enforce their own rules; nothing here knows about HTTP,
SQL or tokens' wire formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import Forbidden, ValidationFailed

SUPERADMIN = "superadmin"
ADMIN = "admin"
END_USER = "user"
BUILTIN_ROLE_LEVELS = {SUPERADMIN: 0, ADMIN: 1}

PASSWORD_MIN, PASSWORD_MAX = 8, 256
NAME_MAX = 256
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,62}$")


def is_text(value: str) -> bool:
    """Encodable as UTF-8: JSON allows lone surrogates that no store or hash accepts."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalize_user_name(raw: object) -> str:
    """An e-mail address (case-folded) or an E.164 phone number."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("User name is missing", reason="user_name_missing")
    value = raw.strip()
    if len(value) > 254:
        raise ValidationFailed("Email-id is not in correct format", reason="user_name_format")
    if value.startswith("+"):
        if not _PHONE.match(value):
            raise ValidationFailed("Please provide valid phone number", reason="phone_format")
        return value
    if not _EMAIL.match(value):
        raise ValidationFailed("Email-id is not in correct format", reason="user_name_format")
    return value.lower()


def check_password_policy(password: object) -> str:
    """RainMaker's rule: 8..256 characters, no whitespace, upper, lower and a digit."""
    if not isinstance(password, str) or not password:
        raise ValidationFailed("Password is missing", reason="password_missing")
    if (
        not is_text(password)
        or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX
        or any(c.isspace() for c in password)
        or not any(c.isupper() for c in password)
        or not any(c.islower() for c in password)
        or not any(c.isdigit() for c in password)
    ):
        raise ValidationFailed(
            "Password length must be between 8 to 256 characters. It should be alpha-numeric "
            "without any whitespace. It should contain atleast one uppercase, one lowercase "
            "character and a number",
            reason="password_policy",
        )
    return password


def check_display_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValidationFailed("name must be a string", reason="invalid_body")
    value = name.strip()
    if not value or len(value) > NAME_MAX or any(ord(c) < 32 for c in value) \
            or not is_text(value):
        raise ValidationFailed("name must be 1..256 printable characters", reason="invalid_name")
    return value


def check_org_name(name: object) -> str:
    if not isinstance(name, str) or not _ORG_NAME.match(name.strip()):
        raise ValidationFailed(
            "Organization name must be 2..63 letters, digits, spaces, '.', '_' or '-'",
            reason="invalid_org_name",
        )
    return name.strip()


_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def check_hostname(hostname: object) -> str:
    if not isinstance(hostname, str) or not _HOSTNAME.match(hostname.strip().lower()):
        raise ValidationFailed("Host name is not valid", reason="invalid_hostname")
    return hostname.strip().lower()


@dataclass(slots=True, kw_only=True)
class Organization:
    id: str
    name: str
    created_at: datetime
    hostname: str | None = None


@dataclass(slots=True, kw_only=True)
class User:
    id: str
    org_id: str
    user_name: str
    password_hash: str
    created_at: datetime
    name: str = ""
    confirmed: bool = False
    roles: set[str] = field(default_factory=set)

    @property
    def is_superadmin(self) -> bool:
        return SUPERADMIN in self.roles

    def confirm(self) -> None:
        if self.confirmed:
            raise ValidationFailed("User name already verified", reason="already_verified")
        self.confirmed = True

    def rename(self, name: object) -> None:
        self.name = check_display_name(name)

    def ensure_deletable(self) -> None:
        if self.is_superadmin:
            raise Forbidden("Super-admin user deletion is restricted!", reason="superadmin_delete")


@dataclass(frozen=True, slots=True, kw_only=True)
class UserQuery:
    """Which users of the organization a listing returns (every condition given must hold)."""

    user_id: str | None = None
    name_prefix: str | None = None  # user names starting with it (already case-folded)
    with_any_role: frozenset[str] | None = None  # holds at least one of these roles
    with_role_other_than: str | None = None  # holds some role besides this one
    without_roles: frozenset[str] = frozenset()  # holds none of these roles


class CodePurpose(StrEnum):
    SIGN_UP = "sign_up"
    RESET_PASSWORD = "reset_password"
    DELETE_ACCOUNT = "delete_account"


CODE_TTL = {
    CodePurpose.SIGN_UP: timedelta(hours=24),
    CodePurpose.RESET_PASSWORD: timedelta(hours=1),
    CodePurpose.DELETE_ACCOUNT: timedelta(hours=1),
}
CODE_MAX_ATTEMPTS = 5


@dataclass(slots=True, kw_only=True)
class VerificationCode:
    """A one-time code sent to the user; stored as a hash, limited in time and attempts."""

    id: str
    org_id: str
    user_id: str
    purpose: CodePurpose
    code_hash: str
    expires_at: datetime
    attempts: int = 0
    consumed: bool = False

    def usable(self, now: datetime) -> bool:
        return not self.consumed and now < self.expires_at and self.attempts < CODE_MAX_ATTEMPTS

    def record_attempt(self, matched: bool) -> bool:
        """Counts the attempt; returns True when the code is accepted (and consumes it)."""
        self.attempts += 1
        if matched:
            self.consumed = True
        return matched


SESSION_TTL = timedelta(days=30)


@dataclass(slots=True, kw_only=True)
class Session:
    """A sign-in: one family of rotating refresh tokens. Revoking it ends every token."""

    id: str
    org_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


API_KEY_NAME_MAX = 100


@dataclass(slots=True, kw_only=True)
class ApiKey:
    """An organization-scoped key ``sk_<id>_<secret>``; only a SHA-256 of the whole key is kept."""

    id: str
    org_id: str
    name: str
    secret_hash: str
    created_at: datetime
    created_by: str | None
    roles: set[str] = field(default_factory=lambda: {ADMIN})
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def prefix(self) -> str:
        return f"sk_{self.id}"

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


def check_api_key_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > API_KEY_NAME_MAX \
            or not is_text(name):
        raise ValidationFailed("API key name must be 1..100 characters", reason="invalid_name")
    return name.strip()
