"""Node sharing in GraphQL: shareNodes, respondToSharingRequest, cancelSharingRequest,
unshareNodes, sharingRequests and the types Node.sharing returns. Resolvers translate, call
the use cases named in "uses", and map the result."""

from __future__ import annotations

import strawberry

from domain.sharing.model import SharingRequest
from domain.sharing.nodes import NodeSharing, NodeSharingView
from graphql_api import sharing_common as common


@strawberry.type(name="NodeSharing", description="Who shares a node, as the caller may see "
                                                 "it: a secondary sees no other secondaries.")
class NodeSharingType:
    primary: list[str]
    secondary: list[str]
    sources: list[str] = strawberry.field(description='"NODE", or the ids of the groups the '
                                                      "caller's access comes through.")

    @classmethod
    def of(cls, view: NodeSharingView) -> NodeSharingType:
        return cls(primary=view.primary, secondary=view.secondary, sources=view.sources)


@strawberry.type
class NodeIds:
    node_ids: list[strawberry.ID]


@strawberry.type(name="SharingRequest")
class SharingRequestType(common.RequestHead, NodeIds, common.RequestTail):
    @classmethod
    def of(cls, request: SharingRequest) -> SharingRequestType:
        return cls(node_ids=[strawberry.ID(n) for n in request.node_ids],
                   **common.request_fields(request))


ShareNodesInput, RespondToSharingRequestInput, CancelSharingRequestInput, UnshareNodesInput = \
    common.sharing_inputs("Nodes", "Sharing", leaving="a secondary leaving")
SharingRequestPayload = common.payload_type("SharingRequestPayload", SharingRequestType)


@strawberry.type
class SharingQueries:
    sharing_requests = common.listing_field(
        NodeSharing.list_requests, lambda ctx: ctx.sharing.nodes.list_requests,
        common.connection(SharingRequestType, "SharingRequest"),
        lambda request, _page: SharingRequestType.of(request),
        "Sharing requests the caller sent or received, by id.")


@strawberry.type
class SharingMutations:
    share_nodes = common.share_mutation(
        NodeSharing.share_nodes, lambda ctx: ctx.sharing.nodes.share_nodes, "nodes",
        ShareNodesInput, SharingRequestPayload, SharingRequestType.of,
        "Offers nodes the caller is primary of to another user of the organization: a "
        "pending request.")
    respond_to_sharing_request = common.settle_mutation(
        NodeSharing.respond, lambda ctx: ctx.sharing.nodes.respond,
        RespondToSharingRequestInput, SharingRequestPayload, SharingRequestType.of,
        "The receiver accepts or declines a pending request.")
    cancel_sharing_request = common.settle_mutation(
        NodeSharing.cancel_request, lambda ctx: ctx.sharing.nodes.cancel_request,
        CancelSharingRequestInput, SharingRequestPayload, SharingRequestType.of,
        "The sender withdraws a pending request.")
    unshare_nodes = common.unshare_mutation(
        NodeSharing.unshare_nodes, lambda ctx: ctx.sharing.nodes.unshare_nodes, "nodes",
        UnshareNodesInput,
        "Removes a user's access to nodes (a secondary may remove only itself).")
