"""In-memory fakes of the GroupRepository, GroupShareRepository and AdminGroupRepository
ports (state lives in fakes.Store.groups and .admin_groups; node look-ups read .nodes)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from domain.devices.model import PRIMARY
from domain.groups.admin.model import AdminGroup, GroupQuery
from domain.groups.model import NodeGroup
from domain.sharing.model import GroupShare
from ports.repositories.uow import SYSTEM_SCOPE


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

    async def get_many(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        return [copy.deepcopy(g) for gid, g in sorted(self.s.groups.items())
                if gid in set(group_ids) and self._visible(g)]

    async def subtrees(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        found, level = set(), set(group_ids)
        while level:
            found |= level
            level = {gid for gid, g in self.s.groups.items() if g.parent_id in level} - found
        return await self.get_many(sorted(found))

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
                for key in [k for k in self.s.group_shares if k[0] == group_id]:
                    del self.s.group_shares[key]  # the foreign key cascades in SQL

    async def remove_node_everywhere(self, node_id: str) -> None:
        for group in self.s.groups.values():
            if self._visible(group):
                group.nodes = [n for n in group.nodes if n != node_id]


class InMemoryGroupShares:
    def __init__(self, state: Any, org: str) -> None:
        self.s, self.org = state, org

    def _visible(self, share: GroupShare) -> bool:
        return self.org == SYSTEM_SCOPE or share.org_id == self.org

    async def add(self, share: GroupShare) -> None:
        key = (share.group_id, share.user_id)
        assert key not in self.s.group_shares
        self.s.group_shares[key] = copy.deepcopy(share)

    async def get(self, group_id: str, user_id: str) -> GroupShare | None:
        share = self.s.group_shares.get((group_id, user_id))
        return copy.deepcopy(share) if share is not None and self._visible(share) else None

    async def for_user(self, user_id: str) -> Sequence[GroupShare]:
        return [copy.deepcopy(s) for (_, uid), s in sorted(self.s.group_shares.items())
                if uid == user_id and self._visible(s)]

    async def people(self, group_ids: Sequence[str]) -> Sequence[tuple[GroupShare, str]]:
        found: list[tuple[GroupShare, str]] = []
        for gid in sorted(set(group_ids)):
            group = self.s.groups.get(gid)
            if group is None or not (self.org == SYSTEM_SCOPE or group.org_id == self.org):
                continue
            found.append((GroupShare(group_id=gid, org_id=group.org_id, user_id=group.owner_id,
                                     role=PRIMARY, created_at=group.created_at, owner=True),
                          self.s.users[group.owner_id].user_name))
            found += [(copy.deepcopy(s), self.s.users[uid].user_name)
                      for (g, uid), s in sorted(self.s.group_shares.items())
                      if g == gid and self._visible(s)]
        return sorted(found, key=lambda pair: (pair[0].group_id, pair[0].user_id))

    async def remove(self, group_id: str, user_id: str) -> None:
        share = self.s.group_shares.get((group_id, user_id))
        if share is not None and self._visible(share):
            del self.s.group_shares[(group_id, user_id)]


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
