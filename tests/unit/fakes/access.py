"""In-memory AccessRepository: policies, roles, compiled rules and the audit trail."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.access.rbac.model import AuditEntry, Policy, Role, Rule
from ports.repositories.uow import SYSTEM_SCOPE


@dataclass
class AccessState:
    policies: dict[tuple[str, str], Policy] = field(default_factory=dict)
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)  # org id -> compiled rules
    audit: list[AuditEntry] = field(default_factory=list)


class InMemoryAccess:
    def __init__(self, store: Any, org: str) -> None:
        self.s, self.org = store, org

    @property
    def _a(self) -> AccessState:
        return self.s.access  # type: ignore[no-any-return]

    def _mine(self, org_id: str) -> bool:
        return self.org == SYSTEM_SCOPE or org_id == self.org

    async def lock(self) -> None:
        return None

    async def get_policy(self, name: str) -> Policy | None:
        return copy.deepcopy(self._a.policies.get((self.org, name)))

    async def list_policies(self) -> Sequence[Policy]:
        return [copy.deepcopy(p) for (o, _), p in sorted(self._a.policies.items())
                if self._mine(o)]

    async def add_policy(self, policy: Policy) -> None:
        assert (policy.org_id, policy.name) not in self._a.policies
        self._a.policies[(policy.org_id, policy.name)] = copy.deepcopy(policy)

    async def save_policy(self, policy: Policy) -> None:
        self._a.policies[(policy.org_id, policy.name)] = copy.deepcopy(policy)

    async def delete_policy(self, name: str) -> None:
        self._a.policies.pop((self.org, name), None)

    async def get_role(self, name: str) -> Role | None:
        return copy.deepcopy(self._a.roles.get((self.org, name)))

    async def list_roles(self) -> Sequence[Role]:
        found = [copy.deepcopy(r) for (o, _), r in self._a.roles.items() if self._mine(o)]
        return sorted(found, key=lambda r: (r.level, r.name))

    async def add_role(self, role: Role) -> None:
        assert (role.org_id, role.name) not in self._a.roles
        self._a.roles[(role.org_id, role.name)] = copy.deepcopy(role)

    async def save_role(self, role: Role) -> None:
        self._a.roles[(role.org_id, role.name)] = copy.deepcopy(role)

    async def delete_role(self, name: str) -> None:
        self._a.roles.pop((self.org, name), None)

    async def holders(self, role_name: str) -> Sequence[tuple[str, str]]:
        return sorted(((u.id, u.user_name) for u in self.s.users.values()
                       if self._mine(u.org_id) and role_name in u.roles), key=lambda x: x[1])

    async def replace_rules(self, rules: Sequence[Rule]) -> None:
        self._a.rules[self.org] = list(rules)

    async def add_audit(self, entry: AuditEntry) -> None:
        self._a.audit.append(entry)

    async def audit(self, *, after: str | None, limit: int) -> Sequence[AuditEntry]:
        mine = [e for e in reversed(self._a.audit) if self._mine(e.org_id)]
        if after is not None:
            ids = [e.id for e in mine]
            mine = mine[ids.index(after) + 1:] if after in ids else []
        return mine[:limit]
