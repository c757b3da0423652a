"""Admin device groups in GraphQL: adminGroups/adminGroup queries and the admin group
mutations. Each resolver translates its input, calls the use cases it names in "uses", and
maps the result; nodes, subGroups and parent resolve from the page the query read (no query
per group)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.groups.admin.model import AdminGroup, GroupQuery
from domain.groups.admin_groups import AdminGroupPage, AdminGroups
from domain.paging import MAX_PAGE
from graphql_api import group_common as common
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses


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
class AdminGroupType(common.GroupFields):
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

    sub_groups, parent = common.tree_fields(AdminGroups.list_groups, "AdminGroupType",
                                            "graphql_api.admin_groups")

    @classmethod
    def of(cls, group: AdminGroup, page: AdminGroupPage) -> AdminGroupType:
        return cls(created_at=group.created_at,
                   node_ids=[strawberry.ID(i) for i in group.nodes],
                   query=GroupQueryType.of(group.query) if group.query else None,
                   group=group, page=page, **common.group_fields(group))


AdminGroupEdge, AdminGroupConnection = common.connection(AdminGroupType, "AdminGroup")


@strawberry.input(description="Dynamic groups whose query has these values.")
class AdminGroupFilter:
    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None


@strawberry.input(description="A static group (nodeIds, parentId) or a dynamic one (nodeType, "
                              "nodeModel and/or nodeFwVersion; not with nodeIds nor parentId).")
class CreateAdminGroupInput(common.CreateFields):
    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None


@strawberry.input(description="Fields left out stay as they are; customData merges (thing "
                              "shadow).")
class UpdateAdminGroupInput(common.UpdateHead, common.UpdateTail):
    pass


AdminGroupNodesInput = common.nodes_input("AdminGroupNodesInput")
AdminGroupIdInput = common.id_input("AdminGroupIdInput")


@strawberry.input
class RegroupInput:
    group_id: strawberry.ID


AdminGroupPayload, DeleteAdminGroupPayload = common.payloads("AdminGroup", AdminGroupType)


async def _read(info: Ctx, group_id: str) -> AdminGroupPayload:
    ctx = info.context
    page = await ctx.groups.admin.list_groups(await ctx.caller(), group_id=group_id,
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
        wanted = filter or AdminGroupFilter()
        window = await common.GroupWindow.read(
            ctx.groups.admin.list_groups, ctx.caller, first, after,
            node_type=wanted.node_type, node_model=wanted.node_model,
            node_fw_version=wanted.node_fw_version)
        return window.connection(AdminGroupEdge, AdminGroupConnection,
                                 lambda g: AdminGroupType.of(g, window.page))


@strawberry.type
class AdminGroupMutations:
    @strawberry.mutation(metadata=uses(AdminGroups.create_group, AdminGroups.list_groups),
                         description="Creates an admin group: static (at most three levels) "
                                     "or dynamic (a query on type, model, firmware version).")
    async def create_admin_group(self, info: Ctx,
                                 input: CreateAdminGroupInput) -> AdminGroupPayload:
        ctx = info.context
        group = await ctx.groups.admin.create_group(
            await ctx.caller(), node_type=input.node_type, node_model=input.node_model,
            node_fw_version=input.node_fw_version, **common.create_args(input))
        return await _read(info, group.id)

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="Updates an admin group's fields.")
    async def update_admin_group(self, info: Ctx,
                                 input: UpdateAdminGroupInput) -> AdminGroupPayload:
        ctx = info.context
        group = await ctx.groups.admin.update_group(await ctx.caller(),
                                                            **common.update_args(input))
        return await _read(info, group.id)

    add_nodes_to_admin_group = common.node_mutation(
        (AdminGroups.update_group, AdminGroups.list_groups),
        lambda ctx: ctx.groups.admin.update_group, "add", AdminGroupNodesInput,
        AdminGroupPayload, _read,
        "Adds nodes of the organization to a static admin group (and to the groups above it).")
    remove_nodes_from_admin_group = common.node_mutation(
        (AdminGroups.update_group, AdminGroups.list_groups),
        lambda ctx: ctx.groups.admin.update_group, "remove", AdminGroupNodesInput,
        AdminGroupPayload, _read, "Removes nodes from a static admin group and its sub-groups.")

    @strawberry.mutation(metadata=uses(AdminGroups.update_group, AdminGroups.list_groups),
                         description="A dynamic group's members become the nodes matching "
                                     "its query now.")
    async def regroup(self, info: Ctx, input: RegroupInput) -> AdminGroupPayload:
        ctx = info.context
        await ctx.groups.admin.update_group(
            await ctx.caller(), group_id=str(input.group_id), regroup=True)
        return await _read(info, str(input.group_id))

    @strawberry.mutation(metadata=uses(AdminGroups.delete_group),
                         description="Deletes an admin group and its sub-groups.")
    async def delete_admin_group(self, info: Ctx,
                                 input: AdminGroupIdInput) -> DeleteAdminGroupPayload:
        ctx = info.context
        gone = await ctx.groups.admin.delete_group(await ctx.caller(),
                                                           group_id=str(input.id))
        return DeleteAdminGroupPayload(deleted_ids=[strawberry.ID(i) for i in gone])
