"""What the policy and role use cases share: the audit trail of a change, recompiling the
organization's rules and telling the watchers, and the caller's role level."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.access.assignments import role_levels
from domain.access.grants import check_grants
from domain.access.model import Principal
from domain.access.rbac.model import (
    AuditEntry,
    PolicyDocument,
    Rule,
    actor_of,
    compile_role,
    level_of,
)
from ports.access import ApiCatalogue, PolicyWatcher
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator


def _json(value: Any) -> Any:
    return value.as_json() if hasattr(value, "as_json") else value


class PolicyAuthoring:
    """Base of Policies and Roles: every change is audited, recompiles the organization's
    rules in the same unit of work and, once committed, tells the policy watcher."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, watcher: PolicyWatcher,
                 catalogue: ApiCatalogue) -> None:
        self.uow, self.ids, self.clock = uow, ids, clock
        self.authorizer, self.watcher, self.catalogue = authorizer, watcher, catalogue

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
