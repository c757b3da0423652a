"""Use cases on an organization's admin device groups (RainMaker /v1/admin/node_group):
create (static, or dynamic from a query on type/model/fw_version), update, regroup, list and
delete. Admin groups belong to the organization, not to a user: any admin of it reads and
edits them, and nobody outside it sees them (the unit of work is scoped to the caller's
organization, so another organization's group ids are NOT_FOUND like unknown ones)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.access.model import Caller, requires
from domain.access.permissions import ADMIN_GROUPS
from domain.devices.model import Node
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.groups.admin.model import ALL_NODES, AdminGroup, AdminGroupTree, GroupQuery
from domain.groups.model import check_node_list
from domain.groups.tree import (
    NO_GROUP,
    UNSET,
    check_flag,
    check_listing,
    check_operation,
    new_fields,
    page_from,
    update_fields,
    with_subtree,
)
from domain.identifiers import is_record_id
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminGroupPage:
    """Listed groups (top-level ones, or the one asked for) with the tree of all groups (for
    sub-groups and parents). For one group: node_ids is its page of nodes (by id, from
    start_id) and next_id the next page's first node; otherwise next_id is the next page's
    first group. nodes holds the Node of each listed node when details were asked for."""

    groups: list[AdminGroup]
    tree: AdminGroupTree
    next_id: str | None
    total: int
    node_ids: list[str] = field(default_factory=list)
    nodes: dict[str, Node] = field(default_factory=dict)


def _writable_id(group_id: object) -> str:
    if not isinstance(group_id, str) or not group_id:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    if group_id == ALL_NODES:
        raise ValidationFailed(f"The group {ALL_NODES} holds every node of the organization; "
                               "it cannot be updated or deleted",
                               reason="all_nodes_group_read_only")
    return group_id


def _query(node_type: object, node_model: object, node_fw_version: object) -> GroupQuery | None:
    if node_type is None and node_model is None and node_fw_version is None:
        return None
    # GroupQuery.__post_init__ checks the values are text
    return GroupQuery(node_type=node_type, node_model=node_model,  # type: ignore[arg-type]
                      node_fw_version=node_fw_version)  # type: ignore[arg-type]


def _known(tree: AdminGroupTree, group_id: str) -> AdminGroup:
    group = tree.by_id.get(group_id) if is_record_id(group_id) else None
    if group is None:
        raise NotFound(NO_GROUP, reason="group_not_found")
    return group


async def _check_org_nodes(uow: UnitOfWork, node_ids: Sequence[str]) -> None:
    """Every node is one of the organization's (one query, whatever the count)."""
    found = {n.id for n in await uow.nodes.get_many(node_ids)}
    missing = [n for n in node_ids if n not in found]
    if missing:
        raise NotFound(f"Some of the nodes do not exist in the organization: "
                       f"{', '.join(missing[:5])}", reason="admin_group_nodes_not_found")


async def admin_group_node_ids(uow: UnitOfWork, group_ids: Sequence[str]) -> list[str]:
    """The union of the member node ids of these admin groups, sorted; ALL_NODES stands for
    every node of the organization. One query whatever the number of groups (unknown group
    ids add nothing)."""
    if ALL_NODES in group_ids:
        return list(await uow.admin_groups.all_node_ids())
    return list(await uow.admin_groups.member_ids(list(dict.fromkeys(group_ids))))


class AdminGroups:
    """The organization's admin device groups: hierarchy (three levels), mutual exclusion,
    custom data, static or query-based membership."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer

    @requires(ADMIN_GROUPS, "POST")
    async def create_group(self, caller: Caller, *, name: object, nodes: object = None,
                           parent_id: object = None, type: object = None,
                           description: object = None, mutually_exclusive: object = False,
                           custom_data: object = None, node_type: object = None,
                           node_model: object = None,
                           node_fw_version: object = None) -> AdminGroup:
        """Creates an admin group of the caller's organization.

        - name 1..256 characters without \\ # $ |, unique among its siblings (CONFLICT);
        - nodes: 1..100 nodes of the organization (else NOT_FOUND); in a sub-group they are
          added to the groups above it as well (RainMaker's rule for admin groups);
        - parent: an admin group of the organization, not a dynamic one; at most three
          levels, 100 sub-groups per group;
        - node_type / node_model / node_fw_version make a dynamic group: not with nodes nor a
          parent; its members are the matching nodes now (none: NOT_FOUND); one dynamic
          group per query (CONFLICT);
        - mutually exclusive: its nodes are in no other mutually exclusive group of the same
          type and parent (CONFLICT); custom_data is stored by thing-shadow rules;
        - nothing is written when any rule fails.
        """
        principal = caller.require_principal()
        query = _query(node_type, node_model, node_fw_version)
        if query is not None and nodes is not None:
            raise ValidationFailed("Error, nodes not to be specified with node_model, "
                                   "node_type or node_fw_version",
                                   reason="group_query_with_nodes")
        if query is not None and parent_id is not None:
            raise ValidationFailed("Error, sub grouping not supported with grouping by "
                                   "node_model, node_type or node_fw_version",
                                   reason="group_query_with_parent")
        group = AdminGroup(id=self._ids.new_id(), org_id=principal.org_id,
                           created_by=principal.user_id, created_at=self._clock.now(),
                           query=query, **new_fields(
                               name=name, type=type, description=description,
                               mutually_exclusive=mutually_exclusive, custom_data=custom_data))
        node_ids = check_node_list(nodes) if nodes is not None else []
        async with self._uow(principal.org_id) as uow:
            tree = AdminGroupTree(await uow.admin_groups.all())
            touched: list[AdminGroup] = []
            if parent_id is not None:
                parent = _known(tree, str(parent_id) if isinstance(parent_id, str) else "")
                if parent.dynamic:
                    raise ValidationFailed("The specified parent group is a dynamic group, "
                                           "which cannot have sub-groups",
                                           reason="dynamic_group_parent")
                group.parent_id = parent.id
                tree.check_parent(group, parent)
            if query is not None:
                if any(g.query == query for g in tree.by_id.values()):
                    raise Conflict("A dynamic group with the given group_query already exists.",
                                   reason="group_query_exists")
                node_ids = list(await uow.admin_groups.matching_node_ids(query))
                if not node_ids:
                    raise NotFound("No nodes found for the given group_query",
                                   reason="group_query_no_nodes")
            else:
                await _check_org_nodes(uow, node_ids)
            group.add_nodes(node_ids)
            tree.by_id[group.id] = group
            for above in tree.ancestors(group):
                if above.add_nodes(node_ids):
                    touched.append(above)
            tree.check_name(group)
            for changed in (group, *touched):
                tree.check_exclusive(changed)
            await uow.admin_groups.add(group)
            if touched:
                await uow.admin_groups.save_many(touched)
            await uow.commit()
        return group

    @requires(ADMIN_GROUPS, "PUT")
    async def update_group(self, caller: Caller, *, group_id: object, operation: object = None,
                           nodes: object = None, name: object = UNSET, type: object = UNSET,
                           description: object = UNSET, mutually_exclusive: object = UNSET,
                           custom_data: object = UNSET, regroup: object = False,
                           node_type: object = UNSET, node_model: object = UNSET,
                           node_fw_version: object = UNSET) -> AdminGroup:
        """Adds or removes nodes (operation add|remove with nodes), updates fields, or
        regroups a dynamic group.

        - FFFF-FFFF (every node) cannot be updated; a group's query cannot change;
        - at least one change; operation needs 1..100 nodes;
        - add: nodes of the organization, added to the groups above too; remove: nodes in
          the group (else VALIDATION), removed from its sub-groups too;
        - a dynamic group takes no nodes; regroup (dynamic groups only, not with operation,
          name, description or type) makes its members the nodes matching its query now;
        - names and mutual exclusion are checked again; custom_data merges (thing shadow);
        - all or nothing.
        """
        principal = caller.require_principal()
        wanted_id = _writable_id(group_id)
        if any(v is not UNSET for v in (node_type, node_model, node_fw_version)):
            raise ValidationFailed("Error, node_model, node_type or node_fw_version not to be "
                                   "specified in an update request",
                                   reason="group_query_in_update")
        again = check_flag(regroup, "regroup") if regroup is not None else False
        if again and (operation is not None or any(
                f is not UNSET for f in (name, description, type))):
            raise ValidationFailed("Regroup cannot be specified with operation, group_name, "
                                   "description or type", reason="regroup_with_fields")
        fields = (name, type, description, mutually_exclusive, custom_data)
        op, node_ids = check_operation(
            operation, nodes, empty=not again and all(f is UNSET for f in fields),
            wanted="group name, type, description, mutually_exclusive, custom_data, "
                   "regroup [true]")
        async with self._uow(principal.org_id) as uow:
            tree = AdminGroupTree(await uow.admin_groups.all())
            group = _known(tree, wanted_id)
            touched = {group.id: group}
            if again and group.query is None:
                raise ValidationFailed("Error, cannot regroup as the group is not created "
                                       "using group_query", reason="regroup_static_group")
            if op is not None and group.dynamic:
                raise ValidationFailed("Error, nodes array not to be specified for dynamic "
                                       "groups", reason="dynamic_group_nodes")
            update_fields(group, name=name, type=type, description=description,
                          mutually_exclusive=mutually_exclusive, custom_data=custom_data)
            if again and group.query is not None:
                group.regroup(await uow.admin_groups.matching_node_ids(group.query))
            if op == "add":
                await _check_org_nodes(uow, node_ids)
                for member in (group, *tree.ancestors(group)):
                    if member.add_nodes(node_ids):
                        touched[member.id] = member
            elif op == "remove":
                absent = [n for n in node_ids if n not in set(group.nodes)]
                if absent:
                    raise ValidationFailed("Some of the nodes do not exist in the group: "
                                           f"{', '.join(absent[:5])}",
                                           reason="nodes_not_in_group")
                for member in (group, *tree.descendants(group)):
                    if member.remove_nodes(node_ids):
                        touched[member.id] = member
            tree.check_name(group)
            for changed in touched.values():
                tree.check_exclusive(changed)
            await uow.admin_groups.save_many(list(touched.values()))
            await uow.commit()
        return group

    @requires(ADMIN_GROUPS, "GET")
    async def list_groups(self, caller: Caller, *, group_id: object = None,
                          group_name: object = None, node_type: object = None,
                          node_model: object = None, node_fw_version: object = None,
                          start_id: object = None, num_records: object = 25,
                          node_details: bool = False) -> AdminGroupPage:
        """The organization's top-level groups ordered by id, a page at a time (sub-groups
        hang below them), or the one asked for with a page of its nodes.

        - group_id or group_name (not both); an unknown one is NOT_FOUND;
        - group_id FFFF-FFFF is the virtual group of every node of the organization;
        - node_type / node_model / node_fw_version list the dynamic groups whose query has
          those values;
        - start_id is the previous page's next_id (a group id, or for one group a node id);
          num_records 1..100; node_details adds the nodes (one more query);
        - a constant number of queries whatever the number of groups and nodes.
        """
        principal = caller.require_principal()
        size = check_listing(group_id, group_name, num_records)
        filters = tuple(v if isinstance(v, str) else None
                        for v in (node_type, node_model, node_fw_version))
        if any(v is not None and not isinstance(v, str) for v in
               (node_type, node_model, node_fw_version)):
            raise ValidationFailed("node filters must be text", reason="invalid_body")
        async with self._uow(principal.org_id) as uow:
            if group_id == ALL_NODES:
                every = list(await uow.admin_groups.all_node_ids())
                page, next_id = page_from(every, start_id, size)
                virtual = AdminGroup(id=ALL_NODES, org_id=principal.org_id,
                                     name="All nodes", created_at=self._clock.now(),
                                     description="Every node of the organization",
                                     nodes=every)
                nodes = {n.id: n for n in await uow.nodes.get_many(page)} if node_details \
                    else {}
                return AdminGroupPage(groups=[virtual], tree=AdminGroupTree([virtual]),
                                      next_id=next_id, total=len(every), node_ids=page,
                                      nodes=nodes)
            tree = AdminGroupTree(await uow.admin_groups.all())
            if group_id is not None or group_name is not None:
                if group_id is not None:
                    chosen = _known(tree, group_id if isinstance(group_id, str) else "")
                else:
                    named = sorted((g for g in tree.by_id.values() if g.name == group_name),
                                   key=lambda g: (g.parent_id is not None, g.id))
                    if not named:
                        raise NotFound("Group with the group name doesn't exist",
                                       reason="group_name_not_found")
                    chosen = named[0]
                page, next_id = page_from(sorted(chosen.nodes), start_id, size)
                # the group's sub-groups hold only its nodes; its root holds its parents'
                wanted = tree.root(chosen).nodes if node_details else []
                nodes = {n.id: n for n in await uow.nodes.get_many(wanted)} if wanted else {}
                return AdminGroupPage(groups=[chosen], tree=tree, next_id=next_id,
                                      total=len(chosen.nodes), node_ids=page, nodes=nodes)
            if any(v is not None for v in filters):
                listed = [g for g in sorted(tree.by_id.values(), key=lambda g: g.id)
                          if g.query is not None and g.query.narrows_to(*filters)]
            else:
                listed = tree.top_level()
            rest = [g for g in listed
                    if not isinstance(start_id, str) or not start_id or g.id >= start_id]
            groups, more = rest[:size], rest[size:]
            wanted_ids = sorted({n for g in groups for n in g.nodes}) if node_details else []
            nodes = {n.id: n for n in await uow.nodes.get_many(wanted_ids)} \
                if wanted_ids else {}
        return AdminGroupPage(groups=groups, tree=tree, next_id=more[0].id if more else None,
                              total=len(listed), nodes=nodes)

    @requires(ADMIN_GROUPS, "DELETE")
    async def delete_group(self, caller: Caller, *, group_id: object) -> list[str]:
        """Deletes an admin group and its sub-groups; returns their ids.

        - FFFF-FFFF cannot be deleted; an unknown group (or another organization's) is
          NOT_FOUND.
        """
        principal = caller.require_principal()
        wanted_id = _writable_id(group_id)
        async with self._uow(principal.org_id) as uow:
            tree = AdminGroupTree(await uow.admin_groups.all())
            group = _known(tree, wanted_id)
            doomed = [g.id for g in with_subtree(tree, group)]
            await uow.admin_groups.delete_many(doomed)
            await uow.commit()
        return doomed
