"""User device groups in GraphQL: groups/group queries and the group mutations. Each resolver
translates its input, calls the use cases it names in "uses", and maps the result; nodes,
subGroups and parent resolve from the page the query read (no query per group)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.devices.group_sharing import GroupSharing
from domain.devices.groups import UNSET, GroupPage, UserGroups
from domain.devices.nodes import MAX_PAGE
from domain.errors import NotFound, ValidationFailed
from domain.groups.model import NodeGroup
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses
from graphql_api.group_sharing import GroupRole, GroupSharingType
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor


@strawberry.type(name="Group")
class GroupType:
    id: strawberry.ID
    name: str
    type: str
    description: str
    mutually_exclusive: bool
    custom_data: JSON | None
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

    @strawberry.field(description="Direct sub-groups, ordered by id.",
                      metadata=uses(UserGroups.list_groups))
    def sub_groups(self) -> list[GroupType]:
        return [GroupType.of(g, self.page) for g in self.page.tree.children(self.group.id)]

    @strawberry.field(description="The parent group (null at the top level).",
                      metadata=uses(UserGroups.list_groups))
    def parent(self) -> GroupType | None:
        parent = self.page.tree.by_id.get(self.group.parent_id or "")
        return GroupType.of(parent, self.page) if parent is not None else None

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
        return cls(id=strawberry.ID(group.id), name=group.name, type=group.type,
                   description=group.description, mutually_exclusive=group.mutually_exclusive,
                   custom_data=group.custom_data, metadata=group.metadata,
                   node_ids=[strawberry.ID(i) for i in group.nodes], group=group, page=page)


@strawberry.type
class GroupEdge:
    cursor: str
    node: GroupType


@strawberry.type
class GroupConnection:
    edges: list[GroupEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class CreateGroupInput:
    name: str
    node_ids: list[strawberry.ID] | None = None
    parent_id: strawberry.ID | None = None
    type: str | None = None
    description: str | None = None
    mutually_exclusive: bool = False
    custom_data: JSON | None = None
    metadata: JSON | None = None


@strawberry.input(description="Fields left out stay as they are; parentId null moves the "
                              "group to the top level; customData merges (thing shadow).")
class UpdateGroupInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET
    type: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    mutually_exclusive: bool | None = strawberry.UNSET
    custom_data: JSON | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET


@strawberry.input
class GroupNodesInput:
    group_id: strawberry.ID
    node_ids: list[strawberry.ID]


@strawberry.input
class DeleteGroupInput:
    id: strawberry.ID


@strawberry.type
class GroupPayload:
    group: GroupType


@strawberry.type
class DeleteGroupPayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="The group and its sub-groups.")


def _given(value: Any) -> Any:
    return UNSET if value is strawberry.UNSET else value


async def _read(info: Ctx, group_id: str) -> GroupPayload:
    ctx = info.context
    page = await ctx.devices.groups.list_groups(await ctx.caller(), group_id=group_id,
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
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        # list_groups pages from an inclusive start_id: read one more and drop the anchor
        extra = 1 if anchor is not None and 0 < first < MAX_PAGE else 0
        page = await ctx.devices.groups.list_groups(await ctx.caller(), start_id=anchor,
                                                    num_records=first + extra,
                                                    node_details=True)
        listed = page.groups
        if anchor is not None and listed and listed[0].id == anchor:
            listed = listed[1:]
        edges = [GroupEdge(cursor=encode_cursor(g.id), node=GroupType.of(g, page))
                 for g in listed[:first]]
        return GroupConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None or len(listed) > first))


@strawberry.type
class GroupMutations:
    @strawberry.mutation(metadata=uses(UserGroups.create_group, UserGroups.list_groups),
                         description="Creates a group of nodes the caller reaches (at most "
                                     "three levels; mutually exclusive per type and parent).")
    async def create_group(self, info: Ctx, input: CreateGroupInput) -> GroupPayload:
        ctx = info.context
        group = await ctx.devices.groups.create_group(
            await ctx.caller(), name=input.name,
            nodes=None if input.node_ids is None else [str(i) for i in input.node_ids],
            parent_id=None if input.parent_id is None else str(input.parent_id),
            type=input.type, description=input.description,
            mutually_exclusive=input.mutually_exclusive, metadata=input.metadata,
            custom_data=input.custom_data)
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(UserGroups.update_group, UserGroups.list_groups),
                         description="Updates a group's fields.")
    async def update_group(self, info: Ctx, input: UpdateGroupInput) -> GroupPayload:
        ctx = info.context
        parent = _given(input.parent_id)
        group = await ctx.devices.groups.update_group(
            await ctx.caller(), group_id=str(input.id), name=_given(input.name),
            parent_id=str(parent) if parent not in (UNSET, None) else parent,
            type=_given(input.type), description=_given(input.description),
            mutually_exclusive=_given(input.mutually_exclusive),
            metadata=_given(input.metadata), custom_data=_given(input.custom_data))
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(UserGroups.update_group, UserGroups.list_groups),
                         description="Adds nodes the caller reaches to a group.")
    async def add_nodes_to_group(self, info: Ctx, input: GroupNodesInput) -> GroupPayload:
        ctx = info.context
        await ctx.devices.groups.update_group(await ctx.caller(), group_id=str(input.group_id),
                                              operation="add",
                                              nodes=[str(i) for i in input.node_ids])
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(UserGroups.update_group, UserGroups.list_groups),
                         description="Removes nodes from a group and its sub-groups.")
    async def remove_nodes_from_group(self, info: Ctx, input: GroupNodesInput) -> GroupPayload:
        ctx = info.context
        await ctx.devices.groups.update_group(await ctx.caller(), group_id=str(input.group_id),
                                              operation="remove",
                                              nodes=[str(i) for i in input.node_ids])
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(UserGroups.delete_group),
                         description="Deletes a group and its sub-groups.")
    async def delete_group(self, info: Ctx, input: DeleteGroupInput) -> DeleteGroupPayload:
        ctx = info.context
        gone = await ctx.devices.groups.delete_group(await ctx.caller(), group_id=str(input.id))
        return DeleteGroupPayload(deleted_ids=[strawberry.ID(i) for i in gone])
