"""Use cases of policy authors on their organization's policies: list, create, replace and
delete them (a policy's rules reach its roles at once)."""

from __future__ import annotations

from domain.access.authoring import PolicyAuthoring
from domain.access.grants import check_resources
from domain.access.model import Caller, requires
from domain.access.permissions import POLICIES
from domain.access.rbac.model import Policy, PolicyDocument, Role, check_may_manage
from domain.access.rbac.validation import check_name, lookup_name, parse_policy
from domain.errors import Conflict, NotFound
from ports.repositories.uow import UnitOfWork


async def _policy(uow: UnitOfWork, name: str) -> Policy:
    policy = await uow.access.get_policy(name)
    if policy is None:
        raise NotFound("Policy does not exist", reason="policy_not_found")
    return policy


class Policies(PolicyAuthoring):
    """The policies of the caller's organization."""

    def _document(self, raw: object) -> PolicyDocument:
        document = parse_policy(raw)
        check_resources(document, self.catalogue)
        return document

    async def _roles_using(self, uow: UnitOfWork, policy_name: str) -> list[Role]:
        return [r for r in await uow.access.list_roles() if policy_name in r.policies]

    @requires(POLICIES, "GET")
    async def policies(self, caller: Caller, *, name: object = None) -> list[Policy]:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            if name not in (None, ""):
                return [await _policy(uow, lookup_name(name, what="policy"))]
            return list(await uow.access.list_policies())

    @requires(POLICIES, "POST")
    async def create_policy(self, caller: Caller, *, name: object,
                            policy_json: object) -> Policy:
        principal = caller.require_principal()
        policy_name = check_name(name, what="policy")
        document = self._document(policy_json)
        self._check_grants(principal, [document])
        now = self.clock.now()
        policy = Policy(org_id=principal.org_id, name=policy_name, document=document,
                        created_at=now, updated_at=now)
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            if await uow.access.get_policy(policy_name) is not None:
                raise Conflict("Policy with same name already exist", reason="policy_exists")
            await uow.access.add_policy(policy)
            await self._audit(uow, principal, "policy.create", policy_name, None, policy)
            await self._finish(uow, principal.org_id)
        return policy

    @requires(POLICIES, "PUT")
    async def update_policy(self, caller: Caller, *, name: object,
                            policy_json: object) -> Policy:
        principal = caller.require_principal()
        policy_name = check_name(name, what="policy")
        document = self._document(policy_json)
        self._check_grants(principal, [document])
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            policy = await _policy(uow, policy_name)
            level = await self._actor_level(uow, principal)
            for role in await self._roles_using(uow, policy_name):
                check_may_manage(level, role.name, role.level)
            before = policy.as_json()
            policy.document, policy.updated_at = document, self.clock.now()
            await uow.access.save_policy(policy)
            await self._audit(uow, principal, "policy.update", policy_name, before, policy)
            await self._finish(uow, principal.org_id)
        return policy

    @requires(POLICIES, "DELETE")
    async def delete_policy(self, caller: Caller, *, name: object, force: bool = False
                            ) -> list[str]:
        """Deletes a policy; refused while a role uses it unless force, which detaches it
        from those roles (returned)."""
        principal = caller.require_principal()
        policy_name = check_name(name, what="policy")
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            policy = await _policy(uow, policy_name)
            users_of = await self._roles_using(uow, policy_name)
            if users_of and not force:
                raise Conflict("Cannot delete policy, As policy is been assigned to some role "
                               f"({', '.join(r.name for r in users_of)}); force=true detaches "
                               "it", reason="policy_in_use")
            level = await self._actor_level(uow, principal)
            for role in users_of:
                check_may_manage(level, role.name, role.level)
                before = role.as_json()
                role.policies = [p for p in role.policies if p != policy_name]
                role.updated_at = self.clock.now()
                await uow.access.save_role(role)
                await self._audit(uow, principal, "role.update", role.name, before, role)
            await uow.access.delete_policy(policy_name)
            await self._audit(uow, principal, "policy.delete", policy_name, policy, None)
            await self._finish(uow, principal.org_id)
        return [r.name for r in users_of]
