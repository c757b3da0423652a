"""Roles and policies in GraphQL, for policy authors: policies, roles, userRoles, auditLog,
explainAccess, apiPaths and their mutations; and adminNodes/adminNode, the organization's
nodes as an admin sees them (narrowed by the node filters of the caller's policies, exactly
as GET /v1/admin/nodes is). Resolvers translate and call the use cases named in "uses"."""

from __future__ import annotations

from typing import Any

import strawberry

from domain.access.policies import Policies
from domain.access.rbac.model import Role
from domain.access.review import AccessReview
from domain.access.role_assignments import RoleAssignments
from domain.access.roles import Roles
from domain.devices.admin import AdminNodes
from domain.paging import MAX_PAGE
from graphql_api import node_types as n
from graphql_api.access_types import (
    AccessExplanation,
    AdminNodeConnection,
    AdminNodeEdge,
    AdminNodeFilter,
    ApiPath,
    AuditEntryEdge,
    AuditEntryType,
    AuditLogConnection,
    CreatePolicyInput,
    CreateRoleInput,
    DeletePolicyInput,
    DeletePolicyPayload,
    DeleteRolePayload,
    NodeReachType,
    PolicyPayload,
    PolicyType,
    RoleNameInput,
    RolePayload,
    RoleType,
    RuleType,
    UpdatePolicyInput,
    UpdateRoleInput,
    UserRolesInput,
    UserRolesPayload,
)
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, after_anchor, encode_cursor


@strawberry.type
class AccessQueries:
    @strawberry.field(description="The organization's policies (or the one named).",
                      metadata=uses(Policies.policies))
    async def policies(self, info: Ctx, name: str | None = None) -> list[PolicyType]:
        ctx = info.context
        found = await ctx.access.policies.policies(await ctx.caller(), name=name)
        return [PolicyType.of(p) for p in found]

    @strawberry.field(description="The organization's roles, built-in ones first (or the one "
                                  "named).", metadata=uses(Roles.roles))
    async def roles(self, info: Ctx, name: str | None = None) -> list[RoleType]:
        ctx = info.context
        found = await ctx.access.roles.roles(await ctx.caller(), name=name)
        return [RoleType.of(r) for r in found]

    @strawberry.field(description="The roles of a user of the organization.",
                      metadata=uses(RoleAssignments.user_roles))
    async def user_roles(self, info: Ctx, user_name: str | None = None,
                         user_id: strawberry.ID | None = None) -> list[str]:
        ctx = info.context
        return await ctx.access.assignments.user_roles(
            await ctx.caller(), user_name=user_name, user_id=user_id)

    @strawberry.field(description="The user names holding a role.",
                      metadata=uses(RoleAssignments.role_holders))
    async def role_holders(self, info: Ctx, role_name: str) -> list[str]:
        ctx = info.context
        return await ctx.access.assignments.role_holders(await ctx.caller(),
                                                                  role_name=role_name)

    @strawberry.field(description="Changes to roles, policies and role assignments, newest "
                                  "first (superadmins).",
                      metadata=uses(AccessReview.audit_log))
    async def audit_log(self, info: Ctx, first: int = 25,
                        after: str | None = None) -> AuditLogConnection:
        ctx = info.context
        anchor = after_anchor(after)
        page = await ctx.access.review.audit_log(await ctx.caller(), after=anchor,
                                                          limit=first)
        edges = [AuditEntryEdge(cursor=encode_cursor(e.id), node=AuditEntryType.of(e))
                 for e in page.entries]
        return AuditLogConnection(edges=edges, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None))

    @strawberry.field(description="Whether a user may use (resource, action) — a canonical REST "
                                  "path and an HTTP method — and the rules that decided it; "
                                  "with nodeId, whether that node is within the node filters.",
                      metadata=uses(AccessReview.explain))
    async def explain_access(self, info: Ctx, resource: str, action: str,
                             user_name: str | None = None, user_id: strawberry.ID | None = None,
                             node_id: strawberry.ID | None = None) -> AccessExplanation:
        ctx = info.context
        found = await ctx.access.review.explain(
            await ctx.caller(), user_name=user_name, user_id=user_id, resource=resource,
            action=action, node_id=node_id)
        return AccessExplanation(
            allowed=found.allowed, reason=found.reason, user_id=strawberry.ID(found.user_id),
            user_name=found.user_name, roles=list(found.roles),
            matched=[RuleType.of(r) for r in found.matched],
            deciding=[RuleType.of(r) for r in found.deciding],
            node_filters=None if found.node_reach is None
            else [NodeReachType.of(r) for r in found.node_reach],
            node_in_reach=found.node_in_reach)

    @strawberry.field(description="The REST paths and methods policies can name.",
                      metadata=uses(AccessReview.api_paths))
    async def api_paths(self, info: Ctx, all_paths: bool = True) -> list[ApiPath]:
        ctx = info.context
        found = await ctx.access.review.api_paths(await ctx.caller(), all_paths=all_paths)
        return [ApiPath(path=p, methods=list(m)) for p, m in found]

    @strawberry.field(description="The organization's nodes as an admin sees them, ordered by "
                                  "id (narrowed by the node filters of the caller's policies).",
                      metadata=uses(AdminNodes.list_nodes))
    async def admin_nodes(self, info: Ctx, filter: AdminNodeFilter | None = None,
                          first: int = 25, after: str | None = None) -> AdminNodeConnection:
        ctx = info.context
        anchor = after_anchor(after)
        extra = 1 if anchor is not None and 0 < first < MAX_PAGE else 0
        wanted = filter or AdminNodeFilter()
        page = await ctx.devices.admin.list_nodes(
            await ctx.caller(), type=wanted.type, model=wanted.model,
            fw_version=wanted.fw_version, tags=wanted.tags, node_status=wanted.node_status,
            start_id=anchor, num_records=first + extra)
        listed = list(page.nodes)
        if anchor is not None and listed and listed[0].id == anchor:
            listed = listed[1:]
        edges = [AdminNodeEdge(cursor=encode_cursor(node.id), node=n.NodeType.of(node))
                 for node in listed[:first]]
        return AdminNodeConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None or len(listed) > first))

    @strawberry.field(description="One node of the organization as an admin sees it "
                                  "(NOT_FOUND outside the caller's node filters).",
                      metadata=uses(AdminNodes.list_nodes))
    async def admin_node(self, info: Ctx, id: strawberry.ID) -> n.NodeType:
        ctx = info.context
        page = await ctx.devices.admin.list_nodes(await ctx.caller(), node_id=str(id))
        return n.NodeType.of(page.nodes[0])


def _role_payload(role: Role) -> RolePayload:
    return RolePayload(role=RoleType.of(role))


@strawberry.type
class AccessMutations:
    @strawberry.mutation(metadata=uses(Policies.create_policy))
    async def create_policy(self, info: Ctx, input: CreatePolicyInput) -> PolicyPayload:
        ctx = info.context
        policy = await ctx.access.policies.create_policy(
            await ctx.caller(), name=input.name, policy_json=input.document)
        return PolicyPayload(policy=PolicyType.of(policy))

    @strawberry.mutation(metadata=uses(Policies.update_policy))
    async def update_policy(self, info: Ctx, input: UpdatePolicyInput) -> PolicyPayload:
        ctx = info.context
        policy = await ctx.access.policies.update_policy(
            await ctx.caller(), name=input.name, policy_json=input.document)
        return PolicyPayload(policy=PolicyType.of(policy))

    @strawberry.mutation(metadata=uses(Policies.delete_policy))
    async def delete_policy(self, info: Ctx, input: DeletePolicyInput) -> DeletePolicyPayload:
        ctx = info.context
        detached = await ctx.access.policies.delete_policy(
            await ctx.caller(), name=input.name, force=input.force)
        return DeletePolicyPayload(name=input.name, detached_from_roles=detached)

    @strawberry.mutation(metadata=uses(Roles.create_role))
    async def create_role(self, info: Ctx, input: CreateRoleInput) -> RolePayload:
        ctx = info.context
        return _role_payload(await ctx.access.roles.create_role(
            await ctx.caller(), name=input.name, policies=input.policies, level=input.level))

    @strawberry.mutation(metadata=uses(Roles.update_role))
    async def update_role(self, info: Ctx, input: UpdateRoleInput) -> RolePayload:
        ctx = info.context
        return _role_payload(await ctx.access.roles.update_role(
            await ctx.caller(), name=input.name, operation=input.operation,
            policies=input.policies, level=input.level))

    @strawberry.mutation(metadata=uses(Roles.delete_role))
    async def delete_role(self, info: Ctx, input: RoleNameInput) -> DeleteRolePayload:
        ctx = info.context
        await ctx.access.roles.delete_role(await ctx.caller(), name=input.name)
        return DeleteRolePayload(name=input.name)

    @strawberry.mutation(metadata=uses(RoleAssignments.change_roles),
                         description="Gives a user roles (each needs a holder of a strictly "
                                     "lower level; level 0 may give any).")
    async def assign_roles(self, info: Ctx, input: UserRolesInput) -> UserRolesPayload:
        return await _change(info, input, "add")

    @strawberry.mutation(metadata=uses(RoleAssignments.change_roles))
    async def remove_roles(self, info: Ctx, input: UserRolesInput) -> UserRolesPayload:
        return await _change(info, input, "remove")


async def _change(info: Ctx, input: UserRolesInput, operation: str) -> UserRolesPayload:
    ctx = info.context
    roles: Any = list(input.roles)
    return UserRolesPayload(roles=await ctx.access.assignments.change_roles(
        await ctx.caller(), operation=operation, roles=roles, user_name=input.user_name,
        user_id=input.user_id))
