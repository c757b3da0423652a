"""Who reaches a user device group, and as what: its owner (primary), and the users it or
one of its ancestors is shared with (primary or secondary, the strongest share deciding).
Everyone else gets NOT_FOUND, so group ids cannot be probed."""

from __future__ import annotations

from domain.devices.model import PRIMARY, SECONDARY
from domain.errors import NotFound
from domain.groups.model import (
    MAX_DEPTH,
    NO_GROUP,
    GroupAccess,
    GroupTree,
    NodeGroup,
    VisibleGroups,
    best_share,
    check_group_id,
)
from domain.identifiers import is_record_id
from domain.sharing.model import GroupShare
from ports.repositories.uow import UnitOfWork


async def group_access(uow: UnitOfWork, group_id: object, user_id: str) -> GroupAccess:
    """The user's access to one group: at most three look-ups up the hierarchy plus one per
    level for the shares (the hierarchy has at most three levels)."""
    checked = check_group_id(group_id)
    group = await uow.groups.get(checked) if is_record_id(checked) else None
    if group is None:
        raise NotFound(NO_GROUP, reason="group_not_found")
    if group.owner_id == user_id:
        return GroupAccess(group=group, role=PRIMARY, via=None)
    chain, current = [group.id], group
    while current.parent_id is not None and len(chain) < MAX_DEPTH:
        parent = await uow.groups.get(current.parent_id)
        if parent is None:
            break
        chain.append(parent.id)
        current = parent
    shares = [s for gid in chain if (s := await uow.group_shares.get(gid, user_id))]
    best = best_share(shares)
    if best is None:
        raise NotFound(NO_GROUP, reason="group_not_found")
    return GroupAccess(group=group, role=best.role, via=best.group_id)


async def visible_groups(uow: UnitOfWork, user_id: str) -> VisibleGroups:
    """A constant number of queries whatever the number of groups and nodes."""
    owned = list(await uow.groups.for_owner(user_id))
    shares = {s.group_id: s for s in await uow.group_shares.for_user(user_id)}
    mine = {g.id for g in owned}
    shared = [g for g in await uow.groups.subtrees(sorted(shares)) if g.id not in mine]
    tree = GroupTree([*owned, *shared])
    roles: dict[str, str] = {g.id: PRIMARY for g in owned}
    via: dict[str, str | None] = {g.id: None for g in owned}
    for group in shared:
        granting: list[GroupShare] = []
        seen: set[str] = set()
        current: NodeGroup | None = group
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if current.id in shares:
                granting.append(shares[current.id])
            current = tree.by_id.get(current.parent_id) if current.parent_id else None
        best = best_share(granting)
        roles[group.id] = best.role if best is not None else SECONDARY
        via[group.id] = best.group_id if best is not None else None
    return VisibleGroups(tree=tree, roles=roles, via=via, shares=shares)


class GroupReachRules:
    """The ReachableGroups port: other areas (sharing) ask who reaches a group through it."""

    async def group_access(self, uow: UnitOfWork, group_id: object, user_id: str
                           ) -> GroupAccess:
        return await group_access(uow, group_id, user_id)

    async def visible_groups(self, uow: UnitOfWork, user_id: str) -> VisibleGroups:
        return await visible_groups(uow, user_id)
