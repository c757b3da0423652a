"""GraphQL types for nodes (RainMaker's devices): thin DTOs built from domain objects."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from domain.devices.model import PRIMARY, SECONDARY, MappingRequest, Node, NodeEvent
from domain.devices.node_values import ParamsOutcome
from domain.devices.nodes import UserNodes
from domain.devices.watch import NodeWatch
from domain.errors import DomainError, NotFound
from domain.sharing.nodes import NodeSharing
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo
from graphql_api.sharing import NodeSharingType


@strawberry.enum
class NodeRole(Enum):
    PRIMARY = PRIMARY
    SECONDARY = SECONDARY


@strawberry.type(name="Connectivity")
class ConnectivityType:
    connected: bool
    timestamp: float = strawberry.field(
        description="Epoch milliseconds of the last connection event (0: never connected).")


@strawberry.type(name="Node")
class NodeType:
    id: strawberry.ID
    name: str
    type: str
    model: str
    fw_version: str
    tags: list[str]
    metadata: JSON | None
    config: JSON | None = strawberry.field(description="null until the node reports one.")
    params: JSON = strawberry.field(description="The params the node reported.")
    params_version: int = strawberry.field(
        description="Send it back as expectedVersion to refuse a stale write.")
    connectivity: ConnectivityType
    known_role: strawberry.Private[str | None]

    @strawberry.field(description="The caller's role on the node.",
                      metadata=uses(NodeWatch.roles))
    async def role(self, info: Ctx) -> NodeRole:
        role = self.known_role or await info.context.loaders.node_roles.load(str(self.id))
        if role is None:
            raise NotFound("Node does not exist or does not belong to the user",
                           reason="node_not_found")
        return NodeRole(role)

    @strawberry.field(description="Who shares the node; a secondary sees only the "
                                  "primaries.", metadata=uses(NodeSharing.node_sharing))
    async def sharing(self, info: Ctx) -> NodeSharingType:
        view = await info.context.loaders.node_sharing.load(str(self.id))
        if view is None:
            raise NotFound("Node does not exist or does not belong to the user",
                           reason="node_not_found")
        return NodeSharingType.of(view)

    @classmethod
    def of(cls, node: Node, role: str | None = None) -> NodeType:
        """role: the caller's, when it was read with the node; else loaded in a batch."""
        return cls(id=strawberry.ID(node.id), name=node.name, type=node.type, model=node.model,
                   fw_version=node.fw_version, tags=list(node.tags), metadata=node.metadata,
                   config=node.config, params=node.reported,
                   params_version=node.params_version,
                   connectivity=ConnectivityType(connected=node.connectivity.connected,
                                                 timestamp=node.connectivity.timestamp_ms),
                   known_role=role)


@strawberry.type
class NodeEdge:
    cursor: str
    node: NodeType


@strawberry.type
class NodeConnection:
    edges: list[NodeEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class NodeFilter:
    tags: list[str] | None = strawberry.field(
        default=None, description='"key:value" tags; a node having any of them matches.')


@strawberry.input
class NodeParamsInput:
    node_id: strawberry.ID
    params: JSON = strawberry.field(description='{"<device>": {"<param>": value}}')
    expected_version: int | None = None


@strawberry.input(description="Either nodeId and params (one node: a stale expectedVersion "
                              "is a CONFLICT error), or nodes (many: one result per node).")
class SetNodeParamsInput:
    node_id: strawberry.ID | None = None
    params: JSON | None = None
    expected_version: int | None = None
    nodes: list[NodeParamsInput] | None = None


@strawberry.type
class ErrorInfo:
    code: str
    reason: str
    message: str

    @classmethod
    def of(cls, error: DomainError) -> ErrorInfo:
        return cls(code=error.code, reason=error.reason, message=error.message)


@strawberry.type
class NodeParamsResult:
    node_id: strawberry.ID
    ok: bool
    params_version: int | None = None
    error: ErrorInfo | None = None

    @classmethod
    def of(cls, outcome: ParamsOutcome) -> NodeParamsResult:
        return cls(node_id=strawberry.ID(str(outcome.node_id)), ok=outcome.ok,
                   params_version=outcome.params_version,
                   error=None if outcome.error is None else ErrorInfo.of(outcome.error))


@strawberry.type
class SetNodeParamsPayload:
    results: list[NodeParamsResult]


@strawberry.input
class UpdateNodeTagsInput:
    node_id: strawberry.ID
    add: list[str] | None = None
    remove: list[str] | None = None


@strawberry.input
class UpdateNodeMetadataInput:
    node_id: strawberry.ID
    metadata: JSON | None = strawberry.field(
        description="A merge patch: null deletes a key (or, alone, the whole document), "
                    "{} changes nothing, nested objects merge, arrays replace.")


@strawberry.type
class NodePayload:
    node: NodeType


@strawberry.input
class ClaimNodeInput:
    node_id: strawberry.ID
    secret_key: str = strawberry.field(description="The secret_key issued at provisioning.")


@strawberry.input
class UnclaimNodeInput:
    node_id: strawberry.ID


@strawberry.type
class NodeMappingPayload:
    node_id: strawberry.ID
    request_id: strawberry.ID
    request_status: str

    @classmethod
    def of(cls, request: MappingRequest) -> NodeMappingPayload:
        return cls(node_id=strawberry.ID(request.node_id), request_id=strawberry.ID(request.id),
                   request_status=request.status)


@strawberry.enum
class NodeUpdateKind(Enum):
    CONNECTED = "node_connected"
    DISCONNECTED = "node_disconnected"
    PARAMS_CHANGED = "node_params_changed"
    CONFIG_CHANGED = "node_config_changed"


@strawberry.type
class NodeUpdate:
    kind: NodeUpdateKind
    node_id: strawberry.ID
    at: datetime
    params: JSON | None = strawberry.field(
        default=None, description="PARAMS_CHANGED: the reported params that changed.")
    params_version: int | None = None
    connectivity: ConnectivityType | None = strawberry.field(
        default=None, description="CONNECTED and DISCONNECTED.")
    config_version: str | None = strawberry.field(default=None, description="CONFIG_CHANGED.")

    @strawberry.field(description="The node as it is now (read once per update that asks).",
                      metadata=uses(UserNodes.list_nodes))
    async def node(self, info: Ctx) -> NodeType:
        ctx = info.context
        page = await ctx.devices.nodes.list_nodes(await ctx.caller(), node_id=str(self.node_id))
        node, membership = page.entries[0]
        return NodeType.of(node, membership.role)

    @classmethod
    def of(cls, event: NodeEvent) -> NodeUpdate:
        kind = NodeUpdateKind(event.kind)
        data = event.data
        connectivity = None
        if kind in (NodeUpdateKind.CONNECTED, NodeUpdateKind.DISCONNECTED):
            connectivity = ConnectivityType(connected=kind is NodeUpdateKind.CONNECTED,
                                            timestamp=data.get("timestamp", 0))
        version = data.get("version")
        config_version = data.get("config_version")
        return cls(kind=kind, node_id=strawberry.ID(event.node_id), at=event.at,
                   params=data.get("params"),
                   params_version=version if isinstance(version, int) else None,
                   connectivity=connectivity,
                   config_version=config_version if isinstance(config_version, str) else None)
