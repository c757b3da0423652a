"""Use cases of policy authors: policies, roles, who holds which role, the audit trail, and
explaining a decision. The rules live in domain/access/rbac/model.py; changing a user's roles
in assignments.py; what a policy may name and grant in grants.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.access.assignments import change_user_roles, find_user, role_levels
from domain.access.grants import check_grants, check_resources
from domain.access.model import Caller, Permission, Principal, PrincipalKind, requires, user_subject
from domain.access.rbac.model import (
    BUILTIN_ROLES,
    AuditEntry,
    AuditPage,
    Explanation,
    Policy,
    PolicyDocument,
    Role,
    Rule,
    actor_of,
    check_level,
    check_may_manage,
    check_name,
    check_policy_names,
    compile_role,
    decision_reason,
    level_of,
    lookup_name,
    parse_policy,
)
from domain.accounts.model import BUILTIN_ROLE_LEVELS
from domain.errors import Conflict, NotFound, ValidationFailed
from ports.access import ApiCatalogue, PolicyWatcher
from ports.repositories import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator
from ports.signals import SessionSignals, announce

AUDIT_PAGE_MAX = 100


def _json(value: Any) -> Any:
    return value.as_json() if hasattr(value, "as_json") else value


async def _policy(uow: UnitOfWork, name: str) -> Policy:
    policy = await uow.access.get_policy(name)
    if policy is None:
        raise NotFound("Policy does not exist", reason="policy_not_found")
    return policy


async def _role(uow: UnitOfWork, name: str) -> Role:
    role = await uow.access.get_role(name)
    if role is None:
        raise NotFound("Role does not exist", reason="role_not_found")
    return role


class RolesAndPolicies:
    """Policies and roles of the caller's organization, role assignments and the audit log."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, watcher: PolicyWatcher,
                 catalogue: ApiCatalogue, signals: SessionSignals | None = None) -> None:
        self.uow, self.ids, self.clock = uow, ids, clock
        self.authorizer, self.watcher, self.catalogue = authorizer, watcher, catalogue
        self.signals = signals

    # --- helpers --------------------------------------------------------------------------

    def _document(self, raw: object) -> PolicyDocument:
        document = parse_policy(raw)
        check_resources(document, self.catalogue)
        return document

    def _check_grants(self, actor: Principal, documents: Sequence[PolicyDocument]) -> None:
        check_grants(actor, documents, self.catalogue, self.authorizer)

    async def _audit(self, uow: UnitOfWork, actor: Principal, action: str, target: str,
                     before: Any, after: Any) -> None:
        subject, name = actor_of(actor)
        await uow.access.add_audit(AuditEntry(
            id=self.ids.new_id(), org_id=actor.org_id, at=self.clock.now(), actor=subject,
            actor_name=name, action=action, target=target, before=_json(before),
            after=_json(after)))

    async def _recompile(self, uow: UnitOfWork) -> None:
        documents = {p.name: p.document for p in await uow.access.list_policies()}
        rules: list[Rule] = []
        for role in await uow.access.list_roles():
            rules.extend(compile_role(role, documents))
        await uow.access.replace_rules(rules)

    async def _finish(self, uow: UnitOfWork, org_id: str) -> None:
        await self._recompile(uow)
        await uow.commit()
        await self.watcher.changed(org_id)

    async def _actor_level(self, uow: UnitOfWork, actor: Principal) -> int | None:
        return level_of(actor.roles, await role_levels(uow))

    async def _roles_using(self, uow: UnitOfWork, policy_name: str) -> list[Role]:
        return [r for r in await uow.access.list_roles() if policy_name in r.policies]

    # --- policies -------------------------------------------------------------------------

    @requires("/v1/admin/policy", "GET")
    async def policies(self, caller: Caller, *, name: object = None) -> list[Policy]:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            if name not in (None, ""):
                return [await _policy(uow, lookup_name(name, what="policy"))]
            return list(await uow.access.list_policies())

    @requires("/v1/admin/policy", "POST")
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

    @requires("/v1/admin/policy", "PUT")
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

    @requires("/v1/admin/policy", "DELETE")
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

    # --- roles ----------------------------------------------------------------------------

    @requires("/v1/admin/role", "GET")
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

    @requires("/v1/admin/role", "POST")
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

    @requires("/v1/admin/role", "PUT")
    async def update_role(self, caller: Caller, *, name: object, operation: object,
                          policies: object = None, level: object = None) -> Role:
        """operation add|remove attaches or detaches policies; level (with either) changes
        the role level."""
        principal = caller.require_principal()
        role_name = check_name(name, what="role")
        if operation in (None, ""):
            raise ValidationFailed("Operation is missing", reason="operation_missing")
        if not isinstance(operation, str) or operation.lower() not in ("add", "remove"):
            raise ValidationFailed("Please specify valid operation, Valid values are add or "
                                   "remove", reason="invalid_role_operation")
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
            if operation.lower() == "add":
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

    @requires("/v1/admin/role", "DELETE")
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

    # --- role assignments -----------------------------------------------------------------

    @requires("/v1/admin/user_role", "GET")
    async def user_roles(self, caller: Caller, *, user_name: object = None,
                         user_id: object = None) -> list[str]:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            return sorted((await find_user(uow, user_name=user_name, user_id=user_id)).roles)

    @requires("/v1/admin/user_role", "GET")
    async def role_holders(self, caller: Caller, *, role_name: object) -> list[str]:
        principal = caller.require_principal()
        wanted = lookup_name(role_name, what="role")
        async with self.uow(principal.org_id) as uow:
            if wanted not in BUILTIN_ROLES and await uow.access.get_role(wanted) is None:
                raise NotFound("Role does not exist", reason="role_not_found")
            return [name for _, name in await uow.access.holders(wanted)]

    @requires("/v1/admin/user_role", "PUT")
    async def change_roles(self, caller: Caller, *, operation: object, roles: object,
                           user_name: object = None, user_id: object = None) -> list[str]:
        principal = caller.require_principal()
        if operation in (None, ""):
            raise ValidationFailed("Operation is missing", reason="operation_missing")
        if not isinstance(operation, str) or operation.lower() not in ("add", "remove"):
            raise ValidationFailed("Please specify valid operation, Valid values are add or "
                                   "remove", reason="invalid_role_operation")
        if not isinstance(roles, list) or not roles:
            raise ValidationFailed("Please specify at least one role", reason="roles_missing")
        names = [lookup_name(r, what="role") for r in roles]
        async with self.uow(principal.org_id) as uow:
            await uow.access.lock()
            user = await find_user(uow, user_name=user_name, user_id=user_id)
            add, remove = (names, []) if operation.lower() == "add" else ([], names)
            await change_user_roles(uow, actor=principal, user=user, add=add, remove=remove,
                                    audit_id=self.ids.new_id(), now=self.clock.now())
            await uow.commit()
        await announce(self.signals, user_subject(user.id))  # live connections re-check
        return sorted(user.roles)

    # --- reading the trail and explaining decisions ---------------------------------------

    @requires("/v1/admin/audit_logs", "GET")
    async def audit_log(self, caller: Caller, *, after: str | None = None,
                        limit: int = 25) -> AuditPage:
        principal = caller.require_principal()
        limit = max(1, min(limit, AUDIT_PAGE_MAX))
        async with self.uow(principal.org_id) as uow:
            entries = list(await uow.access.audit(after=after, limit=limit + 1))
        more = len(entries) > limit
        return AuditPage(entries[:limit], entries[limit - 1].id if more else None)

    @requires("/v1/admin/api_paths_methods", "GET")
    async def api_paths(self, caller: Caller, *, all_paths: bool = False
                        ) -> list[tuple[str, list[str]]]:
        caller.require_principal()
        return [(path, sorted(methods)) for path, methods in self.catalogue.paths()
                if all_paths or path.startswith("/v1/admin/")]

    @requires("/v1/admin/policy", "GET")
    async def explain(self, caller: Caller, *, user_name: object = None, user_id: object = None,
                      resource: object, action: object, node_id: object = None
                      ) -> Explanation:
        """Whether a user of the caller's organization may use (resource, action), the rules
        that decided it, and (with node_id) whether that node is within the user's reach."""
        principal = caller.require_principal()
        if not isinstance(resource, str) or not resource.startswith("/"):
            raise ValidationFailed("resource is a REST path such as /v1/admin/nodes",
                                   reason="invalid_resource")
        if not isinstance(action, str) or not action.strip():
            raise ValidationFailed("action is an HTTP method such as GET",
                                   reason="invalid_action")
        method = action.strip().upper().removeprefix("API:")
        async with self.uow(principal.org_id) as uow:
            user = await find_user(uow, user_name=user_name, user_id=user_id)
            node = await uow.nodes.get(str(node_id)) if node_id not in (None, "") else None
            if node_id not in (None, "") and node is None:
                raise NotFound("Node does not exist", reason="node_not_found")
        subject = Principal(kind=PrincipalKind.USER, org_id=user.org_id, user_id=user.id,
                            user_name=user.user_name, roles=frozenset(user.roles))
        permission = Permission(resource, method)
        matched, deciding, allowed = self.authorizer.explain(subject, permission)
        reach = self.authorizer.node_reach(subject, permission) if allowed else ()
        in_reach = None
        if node is not None:
            in_reach = reach is None or any(r.matches(node.tags, node.type) for r in reach)
        ok = allowed and in_reach is not False
        return Explanation(allowed=ok, user_id=user.id, user_name=user.user_name,
                           roles=tuple(sorted(user.roles)), matched=tuple(matched),
                           deciding=tuple(deciding), node_reach=reach, node_in_reach=in_reach,
                           reason=decision_reason(deciding, allowed=allowed, in_reach=ok))

