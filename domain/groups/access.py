"""Who reaches a user device group, and as what: its owner (primary), and the users it or
one of its ancestors is shared with (primary or secondary, the strongest share deciding).
Everyone else gets NOT_FOUND, so group ids cannot be probed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.devices.model import PRIMARY, SECONDARY
from domain.errors import NotFound, ValidationFailed
from domain.groups.model import MAX_DEPTH, GroupTree, NodeGroup
from domain.identifiers import is_record_id
from domain.sharing.model import GroupShare
from ports.repositories.uow import UnitOfWork

NO_GROUP = "Group does not exist"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAccess:
    group: NodeGroup
    role: str
    via: str | None
    """The group whose share grants the access (the group itself or an ancestor); None for
    the owner."""

    @property
    def owner(self) -> bool:
        return self.via is None


def check_group_id(group_id: object) -> str:
    if not isinstance(group_id, str) or not group_id:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    return group_id


def _best(shares: Sequence[GroupShare]) -> GroupShare | None:
    ranked = sorted(shares, key=lambda s: (s.role != PRIMARY, s.group_id))
    return ranked[0] if ranked else None


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
    best = _best(shares)
    if best is None:
        raise NotFound(NO_GROUP, reason="group_not_found")
    return GroupAccess(group=group, role=best.role, via=best.group_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class VisibleGroups:
    """Every group a user reaches (owned, shared, and the sub-groups of shared ones), with
    the user's role on each and the share that grants it."""

    tree: GroupTree
    roles: dict[str, str]
    via: dict[str, str | None]
    shares: dict[str, GroupShare]

    def roots(self) -> list[NodeGroup]:
        """The groups the user reaches whose parent it does not reach."""
        return [g for g in sorted(self.tree.by_id.values(), key=lambda g: g.id)
                if g.parent_id is None or g.parent_id not in self.tree.by_id]


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
        best = _best(granting)
        roles[group.id] = best.role if best is not None else SECONDARY
        via[group.id] = best.group_id if best is not None else None
    return VisibleGroups(tree=tree, roles=roles, via=via, shares=shares)
