"""DataLoaders, built per request (or per WebSocket connection) in the Context, never shared:
a loader's batch is one caller's view of the data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from strawberry.dataloader import DataLoader

from domain.access.model import Caller
from domain.sharing.groups import GroupPeople
from domain.sharing.nodes import NodeSharingView
from domain.use_cases import UseCases


class Loaders:
    def __init__(self, uc: UseCases, caller: Callable[[], Awaitable[Caller]]) -> None:
        self._uc, self._caller = uc, caller
        # no cache: over a WebSocket the context lives as long as the connection, and a
        # role read an hour ago may have changed since; batching is what saves the queries
        self.node_roles = DataLoader[str, str | None](self._load_roles, cache=False)
        self.node_sharing = DataLoader[str, NodeSharingView | None](self._load_sharing,
                                                                     cache=False)
        self.group_sharing = DataLoader[str, GroupPeople | None](self._load_group_sharing,
                                                                 cache=False)

    async def _load_sharing(self, node_ids: list[str]) -> list[NodeSharingView | None]:
        """Who shares each node (None where the caller does not reach it): one look-up for
        the whole batch, so listing nodes with their sharing is no N+1."""
        views = await self._uc.sharing.nodes.node_sharing(await self._caller(), among=node_ids)
        by_node = {view.node_id: view for view in views}
        return [by_node.get(node_id) for node_id in node_ids]

    async def _load_group_sharing(self, group_ids: list[str]) -> list[GroupPeople | None]:
        """Who shares each group (None where the caller does not reach it): one look-up of
        every group the caller reaches, nested, for the whole batch (no N+1)."""
        roots = await self._uc.sharing.groups.group_sharing(await self._caller(),
                                                               sub_groups=True)
        by_group: dict[str, GroupPeople] = {}
        pending = list(roots)
        while pending:
            people = pending.pop()
            by_group.setdefault(people.group.id, people)
            pending.extend(people.sub_groups)
        return [by_group.get(group_id) for group_id in group_ids]

    async def _load_roles(self, node_ids: list[str]) -> list[str | None]:
        """The caller's role on each node, for nodes read without their membership (mutation
        payloads): one query for the whole batch."""
        roles = await self._uc.devices.watch.roles(await self._caller(), node_ids=node_ids)
        return [roles.get(node_id) for node_id in node_ids]
