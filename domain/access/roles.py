"""Use cases of policy authors on their organization's roles: list, create, change (attach or
detach policies, set the level) and delete them, under the role-level rules."""

from __future__ import annotations

from collections.abc import Sequence

from domain.access.authoring import PolicyAuthoring
from domain.access.model import Caller, requires
from domain.access.permissions import ROLES
from domain.access.rbac.model import PolicyDocument, Role, check_may_manage
from domain.access.rbac.validation import (
    check_level,
    check_name,
    check_operation,
    check_policy_names,
    lookup_name,
)
from domain.accounts.model import BUILTIN_ROLE_LEVELS
from domain.errors import Conflict, NotFound, ValidationFailed
from ports.repositories.uow import UnitOfWork


async def _role(uow: UnitOfWork, name: str) -> Role:
    role = await uow.access.get_role(name)
    if role is None:
        raise NotFound("Role does not exist", reason="role_not_found")
    return role


class Roles(PolicyAuthoring):
    """The roles of the caller's organization (the built-in ones are listed, never changed)."""

    @requires(ROLES, "GET")
    async def roles(self, caller: Caller, *, name: object = None) -> list[Role]:
        """The organization's roles, built-in ones (superadmin 0, admin 1) first."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            now = self.clock.now()
            builtin = [Role(org_id="*", name=n, level=lv, policies=[], created_at=now,
                            updated_at=now) for n, lv in sorted(BUILTIN_ROLE_LEVELS.items(),
                                                                key=lambda kv: kv[1])]
            every = builtin + list(await uow.access.list_roles())
        if name not in (None, ""):
            wanted = lookup_name(name, what="role")
            found = [r for r in every if r.name == wanted]
            if not found:
                raise NotFound("Role does not exist", reason="role_not_found")
            return found
        return every

    async def _policies_exist(self, uow: UnitOfWork, names: Sequence[str]
                              ) -> list[PolicyDocument]:
        documents = []
        for policy_name in names:
            policy = await uow.access.get_policy(policy_name)
            if policy is None:
                raise ValidationFailed(f"Policy is invalid: no policy {policy_name!r}",
                                       reason="unknown_policy")
            documents.append(policy.document)
        return documents

    @requires(ROLES, "POST")
    async def create_role(self, caller: Caller, *, name: object, policies: object,
                          level: object) -> Role:
        principal = caller.require_principal()
        role_name = check_name(name, what="role")
        names = check_policy_names(policies)
        role_level = check_level(level)
        now = self.clock.now()
        role = Role(org_id=principal.org_id, name=role_name, level=role_level,
                    policies=names, created_at=now, updated_at=now)
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            check_may_manage(await self._actor_level(uow, principal), role_name, role_level)
            if await uow.access.get_role(role_name) is not None:
                raise Conflict("Role with same name already exist", reason="role_exists")
            self._check_grants(principal, await self._policies_exist(uow, names))
            await uow.access.add_role(role)
            await self._audit(uow, principal, "role.create", role_name, None, role)
            await self._finish(uow, principal.org_id)
        return role

    @requires(ROLES, "PUT")
    async def update_role(self, caller: Caller, *, name: object, operation: object,
                          policies: object = None, level: object = None) -> Role:
        """operation add|remove attaches or detaches policies; level (with either) changes
        the role level."""
        principal = caller.require_principal()
        role_name = check_name(name, what="role")
        adding = check_operation(operation) == "add"
        names = check_policy_names(policies) if policies is not None else []
        new_level = check_level(level) if level is not None else None
        if not names and new_level is None:
            raise ValidationFailed("Give policies and/or role_level", reason="invalid_body")
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            role = await _role(uow, role_name)
            actor_level = await self._actor_level(uow, principal)
            check_may_manage(actor_level, role_name, role.level)
            if new_level is not None:
                check_may_manage(actor_level, role_name, new_level)
            before = role.as_json()
            if adding:
                self._check_grants(principal, await self._policies_exist(uow, names))
                merged = role.policies + [n for n in names if n not in role.policies]
                if len(merged) > 10:
                    raise ValidationFailed("You can specify maximum 10 policies",
                                           reason="too_many_policies")
                role.policies = merged
            else:
                role.policies = [p for p in role.policies if p not in names]
                if not role.policies:
                    raise ValidationFailed("A role keeps at least one policy",
                                           reason="role_needs_policy")
            if new_level is not None:
                role.level = new_level
            role.updated_at = self.clock.now()
            await uow.access.save_role(role)
            await self._audit(uow, principal, "role.update", role_name, before, role)
            await self._finish(uow, principal.org_id)
        return role

    @requires(ROLES, "DELETE")
    async def delete_role(self, caller: Caller, *, name: object) -> None:
        principal = caller.require_principal()
        role_name = check_name(name, what="role")
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            role = await _role(uow, role_name)
            check_may_manage(await self._actor_level(uow, principal), role_name, role.level)
            if await uow.access.holders(role_name):
                raise Conflict("Cannot delete role, As role is been assigned to some user",
                               reason="role_in_use")
            await uow.access.delete_role(role_name)
            await self._audit(uow, principal, "role.delete", role_name, role, None)
            await self._finish(uow, principal.org_id)
