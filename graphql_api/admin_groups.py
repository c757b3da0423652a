"""Admin device groups in GraphQL: adminGroups/adminGroup queries and the admin group
mutations. Each resolver translates its input, calls the use cases it names in "uses", and
maps the result; nodes, subGroups and parent resolve from the page the query read (no query
per group)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.devices.admin import MAX_PAGE
from domain.devices.admin_groups import UNSET, AdminGroupPage, AdminGroups
from domain.errors import ValidationFailed
from domain.groups.admin.model import AdminGroup, GroupQuery
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor


@strawberry.type(name="AdminGroupQuery", description="A dynamic group's rule: nodes whose "
                                                     "type, model and firmware version equal "
                                                     "those set.")
class GroupQueryType:
    node_type: str | None
    node_model: str | None
    node_fw_version: str | None

    @classmethod
    def of(cls, query: GroupQuery) -> GroupQueryType:
        return cls(node_type=query.node_type, node_model=query.node_model,
                   node_fw_version=query.node_fw_version)


@strawberry.type(name="AdminGroup")
class AdminGroupType:
    id: strawberry.ID
    name: str
    type: str
    description: str
    mutually_exclusive: bool
    custom_data: JSON | None
    created_at: datetime
    node_ids: list[strawberry.ID]
    query: GroupQueryType | None = strawberry.field(
        description="Set on a dynamic group (its members follow it on regroup).")
    group: strawberry.Private[AdminGroup]
    page: strawberry.Private[AdminGroupPage]

    @strawberry.field(description="The group's nodes.",
                      metadata=uses(AdminGroups.list_groups))
    def nodes(self) -> list[n.NodeType]:
        found = self.page.nodes
        return [n.NodeType.of(found[i]) for i in self.group.nodes if i in found]

    @strawberry.field(description="Direct sub-groups, ordered by id.",
                      metadata=uses(AdminGroups.list_groups))
    def sub_groups(self) -> list[AdminGroupType]:
        return [AdminGroupType.of(g, self.page) for g in self.page.tree.children(self.group.id)]

    @strawberry.field(description="The parent group (null at the top level).",
                      metadata=uses(AdminGroups.list_groups))
    def parent(self) -> AdminGroupType | None:
        parent = self.page.tree.by_id.get(self.group.parent_id or "")
        return AdminGroupType.of(parent, self.page) if parent is not None else None

    @classmethod
    def of(cls, group: AdminGroup, page: AdminGroupPage) -> AdminGroupType:
        return cls(id=strawberry.ID(group.id), name=group.name, type=group.type,
                   description=group.description, mutually_exclusive=group.mutually_exclusive,
                   custom_data=group.custom_data, created_at=group.created_at,
                   node_ids=[strawberry.ID(i) for i in group.nodes],
                   query=GroupQueryType.of(group.query) if group.query else None,
                   group=group, page=page)


@strawberry.type
class AdminGroupEdge:
    cursor: str
    node: AdminGroupType


@strawberry.type
class AdminGroupConnection:
    edges: list[AdminGroupEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Dynamic groups whose query has these values.")
class AdminGroupFilter:
    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None


@strawberry.input(description="A static group (nodeIds, parentId) or a dynamic one (nodeType, "
                              "nodeModel and/or nodeFwVersion; not with nodeIds nor parentId).")
class CreateAdminGroupInput:
    name: str
    node_ids: list[strawberry.ID] | None = None
    parent_id: strawberry.ID | None = None
    type: str | None = None
    description: str | None = None
    mutually_exclusive: bool = False
    custom_data: JSON | None = None
    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None


@strawberry.input(description="Fields left out stay as they are; customData merges (thing "
                              "shadow).")
class UpdateAdminGroupInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    type: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    mutually_exclusive: bool | None = strawberry.UNSET
    custom_data: JSON | None = strawberry.UNSET


@strawberry.input
class AdminGroupNodesInput:
    group_id: strawberry.ID
    node_ids: list[strawberry.ID]


@strawberry.input
class AdminGroupIdInput:
    id: strawberry.ID


@strawberry.input
class RegroupInput:
    group_id: strawberry.ID


@strawberry.type
class AdminGroupPayload:
    group: AdminGroupType


@strawberry.type
class DeleteAdminGroupPayload:
    deleted_ids: list[strawberry.ID] = strawberry.field(
        description="The group and its sub-groups.")


def _given(value: Any) -> Any:
    return UNSET if value is strawberry.UNSET else value


async def _read(info: Ctx, group_id: str) -> AdminGroupPayload:
    ctx = info.context
    page = await ctx.devices.admin_groups.list_groups(await ctx.caller(), group_id=group_id,
                                                      num_records=MAX_PAGE, node_details=True)
    return AdminGroupPayload(group=AdminGroupType.of(page.groups[0], page))


@strawberry.type
class AdminGroupQueries:
    @strawberry.field(description="An admin group of the organization (NOT_FOUND otherwise); "
                                  "FFFF-FFFF is every node of the organization.",
                      metadata=uses(AdminGroups.list_groups))
    async def admin_group(self, info: Ctx, id: strawberry.ID) -> AdminGroupType:
        return (await _read(info, str(id))).group

    @strawberry.field(description="The organization's top-level admin groups (or, with a "
                                  "filter, the dynamic groups of that query), ordered by id.",
                      metadata=uses(AdminGroups.list_groups))
    async def admin_groups(self, info: Ctx, filter: AdminGroupFilter | None = None,
                           first: int = 25, after: str | None = None) -> AdminGroupConnection:
        ctx = info.context
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        # list_groups pages from an inclusive start_id: read one more and drop the anchor
        extra = 1 if anchor is not None and 0 < first < MAX_PAGE else 0
        wanted = filter or AdminGroupFilter()
        page = await ctx.devices.admin_groups.list_groups(
            await ctx.caller(), start_id=anchor, num_records=first + extra, node_details=True,
            node_type=wanted.node_type, node_model=wanted.node_model,
            node_fw_version=wanted.node_fw_version)
        listed = page.groups
        if anchor is not None and listed and listed[0].id == anchor:
            listed = listed[1:]
        edges = [AdminGroupEdge(cursor=encode_cursor(g.id), node=AdminGroupType.of(g, page))
                 for g in listed[:first]]
        return AdminGroupConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None or len(listed) > first))


@strawberry.type
class AdminGroupMutations:
    @strawberry.mutation(metadata=uses(AdminGroups.create_group, AdminGroups.list_groups),
                         description="Creates an admin group: static (at most three levels) "
                                     "or dynamic (a query on type, model, firmware version).")
    async def create_admin_group(self, info: Ctx,
                                 input: CreateAdminGroupInput) -> AdminGroupPayload:
        ctx = info.context
        group = await ctx.devices.admin_groups.create_group(
            await ctx.caller(), name=input.name,
            nodes=None if input.node_ids is None else [str(i) for i in input.node_ids],
            parent_id=None if input.parent_id is None else str(input.parent_id),
            type=input.type, description=input.description,
            mutually_exclusive=input.mutually_exclusive, custom_data=input.custom_data,
            node_type=input.node_type, node_model=input.node_model,
            node_fw_version=input.node_fw_version)
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="Updates an admin group's fields.")
    async def update_admin_group(self, info: Ctx,
                                 input: UpdateAdminGroupInput) -> AdminGroupPayload:
        ctx = info.context
        group = await ctx.devices.admin_groups.update_group(
            await ctx.caller(), group_id=str(input.id), name=_given(input.name),
            type=_given(input.type), description=_given(input.description),
            mutually_exclusive=_given(input.mutually_exclusive),
            custom_data=_given(input.custom_data))
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="Adds nodes of the organization to a static admin group "
                                     "(and to the groups above it).")
    async def add_nodes_to_admin_group(self, info: Ctx,
                                       input: AdminGroupNodesInput) -> AdminGroupPayload:
        ctx = info.context
        await ctx.devices.admin_groups.update_group(
            await ctx.caller(), group_id=str(input.group_id), operation="add",
            nodes=[str(i) for i in input.node_ids])
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="Removes nodes from a static admin group and its "
                                     "sub-groups.")
    async def remove_nodes_from_admin_group(self, info: Ctx,
                                            input: AdminGroupNodesInput) -> AdminGroupPayload:
        ctx = info.context
        await ctx.devices.admin_groups.update_group(
            await ctx.caller(), group_id=str(input.group_id), operation="remove",
            nodes=[str(i) for i in input.node_ids])
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="A dynamic group's members become the nodes matching "
                                     "its query now.")
    async def regroup(self, info: Ctx, input: RegroupInput) -> AdminGroupPayload:
        ctx = info.context
        await ctx.devices.admin_groups.update_group(
            await ctx.caller(), group_id=str(input.group_id), regroup=True)
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(AdminGroups.delete_group),
                         description="Deletes an admin group and its sub-groups.")
    async def delete_admin_group(self, info: Ctx,
                                 input: AdminGroupIdInput) -> DeleteAdminGroupPayload:
        ctx = info.context
        gone = await ctx.devices.admin_groups.delete_group(await ctx.caller(),
                                                           group_id=str(input.id))
        return DeleteAdminGroupPayload(deleted_ids=[strawberry.ID(i) for i in gone])
