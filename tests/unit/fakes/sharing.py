"""In-memory fakes of the sharing ports: node memberships (direct and through groups) and
sharing requests."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence

from domain.devices.model import PRIMARY, SECONDARY
from domain.sharing.model import NodeMembership, SharingRequest, strongest
from tests.unit.fakes.store import _Repo


class InMemoryMemberships(_Repo):
    async def add(self, membership: NodeMembership) -> None:
        self.s.memberships[(membership.node_id, membership.user_id)] = copy.deepcopy(membership)

    def _all(self) -> list[NodeMembership]:
        """Direct memberships and those derived from group shares (the same rule as the
        SQL adapter: a member node the group's owner holds directly; primary only when
        both the share and the owner's access are)."""
        found = [copy.deepcopy(m) for m in self.s.memberships.values() if self.visible(m.org_id)]
        for (group_id, user_id), share in sorted(self.s.group_shares.items()):
            group = self.s.groups.get(group_id)
            if group is None or not self.visible(share.org_id):
                continue
            for node_id in group.nodes:
                own = self.s.memberships.get((node_id, group.owner_id))
                if own is not None:
                    role = PRIMARY if share.role == PRIMARY and own.role == PRIMARY \
                        else SECONDARY
                    found.append(NodeMembership(node_id=node_id, org_id=share.org_id,
                                                user_id=user_id, role=role, source=group_id,
                                                created_at=share.created_at))
        return sorted(found, key=lambda m: (m.node_id, m.user_id, m.source))

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        return strongest(m for m in self._all() if m.node_id == node_id
                         and m.user_id == user_id)

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None:
        found = self.s.memberships.get((node_id, user_id))
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        return [copy.deepcopy(m) for (n, _), m in self.s.memberships.items()
                if n == node_id and self.visible(m.org_id)]

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        by_node: dict[str, list[NodeMembership]] = {}
        for m in self._all():
            if m.user_id == user_id:
                by_node.setdefault(m.node_id, []).append(m)
        return [m for m in (strongest(ms) for _, ms in sorted(by_node.items()))
                if m is not None]

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        matching = [m for m in await self.for_user(user_id)
                    if not tags or set(tags).intersection(self.s.nodes[m.node_id].tags)]
        following = [m for m in matching if start_id is None or m.node_id >= start_id]
        more = following[limit:]
        return following[:limit], more[0].node_id if more else None, len(matching)

    async def remove(self, node_id: str, user_id: str) -> None:
        self.s.memberships.pop((node_id, user_id), None)

    async def remove_all(self, node_id: str) -> int:
        gone = [k for k, m in self.s.memberships.items()
                if k[0] == node_id and self.visible(m.org_id)]
        for key in gone:
            del self.s.memberships[key]
        return len(gone)

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        return [(m, self.s.users[m.user_id].user_name)
                for m in self._all() if m.node_id == node_id]

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        return [pair for node_id in sorted(set(node_ids))
                for pair in await self.members_of(node_id)]


class InMemorySharingRequests(_Repo):
    async def add(self, request: SharingRequest) -> None:
        self.s.sharing_requests[request.id] = copy.deepcopy(request)

    async def get(self, request_id: str) -> SharingRequest | None:
        found = self.s.sharing_requests.get(request_id)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, request: SharingRequest) -> None:
        if request.id in self.s.sharing_requests and self.visible(request.org_id):
            self.s.sharing_requests[request.id] = copy.deepcopy(request)

    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        found = [r for r in self.s.sharing_requests.values() if self.visible(r.org_id)
                 and (r.from_user_id if sent else r.to_user_id) == user_id
                 and (kind is None or r.kind == kind)
                 and (start_id is None or r.id >= start_id)]
        return [copy.deepcopy(r) for r in sorted(found, key=lambda r: r.id)[:limit]]
