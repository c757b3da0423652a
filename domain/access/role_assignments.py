"""Use cases on who holds which role in the caller's organization: a user's roles, a role's
holders, and adding or removing roles of a user (the rules are in assignments.py)."""

from __future__ import annotations

from domain.access.assignments import change_user_roles, find_user
from domain.access.model import Caller, requires, user_subject
from domain.access.permissions import USER_ROLES
from domain.access.rbac.model import BUILTIN_ROLES
from domain.access.rbac.validation import check_operation, lookup_name
from domain.errors import NotFound, ValidationFailed
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator
from ports.signals import SessionSignals, announce


class RoleAssignments:
    """Role assignments of the users of the caller's organization."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, signals: SessionSignals | None = None) -> None:
        self.uow, self.ids, self.clock = uow, ids, clock
        self.authorizer, self.signals = authorizer, signals

    @requires(USER_ROLES, "GET")
    async def user_roles(self, caller: Caller, *, user_name: object = None,
                         user_id: object = None) -> list[str]:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            return sorted((await find_user(uow, user_name=user_name, user_id=user_id)).roles)

    @requires(USER_ROLES, "GET")
    async def role_holders(self, caller: Caller, *, role_name: object) -> list[str]:
        principal = caller.require_principal()
        wanted = lookup_name(role_name, what="role")
        async with self.uow(principal.org_id) as uow:
            if wanted not in BUILTIN_ROLES and await uow.access.get_role(wanted) is None:
                raise NotFound("Role does not exist", reason="role_not_found")
            return [name for _, name in await uow.access.holders(wanted)]

    @requires(USER_ROLES, "PUT")
    async def change_roles(self, caller: Caller, *, operation: object, roles: object,
                           user_name: object = None, user_id: object = None) -> list[str]:
        principal = caller.require_principal()
        adding = check_operation(operation) == "add"
        if not isinstance(roles, list) or not roles:
            raise ValidationFailed("Please specify at least one role", reason="roles_missing")
        names = [lookup_name(r, what="role") for r in roles]
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            user = await find_user(uow, user_name=user_name, user_id=user_id)
            add, remove = (names, []) if adding else ([], names)
            await change_user_roles(uow, actor=principal, user=user, add=add, remove=remove,
                                    audit_id=self.ids.new_id(), now=self.clock.now())
            await uow.commit()
        await announce(self.signals, user_subject(user.id))  # live connections re-check
        return sorted(user.roles)
