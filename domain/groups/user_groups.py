"""Use cases on a user's device groups (RainMaker /v1/user/node_group): create, update,
add/remove nodes, list and delete. Groups belong to one user (their owner) inside the
organization; everyone else's groups are NOT_FOUND, so group ids cannot be probed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.access.model import Caller, requires
from domain.access.permissions import USER_GROUPS
from domain.devices.model import PRIMARY, Node, NodeEvent
from domain.errors import Forbidden, NotFound, ValidationFailed
from domain.groups.access import group_access, visible_groups
from domain.groups.model import GroupTree, NodeGroup, check_node_list, merge_document
from domain.groups.tree import (
    NO_GROUP,
    UNSET,
    check_listing,
    check_operation,
    new_fields,
    update_fields,
    with_subtree,
)
from domain.identifiers import is_record_id
from domain.sharing.model import NodeMembership
from ports.events import EventPublisher
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator

NODE_ADDED, NODE_REMOVED = "user_node_group_added", "user_node_group_removed"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupPage:
    """A page of the caller's groups; `tree` holds all of them (for sub_groups), and with
    node details the nodes and the caller's memberships of every listed node."""

    groups: list[NodeGroup]
    tree: GroupTree
    next_id: str | None
    total: int
    nodes: dict[str, Node] = field(default_factory=dict)
    memberships: dict[str, NodeMembership] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    """The caller's role on each group (primary: owner or shared as primary)."""


async def _owned(uow: UnitOfWork, group_id: object, user_id: str) -> NodeGroup:
    if not isinstance(group_id, str) or not group_id:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    group = await uow.groups.get(group_id) if is_record_id(group_id) else None
    if group is None or group.owner_id != user_id:
        raise NotFound(NO_GROUP, reason="group_not_found")
    return group


async def _check_held(uow: UnitOfWork, owner_id: str, node_ids: Sequence[str]) -> None:
    """Every node is one the group's owner holds itself (mapped or shared with it as a node,
    not only reached through someone else's group): that is what the group passes on to
    the users it is shared with. One query, more only for nodes reached both ways."""
    reached = {m.node_id: m for m in await uow.memberships.for_user(owner_id)}
    for node_id in node_ids:
        found = reached.get(node_id)
        if found is None or (not found.direct
                             and await uow.memberships.get_direct(node_id, owner_id) is None):
            raise NotFound("Some of the nodes are not mapped by user",
                           reason="group_nodes_not_mapped")


async def _as_primary(uow: UnitOfWork, group_id: object, user_id: str) -> NodeGroup:
    """The group, if the user is one of its primaries (owner, or shared as primary); a
    secondary is FORBIDDEN, anyone else NOT_FOUND."""
    access = await group_access(uow, group_id, user_id)
    if access.role != PRIMARY:
        raise Forbidden("Error, User should be primary owner of the groups in the request",
                        reason="group_not_primary")
    return access.group


class UserGroups:
    """A user's device groups: hierarchy (three levels), mutual exclusion, custom data."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, events: EventPublisher) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._events = events

    async def _publish(self, kind: str, org_id: str, group_id: str,
                       node_ids: Sequence[str]) -> None:
        now = self._clock.now()
        for node_id in node_ids:
            await self._events.publish(NodeEvent(kind=kind, node_id=node_id, org_id=org_id,
                                                 at=now, data={"group_id": group_id}))

    @requires(USER_GROUPS, "POST")
    async def create_group(self, caller: Caller, *, name: object, nodes: object = None,
                           parent_id: object = None, type: object = None,
                           description: object = None, mutually_exclusive: object = False,
                           metadata: object = None, custom_data: object = None) -> NodeGroup:
        """Creates a group owned by the caller.

        - name 1..256 characters without \\ # $ |, unique among its siblings (CONFLICT);
        - nodes: 1..100 the caller reaches (else NOT_FOUND), all in the parent group when
          there is one;
        - parent: a group of the caller's; at most three levels, 100 sub-groups per group;
        - mutually exclusive: its nodes are in no other mutually exclusive group of the
          same type and parent (CONFLICT naming the group and the node);
        - metadata / custom_data are stored by thing-shadow rules; nothing is written when
          any rule fails.
        """
        principal, user_id = caller.require_user()
        fields = new_fields(name=name, type=type, description=description,
                            mutually_exclusive=mutually_exclusive, custom_data=custom_data)
        group = NodeGroup(id=self._ids.new_id(), org_id=principal.org_id, owner_id=user_id,
                          created_at=self._clock.now(),
                          metadata=merge_document(None, metadata) or None, **fields)
        node_ids = check_node_list(nodes) if nodes is not None else []
        async with self._uow(principal.org_id) as uow:
            tree = GroupTree(await uow.groups.for_owner(user_id))
            if parent_id is not None:
                parent = await _owned(uow, parent_id, user_id)
                group.parent_id = parent.id
                tree.check_parent(group, parent)
            await _check_held(uow, user_id, node_ids)
            tree.check_in_parent(group, node_ids)
            group.add_nodes(node_ids)
            tree.check_name(group)
            tree.check_exclusive(group)
            await uow.groups.add(group)
            await uow.commit()
        await self._publish(NODE_ADDED, group.org_id, group.id, group.nodes)
        return group

    @requires(USER_GROUPS, "PUT")
    async def update_group(self, caller: Caller, *, group_id: object, operation: object = None,
                           nodes: object = None, name: object = UNSET,
                           parent_id: object = UNSET, type: object = UNSET,
                           description: object = UNSET, mutually_exclusive: object = UNSET,
                           metadata: object = UNSET, custom_data: object = UNSET) -> NodeGroup:
        """Adds or removes nodes (operation add|remove with nodes) and/or updates fields.

        - at least one of them is given; operation needs 1..100 nodes;
        - add: nodes the caller reaches, in the parent group when there is one; removing a
          node also removes it from the group's sub-groups;
        - parent_id (null: top level): no cycle, at most three levels with the group's own
          sub-groups;
        - name, type, parent and mutual exclusion are checked again after the change
          (unique sibling names, mutual exclusion per type and parent);
        - metadata / custom_data merge by thing-shadow rules (null deletes, {} no change);
        - all or nothing.
        """
        principal, user_id = caller.require_user()
        fields = (name, parent_id, type, description, mutually_exclusive, metadata,
                  custom_data)
        op, node_ids = check_operation(
            operation, nodes, empty=all(f is UNSET for f in fields),
            wanted="group name, type, description, mutually_exclusive, custom_data")
        added: list[tuple[str, str]] = []
        removed: list[tuple[str, str]] = []
        async with self._uow(principal.org_id) as uow:
            group = await _as_primary(uow, group_id, user_id)
            owner_id = group.owner_id
            tree = GroupTree(await uow.groups.for_owner(owner_id))
            group = tree.by_id[group.id]
            update_fields(group, name=name, type=type, description=description,
                          mutually_exclusive=mutually_exclusive, custom_data=custom_data)
            if metadata is not UNSET:
                group.metadata = merge_document(group.metadata, metadata)
            if parent_id is not UNSET:
                parent = await _owned(uow, parent_id, owner_id) if parent_id is not None \
                    else None
                tree.check_parent(group, parent)
                group.parent_id = parent.id if parent is not None else None
                tree.check_in_parent(group, group.nodes)
            if op == "add":
                await _check_held(uow, owner_id, node_ids)
                tree.check_in_parent(group, node_ids)
                added = [(group.id, n) for n in group.add_nodes(node_ids)]
            elif op == "remove":
                for member in [group, *tree.descendants(group)]:
                    gone = member.remove_nodes(node_ids)
                    removed += [(member.id, n) for n in gone]
                    if gone and member is not group:
                        await uow.groups.save(member)
            tree.check_name(group)
            tree.check_exclusive(group)
            await uow.groups.save(group)
            await uow.commit()
        for gid, node_id in added:
            await self._publish(NODE_ADDED, group.org_id, gid, [node_id])
        for gid, node_id in removed:
            await self._publish(NODE_REMOVED, group.org_id, gid, [node_id])
        return group

    @requires(USER_GROUPS, "GET")
    async def list_groups(self, caller: Caller, *, group_id: object = None,
                          group_name: object = None, start_id: object = None,
                          num_records: object = 25, node_details: bool = False) -> GroupPage:
        """The groups the caller reaches (its own, those shared with it and their
        sub-groups), ordered by id, a page at a time, or the one named.

        - group_id or group_name (not both) narrows to that group (NOT_FOUND otherwise);
        - start_id is the next_id of the previous page; num_records 1..100;
        - a group lists only nodes the caller still reaches;
        - a constant number of queries whatever the number of groups and nodes.
        """
        principal, user_id = caller.require_user()
        size = check_listing(group_id, group_name, num_records)
        async with self._uow(principal.org_id) as uow:
            visible = await visible_groups(uow, user_id)
            tree = visible.tree
            groups = sorted(tree.by_id.values(), key=lambda g: g.id)
            reached = {m.node_id: m for m in await uow.memberships.for_user(user_id)}
            for group in groups:
                group.nodes = [n for n in group.nodes if n in reached]
            if group_id is not None:
                chosen = [g for g in groups if g.id == group_id]
                if not chosen:
                    raise NotFound(NO_GROUP, reason="group_not_found")
            elif group_name is not None:
                chosen = [g for g in groups if g.name == group_name][:1]
                if not chosen:
                    raise NotFound("Group with the group name doesn't exist",
                                   reason="group_name_not_found")
            else:
                chosen = [g for g in groups
                          if not isinstance(start_id, str) or not start_id or g.id >= start_id]
            page, more = chosen[:size], chosen[size:]
            nodes: dict[str, Node] = {}
            if node_details:
                # a sub-group's nodes are all in its parent: the top-level groups above the
                # page hold every node a reader can navigate to (parents, sub-groups)
                wanted = {n for g in page for n in tree.root(g).nodes}
                nodes = {n.id: n for n in await uow.nodes.get_many(sorted(wanted))}
        total = len(chosen) if group_id is None and group_name is None else 1
        return GroupPage(groups=page, tree=tree, next_id=more[0].id if more else None,
                         total=total, nodes=nodes, memberships=reached, roles=visible.roles)

    @requires(USER_GROUPS, "DELETE")
    async def delete_group(self, caller: Caller, *, group_id: object) -> list[str]:
        """Deletes a group and its sub-groups (and so every share of them); returns their
        ids.

        - the owner or a user it is shared with as primary; a secondary is FORBIDDEN;
          anyone else, or an unknown group: NOT_FOUND.
        """
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            group = await _as_primary(uow, group_id, user_id)
            tree = GroupTree(await uow.groups.for_owner(group.owner_id))
            doomed = with_subtree(tree, tree.by_id[group.id])
            await uow.groups.delete_many([g.id for g in doomed])
            await uow.commit()
        for gone in doomed:
            await self._publish(NODE_REMOVED, gone.org_id, gone.id, gone.nodes)
        return [g.id for g in doomed]
