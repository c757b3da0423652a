"""In-memory fake of the AdminGroupRepository port (state lives in fakes.Store.admin_groups;
the node look-ups read fakes.Store.nodes)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from domain.groups.admin.model import AdminGroup, GroupQuery
from ports.repositories import SYSTEM_SCOPE


class InMemoryAdminGroups:
    def __init__(self, state: Any, org: str) -> None:
        self.s, self.org = state, org
        self.calls = 0  # repository calls, for tests that bound them

    def _visible(self, org_id: str) -> bool:
        return self.org == SYSTEM_SCOPE or org_id == self.org

    async def add(self, group: AdminGroup) -> None:
        self.calls += 1
        assert group.id not in self.s.admin_groups
        self.s.admin_groups[group.id] = copy.deepcopy(group)

    async def all(self) -> Sequence[AdminGroup]:
        self.calls += 1
        return [copy.deepcopy(g) for _, g in sorted(self.s.admin_groups.items())
                if self._visible(g.org_id)]

    async def save_many(self, groups: Sequence[AdminGroup]) -> None:
        self.calls += 1
        for group in groups:
            stored = self.s.admin_groups.get(group.id)
            if stored is not None and self._visible(stored.org_id):
                self.s.admin_groups[group.id] = copy.deepcopy(group)

    async def delete_many(self, group_ids: Sequence[str]) -> None:
        self.calls += 1
        for group_id in group_ids:
            group = self.s.admin_groups.get(group_id)
            if group is not None and self._visible(group.org_id):
                del self.s.admin_groups[group_id]

    async def matching_node_ids(self, query: GroupQuery) -> Sequence[str]:
        self.calls += 1
        return sorted(n.id for n in self.s.nodes.values()
                      if self._visible(n.org_id) and query.matches(n))

    async def all_node_ids(self) -> Sequence[str]:
        self.calls += 1
        return sorted(n.id for n in self.s.nodes.values() if self._visible(n.org_id))

    async def member_ids(self, group_ids: Sequence[str]) -> Sequence[str]:
        self.calls += 1
        return sorted({n for gid in group_ids
                       if (g := self.s.admin_groups.get(gid)) is not None
                       and self._visible(g.org_id) for n in g.nodes})
