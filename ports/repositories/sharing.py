"""Sharing: who reaches which node, sharing requests and group shares."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from domain.sharing.model import GroupShare, NodeMembership, SharingRequest


class MembershipRepository(Protocol):
    """Who may reach which node, and as what: directly (source "NODE": mapping, node
    sharing; stored) or through a group shared with the user (source: the group id; derived
    on every read from the group's members and shares, while the group's owner holds the
    node directly; primary only when both the share and the owner's access are)."""

    async def add(self, membership: NodeMembership) -> None:
        """Adds a direct membership."""
        ...

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        """The user's effective access to the node (domain.sharing.model.strongest of its
        direct and group-derived memberships), in one query."""
        ...

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None: ...
    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        """The node's direct memberships."""
        ...

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        """The user's effective access, one membership per node (the strongest), ordered
        by node id, in one query whatever the number of groups and nodes."""
        ...

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        """A page of for_user: at most limit memberships from node id start_id on, only of
        nodes having any of tags (when given); with the id the next page starts at (None on
        the last page) and how many match in all. Costs the same whatever the number of
        nodes the user reaches (ids compared byte-wise, like Python's sorted())."""
        ...

    async def remove(self, node_id: str, user_id: str) -> None:
        """Removes a direct membership (access through groups is left as it is)."""
        ...
    async def remove_all(self, node_id: str) -> int:
        """Drops every user's access to the node; returns how many there were."""
        ...

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        """The node's memberships, direct and through groups (a user may appear once per
        source), each with its user's user_name, ordered by user id, then source."""
        ...

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        """members_of for many nodes in one query, ordered by node id, then user id."""
        ...


class SharingRequestRepository(Protocol):
    """Node sharing requests."""

    async def add(self, request: SharingRequest) -> None: ...
    async def get(self, request_id: str) -> SharingRequest | None: ...
    async def save(self, request: SharingRequest) -> None: ...
    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        """Requests the user sent (or received), of one kind (node or group; None: both),
        ordered by id, from start_id on (inclusive), at most limit."""
        ...


class GroupShareRepository(Protocol):
    """Who a group is shared with, and as what (stored per group shared; sub-groups are
    reached through their ancestors' shares)."""

    async def add(self, share: GroupShare) -> None: ...
    async def get(self, group_id: str, user_id: str) -> GroupShare | None: ...
    async def for_user(self, user_id: str) -> Sequence[GroupShare]:
        """The groups shared with the user (not the ones it owns), ordered by group id."""
        ...

    async def people(self, group_ids: Sequence[str]) -> Sequence[tuple[GroupShare, str]]:
        """Everyone with a role on these groups: each owner (owner=True, primary) and each
        share, with the user's user_name, ordered by group id, then user id; one query."""
        ...

    async def remove(self, group_id: str, user_id: str) -> None: ...
