"""The GraphQL types of roles and policies (policies, roles, compiled rules, node filters,
explanations, the audit log, API paths), their inputs and payloads, and the admin's node
connection; thin DTOs built from domain objects."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.access.rbac.model import AuditEntry, NodeReach, Policy, Role, Rule
from graphql_api import node_types as n
from graphql_api.pagination import PageInfo


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
