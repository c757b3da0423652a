"""Who holds which role: changing a user's roles under the level rules, in the caller's unit
of work. RoleAssignments uses it directly; other areas reach it through ports.access.UserRoles
(UserRoleChanges)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.access.model import Principal
from domain.access.rbac.model import (
    BUILTIN_ROLES,
    AuditEntry,
    actor_of,
    check_may_manage,
    level_of,
)
from domain.accounts.model import BUILTIN_ROLE_LEVELS, SUPERADMIN, User, normalize_user_name
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ports.repositories.uow import UnitOfWork


async def find_user(uow: UnitOfWork, *, user_name: object = None, user_id: object = None) -> User:
    """The user of the unit of work's organization named by id (first) or user name."""
    if user_id not in (None, ""):
        user = await uow.users.get(str(user_id))
    elif user_name not in (None, ""):
        user = await uow.users.get_by_user_name(normalize_user_name(user_name))
    else:
        raise ValidationFailed("Error, either of role_name or [username/userId] is required",
                               reason="user_or_role_required")
    if user is None:
        raise NotFound("User does not exist", reason="user_not_found")
    return user


async def role_levels(uow: UnitOfWork) -> dict[str, int]:
    return {r.name: r.level for r in await uow.access.list_roles()} | dict(BUILTIN_ROLE_LEVELS)


async def change_user_roles(uow: UnitOfWork, *, actor: Principal, user: User,
                            add: Sequence[str] = (), remove: Sequence[str] = (),
                            audit_id: str, now: datetime) -> None:
    """Adds and removes roles of a user in one unit of work (not committed here).

    Every role must exist; the actor needs a strictly lower level than each role it adds or
    removes (level 0: any); nobody changes their own roles; the organization keeps a
    superadmin. Recorded in the audit trail.
    """
    if actor.user_id is not None and actor.user_id == user.id:
        raise Forbidden("Error, self-operations are prohibited", reason="self_operation")
    levels = await role_levels(uow)
    for name in [*add, *remove]:
        if name not in levels and name not in BUILTIN_ROLES:
            raise ValidationFailed(f"Invalid role name {name!r}", reason="invalid_role_name")
    actor_level = level_of(actor.roles, levels)
    for name in [*add, *remove]:
        if name in levels:
            check_may_manage(actor_level, name, levels[name])
        elif actor_level != 0:  # the end-user role has no level: superadmins only
            check_may_manage(actor_level, name, 0)
    before = sorted(user.roles)
    if SUPERADMIN in remove and SUPERADMIN in user.roles:
        others = [uid for uid, _ in await uow.access.holders(SUPERADMIN) if uid != user.id]
        if not others:
            raise Conflict("Cannot remove the last superadmin of the organization",
                           reason="last_superadmin")
    user.roles = (set(user.roles) | set(add)) - set(remove)
    if sorted(user.roles) == before:
        return
    await uow.users.save(user)
    subject, name = actor_of(actor)
    await uow.access.add_audit(AuditEntry(
        id=audit_id, org_id=user.org_id, at=now, actor=subject, actor_name=name,
        action="user_role.change", target=user.user_name,
        before={"roles": before}, after={"roles": sorted(user.roles)}))


class UserRoleChanges:
    """ports.access.UserRoles over role_levels and change_user_roles."""

    async def levels(self, uow: UnitOfWork) -> dict[str, int]:
        return await role_levels(uow)

    async def change(self, uow: UnitOfWork, *, actor: Principal, user: User,
                     add: Sequence[str] = (), remove: Sequence[str] = (),
                     audit_id: str, now: datetime) -> None:
        await change_user_roles(uow, actor=actor, user=user, add=add, remove=remove,
                                audit_id=audit_id, now=now)
