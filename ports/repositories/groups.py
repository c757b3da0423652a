"""Groups: users' device groups and the organization's admin groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domain.groups.admin.model import AdminGroup, GroupQuery
from domain.groups.model import NodeGroup


class GroupRepository(Protocol):
    """Users' device groups with their member node ids (in the order they were added)."""

    async def add(self, group: NodeGroup) -> None: ...
    async def get(self, group_id: str) -> NodeGroup | None: ...
    async def get_many(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        """The groups among group_ids that exist in scope, with their nodes, by id."""
        ...

    async def subtrees(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        """These groups and all their sub-groups, with their nodes, ordered by id (one
        query per hierarchy level plus one for the members)."""
        ...

    async def for_owner(self, owner_id: str) -> Sequence[NodeGroup]:
        """All of the owner's groups with their nodes, ordered by id, in two queries."""
        ...

    async def save(self, group: NodeGroup) -> None:
        """Writes the group's fields (its owner included) and makes its members exactly
        group.nodes."""
        ...

    async def delete_many(self, group_ids: Sequence[str]) -> None: ...
    async def remove_node_everywhere(self, node_id: str) -> None:
        """Drops the node from every group in scope (its last user mapping is gone)."""
        ...


class AdminGroupRepository(Protocol):
    """The organization's admin device groups with their member node ids (in the order they
    were added), and the node look-ups their rules need. Every method is a constant number of
    statements, whatever the number of groups and nodes."""

    async def add(self, group: AdminGroup) -> None: ...
    async def all(self) -> Sequence[AdminGroup]:
        """Every admin group of the scoped organization with its nodes, ordered by id."""
        ...

    async def save_many(self, groups: Sequence[AdminGroup]) -> None:
        """Writes these groups' fields and makes each one's members exactly group.nodes."""
        ...

    async def delete_many(self, group_ids: Sequence[str]) -> None: ...
    async def matching_node_ids(self, query: GroupQuery) -> Sequence[str]:
        """Ids of the scoped nodes the query matches (exact type/model/fw_version), sorted."""
        ...

    async def all_node_ids(self) -> Sequence[str]:
        """Ids of every node of the scoped organization, sorted."""
        ...

    async def member_ids(self, group_ids: Sequence[str]) -> Sequence[str]:
        """The distinct node ids in any of these groups, sorted."""
        ...
