"""What an admin's request about the organization's users means, as pure rules: role flags
into role changes, list filters into a UserQuery, epoch times; no ports."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.access.model import Principal
from domain.access.rbac.model import NAME_MAX
from domain.accounts.model import ADMIN, END_USER, SUPERADMIN, User, UserQuery
from domain.errors import Forbidden, ValidationFailed

ROLE_NAME_MAX = NAME_MAX  # role names are 2..256 characters
START_MAX_CHARS = 254
DEFAULT_PAGE, MAX_PAGE = 25, 100


def parse_flag(value: object, name: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValidationFailed(f"{name} must be true or false", reason="invalid_body")


def parse_role_names(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
            isinstance(r, str) and 0 < len(r.strip()) <= ROLE_NAME_MAX for r in value):
        raise ValidationFailed("Invalid role name", reason="invalid_role_name")
    return sorted({r.strip() for r in value})


def check_page(num_records: object, start_id: object) -> tuple[int, str | None]:
    """(num_records, start_id) of a page of users: 1..MAX_PAGE records, after a start_id of
    at most START_MAX_CHARS."""
    if isinstance(num_records, bool) or not isinstance(num_records, int) \
            or not 1 <= num_records <= MAX_PAGE:
        raise ValidationFailed(f"num_records must be 1..{MAX_PAGE}", reason="invalid_page")
    if start_id is None:
        return num_records, None
    if not isinstance(start_id, str) or len(start_id) > START_MAX_CHARS:
        raise ValidationFailed("Invalid start_id", reason="invalid_page")
    return num_records, start_id


def refuse_self(principal: Principal, user: User) -> None:
    if principal.user_id == user.id:
        raise Forbidden("Error, self-operations are prohibited", reason="self_operation")


def parse_epoch(raw: object) -> datetime:
    """Epoch seconds: an integer, or its 1..11 digits (a future time simply counts nobody)."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 11:
        seconds = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**11:
        seconds = raw
    else:
        raise ValidationFailed("Invalid start time", reason="invalid_active_start_time")
    return datetime.fromtimestamp(seconds, tz=UTC)


def role_flag_changes(user: User, set_super: bool | None,
                      set_admin: bool | None) -> tuple[set[str], set[str]]:
    """(roles to add, roles to remove) for the super_admin and admin flags of
    PUT /v1/admin/user2: superadmin and admin exclude each other, and a flag that changes
    nothing is refused."""
    add: set[str] = set()
    remove: set[str] = set()
    if set_super is True:
        if SUPERADMIN in user.roles:
            raise ValidationFailed("The user to be updated is already a superadmin",
                                   reason="already_superadmin")
        add.add(SUPERADMIN)
        remove |= {ADMIN} & user.roles
        return add, remove
    if set_super is False:
        if SUPERADMIN not in user.roles:
            raise ValidationFailed("Not allowed to set the superadmin as false as the user "
                                   "to be updated is not a superadmin",
                                   reason="not_superadmin")
        remove.add(SUPERADMIN)
    if set_admin is True:
        if ADMIN in user.roles:
            raise ValidationFailed("The user to be updated is already an admin",
                                   reason="already_admin")
        add.add(ADMIN)
        remove |= {SUPERADMIN} & user.roles
    elif set_admin is False:
        if ADMIN not in user.roles:
            raise ValidationFailed("Not allowed to set the admin as false as the user to "
                                   "be updated is not an admin", reason="not_admin")
        remove.add(ADMIN)
    return add, remove


def user_query(user_name: object, user_id: object, *, all_users: bool, admin: bool,
               superadmin: bool, sees_superadmins: bool) -> UserQuery:
    """The filters of GET /v1/admin/user2 as a query: internal users by default, end users
    too when a name or id is given, superadmins only for superadmins."""
    prefix = None
    if user_name not in (None, ""):
        if not isinstance(user_name, str) or len(user_name.strip()) > START_MAX_CHARS:
            raise ValidationFailed("Email-id is not in correct format",
                                   reason="user_name_format")
        prefix = user_name.strip().lower()
    one = None
    if user_id not in (None, ""):
        if not isinstance(user_id, str) or len(user_id) > 64:
            raise ValidationFailed("Invalid user_id", reason="invalid_body")
        one = user_id
    wanted = {r for r, on in ((ADMIN, admin), (SUPERADMIN, superadmin)) if on}
    return UserQuery(
        user_id=one, name_prefix=prefix,
        with_any_role=frozenset(wanted) if wanted else None,
        with_role_other_than=None if wanted or all_users or prefix or one else END_USER,
        without_roles=frozenset() if sees_superadmins else frozenset({SUPERADMIN}))
