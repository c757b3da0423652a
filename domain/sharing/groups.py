"""Group sharing: a primary of a user device group offers it (and so its sub-groups and,
while the group's owner holds them, its nodes, now and as they are added) to another user of
the organization, as primary or secondary, or transfers the group. Node access through a
group is derived on every read (ports.repositories.MembershipRepository), so removing a node
from the group, or unsharing the group, takes effect on the very next request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.model import Caller, requires
from domain.access.permissions import GROUP_SHARING, GROUP_SHARING_REQUESTS, USER_GROUPS
from domain.devices.model import PRIMARY, SECONDARY, NodeEvent
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.groups.model import NO_GROUP, GroupAccess, GroupTree, NodeGroup
from domain.sharing.engine import (
    GROUP_WORDS,
    MAX_REQUESTS_PAGE,
    RequestPage,
    SharingEngine,
    upgrade_needed,
    visible_people,
)
from domain.sharing.model import (
    GROUP_KIND,
    MAX_SHARED_GROUPS,
    GroupShare,
    NodeMembership,
    SharingRequest,
)
from ports.reach import ReachableGroups
from ports.repositories.uow import UnitOfWork

GROUP_SHARED_EVENT = "user_node_group_sharing_add"
_NOT_PRIMARY = "Error, User should be primary owner of the groups in the request"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPeople:
    """Who has a role on a group, as the caller may see it (a secondary sees no other
    secondaries): names, and with metadata each user's sharing metadata."""

    group: NodeGroup
    primary: list[str]
    secondary: list[str]
    metadata: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    sub_groups: list[GroupPeople] = field(default_factory=list)
    parents: list[NodeGroup] = field(default_factory=list)
    """The chain above the group, its parent first."""


def check_group_list(groups: object) -> list[str]:
    """1..10 group ids, no duplicates."""
    if not isinstance(groups, list) or not groups:
        raise ValidationFailed("Please specify at least one group in the request",
                               reason="group_sharing_no_groups")
    if len(groups) > MAX_SHARED_GROUPS:
        raise ValidationFailed(f"Group list too long. It can have maximum of "
                               f"{MAX_SHARED_GROUPS} groups.", reason="group_sharing_too_many")
    if not all(isinstance(g, str) and g for g in groups):
        raise ValidationFailed("Invalid GroupIDs list", reason="invalid_body")
    if len(set(groups)) != len(groups):
        raise ValidationFailed("Duplicate group id in request",
                               reason="group_sharing_duplicate")
    return list(groups)


async def _require_primary(uow: UnitOfWork, reach: ReachableGroups, group_ids: Sequence[str],
                           user_id: str, *, transfer: bool) -> list[GroupAccess]:
    """The caller is a primary of every group (NOT_FOUND for one it does not reach); for a
    transfer, its owner, of a top-level group (a sub-group moves with its parent)."""
    found = [await reach.group_access(uow, gid, user_id) for gid in group_ids]
    for access in found:
        if access.role != PRIMARY:
            raise Forbidden(_NOT_PRIMARY, reason="group_sharing_not_primary")
        if transfer and (not access.owner or access.group.parent_id is not None):
            raise ValidationFailed("Error, cannot transfer groups that were shared via "
                                   "parent groups, or sub-groups on their own",
                                   reason="group_transfer_not_owner")
    return found


async def _require_primary_of_nodes(uow: UnitOfWork, groups: Sequence[NodeGroup],
                                    user_id: str, *, direct: bool) -> None:
    """RainMaker 108052: the sharer is primary of every node the groups pass on (the ones
    their owner still holds); for a transfer, primary of them itself (not through a group)."""
    mine = {m.node_id: m for m in await uow.memberships.for_user(user_id)}
    for group in groups:
        for node_id in group.nodes:
            membership: NodeMembership | None = mine.get(node_id)
            if direct and membership is not None and not membership.direct:
                membership = await uow.memberships.get_direct(node_id, user_id)
            owner_holds = membership is not None or \
                await uow.memberships.get_direct(node_id, group.owner_id) is not None
            if owner_holds and (membership is None or membership.role != PRIMARY):
                raise Forbidden("Error, User should be primary owner for all nodes in the "
                                "groups that are in the request",
                                reason="group_sharing_nodes_not_primary")


async def _set_share(uow: UnitOfWork, group: NodeGroup, user_id: str, role: str,
                     metadata: dict[str, Any] | None, now: datetime) -> None:
    """Gives the user a share of the group; never demotes a primary share, never shares a
    group with its owner."""
    if group.owner_id == user_id:
        return
    current = await uow.group_shares.get(group.id, user_id)
    if not upgrade_needed(current.role if current is not None else None, role):
        return
    if current is not None:
        await uow.group_shares.remove(group.id, user_id)
    await uow.group_shares.add(GroupShare(group_id=group.id, org_id=group.org_id,
                                          user_id=user_id, role=role, created_at=now,
                                          metadata=metadata))


class GroupSharing(SharingEngine):
    """Group sharing requests and the sharing of groups between users of one organization."""

    kind, words = GROUP_KIND, GROUP_WORDS

    def __init__(self, *, reach: ReachableGroups, **engine: Any) -> None:
        super().__init__(**engine)
        self._reach = reach

    async def _check_offer(self, uow: UnitOfWork, item_ids: list[str], user_id: str, *,
                           transfer: bool) -> Any:
        await _require_primary(uow, self._reach, item_ids, user_id, transfer=transfer)
        subtrees = await uow.groups.subtrees(item_ids)
        await _require_primary_of_nodes(uow, subtrees, user_id, direct=transfer)
        return subtrees

    async def _reached(self, uow: UnitOfWork, request: SharingRequest) -> bool:
        reached = await self._reach.visible_groups(uow, request.to_user_id)
        return all(g in reached.roles for g in request.group_ids)

    @requires(GROUP_SHARING, "PUT")
    async def share_groups(self, caller: Caller, *, groups: object, user_name: object,
                           primary: object = False, metadata: object = None,
                           transfer: object = False, new_role: object = None
                           ) -> SharingRequest:
        """Offers groups to another user: a pending request (or a grant at once).

        - 1..10 distinct groups, each one the caller is primary of (one it does not reach:
          NOT_FOUND; one it is secondary of: FORBIDDEN), and primary of every node they pass
          on (RainMaker 108052);
        - transfer: only the owner of a top-level group; the receiver becomes the owner
          (and the direct primary of the group's nodes), the sender keeps new_role
          (secondary: a secondary share; none, the default: nothing);
        - the receiver is another user of the organization (unknown and foreign: the same
          NOT_FOUND); a receiver who already reaches every group is granted at once and
          the request comes back accepted;
        - nothing is written when any rule fails; the request expires after the TTL.
        """
        return await self._offer(caller, groups, check_group_list, user_name=user_name,
                                 primary=primary, metadata=metadata, transfer=transfer,
                                 new_role=new_role)

    async def _apply(self, uow: UnitOfWork, request: SharingRequest, now: datetime) -> None:
        """Grants what an accepted request offers, if the sender may still give it."""
        found = await _require_primary(uow, self._reach, request.group_ids, request.from_user_id,
                                       transfer=request.transfer)
        if not request.transfer:
            for access in found:
                await _set_share(uow, access.group, request.to_user_id, request.role,
                                 request.metadata, now)
            return
        receiver_tree = GroupTree(await uow.groups.for_owner(request.to_user_id))
        for access in found:
            moved = list(await uow.groups.subtrees([access.group.id]))
            await _require_primary_of_nodes(uow, moved, request.from_user_id, direct=True)
            for group in moved:
                group.owner_id = request.to_user_id
                receiver_tree.by_id[group.id] = group
                await uow.group_shares.remove(group.id, request.to_user_id)
            root = receiver_tree.by_id[access.group.id]
            receiver_tree.check_name(root)
            receiver_tree.check_exclusive(root)
            for group in moved:
                await uow.groups.save(group)
            for node_id in dict.fromkeys(n for g in moved for n in g.nodes):
                if await uow.memberships.get_direct(node_id, request.from_user_id) is None:
                    continue  # the sender no longer holds it: the group passes nothing on
                await uow.memberships.remove(node_id, request.from_user_id)
                await uow.memberships.remove(node_id, request.to_user_id)
                await uow.memberships.add(NodeMembership(
                    node_id=node_id, org_id=request.org_id, user_id=request.to_user_id,
                    role=PRIMARY, created_at=now))
            if request.new_role == SECONDARY:
                await _set_share(uow, root, request.from_user_id, SECONDARY, None, now)

    async def _announce(self, request: SharingRequest, user_name: str, now: datetime,
                        offered: Any) -> None:
        """user_node_group_sharing_add, once per node the shared groups hold (events are
        delivered to the users who reach the node)."""
        groups: Sequence[NodeGroup] = offered
        if offered is None:
            async with self._uow(request.org_id) as uow:
                groups = await uow.groups.subtrees(request.group_ids)
        for group in groups:
            for node_id in group.nodes:
                await self._events.publish(NodeEvent(
                    kind=GROUP_SHARED_EVENT, node_id=node_id, org_id=request.org_id, at=now,
                    data={"group_id": group.id, "user_name": user_name, "role": request.role,
                          "request_id": request.id, "transfer": request.transfer}))

    @requires(GROUP_SHARING_REQUESTS, "PUT")
    async def respond(self, caller: Caller, *, request_id: object, accept: object
                      ) -> SharingRequest:
        """The receiver accepts or declines a pending group sharing request (anyone else:
        NOT_FOUND; no longer pending: VALIDATION). Accepting grants the groups only if the
        sender is still their primary (and, for a transfer, their owner)."""
        return await self._respond(caller, request_id, accept)

    @requires(GROUP_SHARING_REQUESTS, "DELETE")
    async def cancel_request(self, caller: Caller, *, request_id: object) -> SharingRequest:
        """The sender withdraws a pending group sharing request."""
        return await self._cancel(caller, request_id)

    @requires(GROUP_SHARING_REQUESTS, "GET")
    async def list_requests(self, caller: Caller, *, sent: bool = False,
                            request_id: object = None, start_request_id: object = None,
                            num_records: int = MAX_REQUESTS_PAGE) -> RequestPage:
        """Group sharing requests the caller sent or received (with the groups' names), a
        page of 1..10 at a time, or the one request_id names."""
        return await self._page(caller, sent=sent, request_id=request_id,
                                start_request_id=start_request_id, num_records=num_records)

    @requires(GROUP_SHARING, "DELETE")
    async def unshare_groups(self, caller: Caller, *, groups: object, user_name: object
                             ) -> None:
        """Removes a user's share of groups; effective on the very next request.

        - a primary removes another user's share (the owner's access cannot be removed);
          a user naming itself leaves (only a share of the group itself, not one inherited
          from a parent group: 108055);
        - groups the caller does not reach are NOT_FOUND; a user without a share of one of
          them is VALIDATION; nothing is removed unless every group passes.
        """
        principal, user_id = caller.require_user()
        group_ids = check_group_list(groups)
        async with self._uow(principal.org_id) as uow:
            found = [await self._reach.group_access(uow, gid, user_id) for gid in group_ids]
            target_id = await self._target(uow, user_name, user_id)
            for access in found:
                await self._check_removable(uow, access, user_id, target_id)
            for access in found:
                await uow.group_shares.remove(access.group.id, target_id)
            await uow.commit()

    @staticmethod
    async def _check_removable(uow: UnitOfWork, access: GroupAccess, user_id: str,
                               target_id: str) -> None:
        if target_id == user_id:
            if access.owner:
                raise ValidationFailed("The owner of a group cannot leave it; delete or "
                                       "transfer it instead", reason="group_leave_owner")
            if access.via != access.group.id:
                raise ValidationFailed("Cannot unshare groups that were shared via parent "
                                       "group", reason="group_unshare_via_parent")
            return
        if access.role != PRIMARY:
            raise Forbidden(_NOT_PRIMARY, reason="group_sharing_not_primary")
        if await uow.group_shares.get(access.group.id, target_id) is None:
            if access.group.owner_id == target_id:
                raise ValidationFailed("The owner's access to a group cannot be removed",
                                       reason="group_unshare_owner")
            raise ValidationFailed("The group is not shared with this user (or only through "
                                   "its parent group)", reason="group_sharing_not_shared")

    @requires(USER_GROUPS, "DELETE")
    async def leave_group(self, caller: Caller, *, group_id: object) -> None:
        """The caller gives up a group shared with it (DELETE /v1/user/node_group with
        leave=true): its own share of that group, not one inherited from a parent."""
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            access = await self._reach.group_access(uow, group_id, user_id)
            await self._check_removable(uow, access, user_id, user_id)
            await uow.group_shares.remove(access.group.id, user_id)
            await uow.commit()

    @requires(GROUP_SHARING, "GET")
    async def group_sharing(self, caller: Caller, *, group_id: object = None,
                            sub_groups: bool = False, parent_groups: bool = False
                            ) -> list[GroupPeople]:
        """Who has a role on the groups the caller reaches (or on one group): primaries (the
        owner and primary shares, of the group or an ancestor) and secondaries; a secondary
        caller sees no other secondaries. With sub_groups the sub-groups nest; with
        parent_groups the chain above each group comes too. A constant number of queries."""
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            visible = await self._reach.visible_groups(uow, user_id)
            tree = visible.tree
            if group_id is not None:
                if not isinstance(group_id, str) or group_id not in tree.by_id:
                    raise NotFound(NO_GROUP, reason="group_not_found")
                chosen = [tree.by_id[group_id]]
            else:
                chosen = visible.roots()
            wanted = {g.id for g in tree.by_id.values()}
            # ancestors the caller does not reach still pass their shares down
            above = [g.parent_id for g in visible.roots() if g.parent_id is not None]
            outside: dict[str, NodeGroup] = {}
            while above:
                fetched = await uow.groups.get_many(sorted(set(above) - set(outside)))
                outside.update((g.id, g) for g in fetched)
                above = [g.parent_id for g in fetched if g.parent_id is not None]
            people = await uow.group_shares.people(sorted(wanted | set(outside)))
        everything = {**outside, **tree.by_id}
        on: dict[str, list[tuple[GroupShare, str]]] = {}
        for share, name in people:
            on.setdefault(share.group_id, []).append((share, name))

        def chain(group: NodeGroup) -> list[NodeGroup]:
            found, current = [], everything.get(group.parent_id or "")
            while current is not None and current not in found:
                found.append(current)
                current = everything.get(current.parent_id or "")
            return found

        def view(group: NodeGroup) -> GroupPeople:
            ranks: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
            for holder in [group, *chain(group)]:
                for share, name in on.get(holder.id, []):
                    if share.owner and holder.id != group.id:
                        continue  # an ancestor's owner owns the sub-group too (same tree)
                    known = ranks.get(share.user_id)
                    if known is None or (known[0] != PRIMARY and share.role == PRIMARY):
                        ranks[share.user_id] = (share.role, name, share.metadata)
            primaries, secondaries = visible_people(
                ((r, n) for r, n, _ in ranks.values()), visible.roles.get(group.id))
            shown = set(primaries) | set(secondaries)
            return GroupPeople(
                group=group, primary=primaries, secondary=secondaries,
                metadata={n: m for _, n, m in ranks.values() if n in shown},
                sub_groups=[view(k) for k in tree.children(group.id)] if sub_groups else [],
                parents=chain(group) if parent_groups else [])

        return [view(g) for g in chosen]
