"""Roles and policies in GraphQL, for policy authors: policies, roles, userRoles, auditLog,
explainAccess, apiPaths and their mutations; and adminNodes/adminNode, the organization's
nodes as an admin sees them (narrowed by the node filters of the caller's policies, exactly
as GET /v1/admin/nodes is). Resolvers translate and call the use cases named in "uses"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.access.rbac.model import AuditEntry, NodeReach, Policy, Role, Rule
from domain.access.roles import RolesAndPolicies
from domain.devices.admin import MAX_PAGE, AdminNodes
from domain.errors import ValidationFailed
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor


@strawberry.type(name="Policy")
class PolicyType:
    name: str
    document: JSON = strawberry.field(description="The policy_json as written.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, policy: Policy) -> PolicyType:
        return cls(name=policy.name, document=dict(policy.document.raw),
                   created_at=policy.created_at, updated_at=policy.updated_at)


@strawberry.type(name="Role")
class RoleType:
    name: str
    level: int = strawberry.field(description="Lower is more powerful: superadmin 0, admin 1.")
    policies: list[str]
    builtin: bool

    @classmethod
    def of(cls, role: Role) -> RoleType:
        return cls(name=role.name, level=role.level, policies=list(role.policies),
                   builtin=role.org_id == "*")


@strawberry.type(name="PolicyRule", description="One compiled rule (a Casbin policy line).")
class RuleType:
    subject: str
    domain: str
    resource: str
    action: str
    effect: str
    policy: str = strawberry.field(description="The policy it came from (empty: built-in).")

    @classmethod
    def of(cls, rule: Rule) -> RuleType:
        return cls(subject=rule.subject, domain=rule.domain, resource=rule.resource,
                   action=rule.action, effect=rule.effect, policy=rule.policy)


@strawberry.type(name="PolicyNodeFilter")
class NodeReachType:
    tags: list[str]
    types: list[str]

    @classmethod
    def of(cls, reach: NodeReach) -> NodeReachType:
        return cls(tags=list(reach.tags), types=list(reach.types))


@strawberry.type
class AccessExplanation:
    allowed: bool
    reason: str
    user_id: strawberry.ID
    user_name: str
    roles: list[str]
    matched: list[RuleType] = strawberry.field(description="Every rule matching the request.")
    deciding: list[RuleType] = strawberry.field(
        description="The Deny rules that refused it, or the Allow rules that allowed it.")
    node_filters: list[NodeReachType] | None = strawberry.field(
        description="The node filters narrowing what the permission reaches (null: every "
                    "node).")
    node_in_reach: bool | None = strawberry.field(
        description="With nodeId: whether that node is within the node filters.")


@strawberry.type
class AuditEntryType:
    id: strawberry.ID
    at: datetime
    actor: str
    actor_name: str
    action: str
    target: str
    before: JSON | None
    after: JSON | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryType:
        return cls(id=strawberry.ID(entry.id), at=entry.at, actor=entry.actor,
                   actor_name=entry.actor_name, action=entry.action, target=entry.target,
                   before=entry.before, after=entry.after)


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntryType


@strawberry.type
class AuditLogConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo


@strawberry.type
class ApiPath:
    path: str
    methods: list[str]


@strawberry.type
class AdminNodeEdge:
    cursor: str
    node: n.NodeType


@strawberry.type
class AdminNodeConnection:
    edges: list[AdminNodeEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Every field set narrows the list (GET /v1/admin/nodes's "
                              "filters).")
class AdminNodeFilter:
    type: str | None = None
    model: str | None = None
    fw_version: str | None = None
    tags: str | None = strawberry.field(default=None,
                                        description='"k:v OR k2:v2" or "k:v AND k2:v2"')
    node_status: str | None = None


@strawberry.input
class CreatePolicyInput:
    name: str
    document: JSON = strawberry.field(description="RainMaker policy_json (at most 2 KB).")


@strawberry.input
class UpdatePolicyInput:
    name: str
    document: JSON


@strawberry.input
class DeletePolicyInput:
    name: str
    force: bool = strawberry.field(default=False,
                                   description="Detach it from the roles that use it.")


@strawberry.input
class CreateRoleInput:
    name: str
    policies: list[str]
    level: int


@strawberry.input(description="Attach (ADD) or detach (REMOVE) policies and/or set the level.")
class UpdateRoleInput:
    name: str
    operation: str = "add"
    policies: list[str] | None = None
    level: int | None = None


@strawberry.input
class RoleNameInput:
    name: str


@strawberry.input(description="A user (userName or userId) and the roles to add or remove.")
class UserRolesInput:
    roles: list[str]
    user_name: str | None = None
    user_id: strawberry.ID | None = None


@strawberry.type
class PolicyPayload:
    policy: PolicyType


@strawberry.type
class DeletePolicyPayload:
    name: str
    detached_from_roles: list[str]


@strawberry.type
class RolePayload:
    role: RoleType


@strawberry.type
class DeleteRolePayload:
    name: str


@strawberry.type
class UserRolesPayload:
    roles: list[str]


def _anchor(after: str | None) -> str | None:
    if after is None:
        return None
    anchor = decode_cursor(after)
    if anchor is None:
        raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
    return anchor


@strawberry.type
class AccessQueries:
    @strawberry.field(description="The organization's policies (or the one named).",
                      metadata=uses(RolesAndPolicies.policies))
    async def policies(self, info: Ctx, name: str | None = None) -> list[PolicyType]:
        ctx = info.context
        found = await ctx.accounts.access.policies(await ctx.caller(), name=name)
        return [PolicyType.of(p) for p in found]

    @strawberry.field(description="The organization's roles, built-in ones first (or the one "
                                  "named).", metadata=uses(RolesAndPolicies.roles))
    async def roles(self, info: Ctx, name: str | None = None) -> list[RoleType]:
        ctx = info.context
        return [RoleType.of(r) for r in await ctx.accounts.access.roles(await ctx.caller(),
                                                                         name=name)]

    @strawberry.field(description="The roles of a user of the organization.",
                      metadata=uses(RolesAndPolicies.user_roles))
    async def user_roles(self, info: Ctx, user_name: str | None = None,
                         user_id: strawberry.ID | None = None) -> list[str]:
        ctx = info.context
        return await ctx.accounts.access.user_roles(await ctx.caller(), user_name=user_name,
                                                    user_id=user_id)

    @strawberry.field(description="The user names holding a role.",
                      metadata=uses(RolesAndPolicies.role_holders))
    async def role_holders(self, info: Ctx, role_name: str) -> list[str]:
        ctx = info.context
        return await ctx.accounts.access.role_holders(await ctx.caller(), role_name=role_name)

    @strawberry.field(description="Changes to roles, policies and role assignments, newest "
                                  "first (superadmins).",
                      metadata=uses(RolesAndPolicies.audit_log))
    async def audit_log(self, info: Ctx, first: int = 25,
                        after: str | None = None) -> AuditLogConnection:
        ctx = info.context
        anchor = _anchor(after)
        page = await ctx.accounts.access.audit_log(await ctx.caller(), after=anchor,
                                                   limit=first)
        edges = [AuditEntryEdge(cursor=encode_cursor(e.id), node=AuditEntryType.of(e))
                 for e in page.entries]
        return AuditLogConnection(edges=edges, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None))

    @strawberry.field(description="Whether a user may use (resource, action) — a canonical REST "
                                  "path and an HTTP method — and the rules that decided it; "
                                  "with nodeId, whether that node is within the node filters.",
                      metadata=uses(RolesAndPolicies.explain))
    async def explain_access(self, info: Ctx, resource: str, action: str,
                             user_name: str | None = None, user_id: strawberry.ID | None = None,
                             node_id: strawberry.ID | None = None) -> AccessExplanation:
        ctx = info.context
        found = await ctx.accounts.access.explain(
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
                      metadata=uses(RolesAndPolicies.api_paths))
    async def api_paths(self, info: Ctx, all_paths: bool = True) -> list[ApiPath]:
        ctx = info.context
        found = await ctx.accounts.access.api_paths(await ctx.caller(), all_paths=all_paths)
        return [ApiPath(path=p, methods=list(m)) for p, m in found]

    @strawberry.field(description="The organization's nodes as an admin sees them, ordered by "
                                  "id (narrowed by the node filters of the caller's policies).",
                      metadata=uses(AdminNodes.list_nodes))
    async def admin_nodes(self, info: Ctx, filter: AdminNodeFilter | None = None,
                          first: int = 25, after: str | None = None) -> AdminNodeConnection:
        ctx = info.context
        anchor = _anchor(after)
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
    @strawberry.mutation(metadata=uses(RolesAndPolicies.create_policy))
    async def create_policy(self, info: Ctx, input: CreatePolicyInput) -> PolicyPayload:
        ctx = info.context
        policy = await ctx.accounts.access.create_policy(await ctx.caller(), name=input.name,
                                                         policy_json=input.document)
        return PolicyPayload(policy=PolicyType.of(policy))

    @strawberry.mutation(metadata=uses(RolesAndPolicies.update_policy))
    async def update_policy(self, info: Ctx, input: UpdatePolicyInput) -> PolicyPayload:
        ctx = info.context
        policy = await ctx.accounts.access.update_policy(await ctx.caller(), name=input.name,
                                                         policy_json=input.document)
        return PolicyPayload(policy=PolicyType.of(policy))

    @strawberry.mutation(metadata=uses(RolesAndPolicies.delete_policy))
    async def delete_policy(self, info: Ctx, input: DeletePolicyInput) -> DeletePolicyPayload:
        ctx = info.context
        detached = await ctx.accounts.access.delete_policy(await ctx.caller(), name=input.name,
                                                           force=input.force)
        return DeletePolicyPayload(name=input.name, detached_from_roles=detached)

    @strawberry.mutation(metadata=uses(RolesAndPolicies.create_role))
    async def create_role(self, info: Ctx, input: CreateRoleInput) -> RolePayload:
        ctx = info.context
        return _role_payload(await ctx.accounts.access.create_role(
            await ctx.caller(), name=input.name, policies=input.policies, level=input.level))

    @strawberry.mutation(metadata=uses(RolesAndPolicies.update_role))
    async def update_role(self, info: Ctx, input: UpdateRoleInput) -> RolePayload:
        ctx = info.context
        return _role_payload(await ctx.accounts.access.update_role(
            await ctx.caller(), name=input.name, operation=input.operation,
            policies=input.policies, level=input.level))

    @strawberry.mutation(metadata=uses(RolesAndPolicies.delete_role))
    async def delete_role(self, info: Ctx, input: RoleNameInput) -> DeleteRolePayload:
        ctx = info.context
        await ctx.accounts.access.delete_role(await ctx.caller(), name=input.name)
        return DeleteRolePayload(name=input.name)

    @strawberry.mutation(metadata=uses(RolesAndPolicies.change_roles),
                         description="Gives a user roles (each needs a holder of a strictly "
                                     "lower level; level 0 may give any).")
    async def assign_roles(self, info: Ctx, input: UserRolesInput) -> UserRolesPayload:
        return await _change(info, input, "add")

    @strawberry.mutation(metadata=uses(RolesAndPolicies.change_roles))
    async def remove_roles(self, info: Ctx, input: UserRolesInput) -> UserRolesPayload:
        return await _change(info, input, "remove")


async def _change(info: Ctx, input: UserRolesInput, operation: str) -> UserRolesPayload:
    ctx = info.context
    roles: Any = list(input.roles)
    return UserRolesPayload(roles=await ctx.accounts.access.change_roles(
        await ctx.caller(), operation=operation, roles=roles, user_name=input.user_name,
        user_id=input.user_id))
