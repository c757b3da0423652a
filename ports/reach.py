"""Who reaches what, asked across areas: sharing needs the devices area's answer for nodes
and the groups area's for groups, and gets it through these ports (the container hands in
domain/devices/reach.py's DeviceReach and domain/groups/access.py's GroupReachRules)."""

from __future__ import annotations

from typing import Protocol

from domain.devices.model import Node
from domain.groups.model import GroupAccess, VisibleGroups
from ports.repositories.uow import UnitOfWork


class ReachableNodes(Protocol):
    async def reachable_node(self, uow: UnitOfWork, node_id: object, user_id: str) -> Node:
        """The node if the user is one of its members; NOT_FOUND otherwise (unknown, foreign
        and unshared nodes alike)."""
        ...

    async def forget_node_data(self, uow: UnitOfWork, node_id: str) -> None:
        """What goes when a node's last member does (its params history, its place in
        users' groups)."""
        ...


class ReachableGroups(Protocol):
    async def group_access(self, uow: UnitOfWork, group_id: object, user_id: str
                           ) -> GroupAccess:
        """The user's access to one group (owner, or the strongest share up the tree);
        NOT_FOUND when the user does not reach it."""
        ...

    async def visible_groups(self, uow: UnitOfWork, user_id: str) -> VisibleGroups:
        """Every group the user reaches, with the role on each."""
        ...
