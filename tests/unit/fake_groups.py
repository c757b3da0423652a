"""In-memory fake of the GroupRepository port (state lives in fakes.Store.groups)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from domain.groups.model import NodeGroup
from ports.repositories import SYSTEM_SCOPE


class InMemoryGroups:
    def __init__(self, state: Any, org: str) -> None:
        self.s, self.org = state, org

    def _visible(self, group: NodeGroup) -> bool:
        return self.org == SYSTEM_SCOPE or group.org_id == self.org

    async def add(self, group: NodeGroup) -> None:
        assert group.id not in self.s.groups
        self.s.groups[group.id] = copy.deepcopy(group)

    async def get(self, group_id: str) -> NodeGroup | None:
        group = self.s.groups.get(group_id)
        return copy.deepcopy(group) if group is not None and self._visible(group) else None

    async def for_owner(self, owner_id: str) -> Sequence[NodeGroup]:
        return [copy.deepcopy(g) for _, g in sorted(self.s.groups.items())
                if g.owner_id == owner_id and self._visible(g)]

    async def save(self, group: NodeGroup) -> None:
        if group.id in self.s.groups and self._visible(self.s.groups[group.id]):
            self.s.groups[group.id] = copy.deepcopy(group)

    async def delete_many(self, group_ids: Sequence[str]) -> None:
        for group_id in group_ids:
            group = self.s.groups.get(group_id)
            if group is not None and self._visible(group):
                del self.s.groups[group_id]

    async def remove_node_everywhere(self, node_id: str) -> None:
        for group in self.s.groups.values():
            if self._visible(group):
                group.nodes = [n for n in group.nodes if n != node_id]
