"""Making a user a node's primary and what goes with it: the extras a mapping sets (tags,
metadata, a group of the user's), and what is forgotten with the last mapping or a reset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.devices.model import PRIMARY, Node, check_tags
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.groups.model import MAX_DEPTH, GroupTree
from domain.identifiers import is_record_id
from domain.jsonshape import nesting_exceeds
from domain.shadow import merge_shadow
from domain.sharing.model import NodeMembership
from ports.repositories.uow import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class MappingExtras:
    """What a mapping request may set on the node once confirmed."""

    tags: list[str]
    metadata: dict[str, Any] | None
    group_id: str | None = None


def check_extras(tags: object = None, metadata: object = None,
                 group_id: object = None) -> MappingExtras:
    checked_tags = check_tags(tags) if tags is not None else []
    if group_id is not None and (not isinstance(group_id, str) or not is_record_id(group_id)):
        raise ValidationFailed("Invalid group id", reason="invalid_body")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object", reason="invalid_body")
    if metadata is not None and nesting_exceeds(metadata, 8):
        raise ValidationFailed("metadata nests too deep", reason="invalid_body")
    return MappingExtras(tags=checked_tags, metadata=metadata,
                         group_id=group_id if isinstance(group_id, str) else None)


async def check_own_group(uow: UnitOfWork, extras: MappingExtras, user_id: str) -> None:
    """A group named by a mapping request is one of the user's own (else NOT_FOUND, as for
    anyone else's group): the group passes the node on to those it is shared with."""
    if extras.group_id is not None:
        group = await uow.groups.get(extras.group_id)
        if group is None or group.owner_id != user_id:
            raise NotFound("Group does not exist", reason="group_not_found")


async def join_group(uow: UnitOfWork, node_id: str, user_id: str, group_id: str) -> bool:
    """Puts a newly mapped node in one of the user's groups and in the groups above it (a
    sub-group holds only its parent's nodes). False, and nothing written, when the group is
    gone or mutual exclusion forbids it: the mapping itself stands."""
    group = await uow.groups.get(group_id)
    if group is None or group.owner_id != user_id:
        return False
    tree = GroupTree(await uow.groups.for_owner(user_id))
    chain = [tree.by_id[group.id]]
    while chain[-1].parent_id in tree.by_id and len(chain) < MAX_DEPTH:
        chain.append(tree.by_id[chain[-1].parent_id or ""])
    changed = [g for g in chain if g.add_nodes([node_id])]
    try:
        for member in changed:
            tree.check_exclusive(member)
    except Conflict:
        return False
    for member in changed:
        await uow.groups.save(member)
    return True


async def forget_node_data(uow: UnitOfWork, node_id: str) -> None:
    """What goes with the last mapping (or a reset): the node's stored params history, and
    its place in users' device groups."""
    await uow.params_history.delete_for_node(node_id)
    await uow.groups.remove_node_everywhere(node_id)


async def grant_primary(uow: UnitOfWork, node: Node, user_id: str, now: datetime, *,
                        reset: bool = False, extras: MappingExtras | None = None) -> bool:
    """Makes user_id the node's primary. False (nothing written) when another user is
    primary and this is no reset; with reset every earlier mapping and the node's history
    go first. Mapping the owner again changes nothing but the extras."""
    members = await uow.memberships.for_node(node.id)
    owner = next((m for m in members if m.role == PRIMARY), None)
    if reset:
        if members:
            await uow.memberships.remove_all(node.id)
        await forget_node_data(uow, node.id)
        owner = None
    elif owner is not None and owner.user_id != user_id:
        return False
    if owner is None:
        await uow.memberships.remove(node.id, user_id)  # a secondary becoming primary
        await uow.memberships.add(NodeMembership(node_id=node.id, org_id=node.org_id,
                                                 user_id=user_id, role=PRIMARY, created_at=now))
    if extras is not None and extras.group_id is not None:
        await join_group(uow, node.id, user_id, extras.group_id)
    if extras is not None and (extras.tags or extras.metadata is not None):
        if extras.tags:
            node.add_tags(extras.tags)
        if extras.metadata is not None:
            node.metadata = merge_shadow(node.metadata, extras.metadata)
        await uow.nodes.save(node)
    return True
