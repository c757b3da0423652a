"""User device groups in GraphQL: groups/group queries and the group mutations. Each resolver
translates its input, calls the use cases it names in "uses", and maps the result; nodes,
subGroups and parent resolve from the page the query read (no query per group)."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from domain.errors import NotFound
from domain.groups.model import NodeGroup
from domain.groups.tree import UNSET
from domain.groups.user_groups import GroupPage, UserGroups
from domain.sharing.groups import GroupSharing
from graphql_api import group_common as common
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses
from graphql_api.group_sharing import GroupRole, GroupSharingType


@strawberry.type(name="Group")
class GroupType(common.GroupFields):
    metadata: JSON | None = strawberry.field(description="Deprecated RainMaker group_metadata.")
    node_ids: list[strawberry.ID] = strawberry.field(
        description="The group's nodes the caller still reaches.")
    group: strawberry.Private[NodeGroup]
    page: strawberry.Private[GroupPage]

    @strawberry.field(description="The group's nodes.", metadata=uses(UserGroups.list_groups))
    def nodes(self) -> list[n.NodeType]:
        page = self.page
        return [n.NodeType.of(page.nodes[i], page.memberships[i].role)
                for i in self.group.nodes if i in page.nodes and i in page.memberships]

    sub_groups, parent = common.tree_fields(UserGroups.list_groups, "GroupType",
                                            "graphql_api.groups")

    @strawberry.field(description="The caller's role on the group.",
                      metadata=uses(UserGroups.list_groups))
    def role(self) -> GroupRole:
        return GroupRole(self.page.roles.get(self.group.id, GroupRole.SECONDARY.value))

    @strawberry.field(description="Who shares the group; a secondary sees only the "
                                  "primaries.", metadata=uses(GroupSharing.group_sharing))
    async def sharing(self, info: Ctx) -> GroupSharingType:
        people = await info.context.loaders.group_sharing.load(self.group.id)
        if people is None:
            raise NotFound("Group does not exist", reason="group_not_found")
        return GroupSharingType.of(people)

    @classmethod
    def of(cls, group: NodeGroup, page: GroupPage) -> GroupType:
        return cls(metadata=group.metadata, node_ids=[strawberry.ID(i) for i in group.nodes],
                   group=group, page=page, **common.group_fields(group))


GroupEdge, GroupConnection = common.connection(GroupType, "Group")


@strawberry.input
class CreateGroupInput(common.CreateFields):
    metadata: JSON | None = None


@strawberry.input
class UpdateParent:
    parent_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input(description="Fields left out stay as they are; parentId null moves the "
                              "group to the top level; customData merges (thing shadow).")
class UpdateGroupInput(common.UpdateHead, UpdateParent, common.UpdateTail):
    metadata: JSON | None = strawberry.UNSET


GroupNodesInput = common.nodes_input("GroupNodesInput")
DeleteGroupInput = common.id_input("DeleteGroupInput")
GroupPayload, DeleteGroupPayload = common.payloads("Group", GroupType)


async def _read(info: Ctx, group_id: str) -> GroupPayload:
    ctx = info.context
    page = await ctx.groups.user.list_groups(await ctx.caller(), group_id=group_id,
                                                node_details=True)
    return GroupPayload(group=GroupType.of(page.groups[0], page))


@strawberry.type
class GroupQueries:
    @strawberry.field(description="One of the caller's groups (NOT_FOUND otherwise).",
                      metadata=uses(UserGroups.list_groups))
    async def group(self, info: Ctx, id: strawberry.ID) -> GroupType:
        return (await _read(info, str(id))).group

    @strawberry.field(description="The caller's groups, ordered by id.",
                      metadata=uses(UserGroups.list_groups))
    async def groups(self, info: Ctx, first: int = 25,
                     after: str | None = None) -> GroupConnection:
        ctx = info.context
        window = await common.GroupWindow.read(ctx.groups.user.list_groups, ctx.caller,
                                               first, after)
        return window.connection(GroupEdge, GroupConnection, lambda g: GroupType.of(g, window.page))


@strawberry.type
class GroupMutations:
    @strawberry.mutation(metadata=uses(UserGroups.create_group, UserGroups.list_groups),
                         description="Creates a group of nodes the caller reaches (at most "
                                     "three levels; mutually exclusive per type and parent).")
    async def create_group(self, info: Ctx, input: CreateGroupInput) -> GroupPayload:
        ctx = info.context
        group = await ctx.groups.user.create_group(
            await ctx.caller(), metadata=input.metadata, **common.create_args(input))
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(UserGroups.update_group, UserGroups.list_groups),
                         description="Updates a group's fields.")
    async def update_group(self, info: Ctx, input: UpdateGroupInput) -> GroupPayload:
        ctx = info.context
        parent = common.given(input.parent_id)
        group = await ctx.groups.user.update_group(
            await ctx.caller(), parent_id=str(parent) if parent not in (UNSET, None) else parent,
            metadata=common.given(input.metadata), **common.update_args(input))
        return await _read(info, group.id)

    add_nodes_to_group = common.node_mutation(
        (UserGroups.update_group, UserGroups.list_groups),
        lambda ctx: ctx.groups.user.update_group, "add",
        GroupNodesInput, GroupPayload, _read, "Adds nodes the caller reaches to a group.")
    remove_nodes_from_group = common.node_mutation(
        (UserGroups.update_group, UserGroups.list_groups),
        lambda ctx: ctx.groups.user.update_group, "remove",
        GroupNodesInput, GroupPayload, _read, "Removes nodes from a group and its sub-groups.")

    @strawberry.mutation(metadata=uses(UserGroups.delete_group),
                         description="Deletes a group and its sub-groups.")
    async def delete_group(self, info: Ctx, input: DeleteGroupInput) -> DeleteGroupPayload:
        ctx = info.context
        gone = await ctx.groups.user.delete_group(await ctx.caller(), group_id=str(input.id))
        return DeleteGroupPayload(deleted_ids=[strawberry.ID(i) for i in gone])
