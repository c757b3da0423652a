"""Node sharing in GraphQL: shareNodes, respondToSharingRequest, cancelSharingRequest,
unshareNodes, sharingRequests and the types Node.sharing returns. Resolvers translate, call
the use cases named in "uses", and map the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.access.model import Caller
from domain.devices.sharing import MAX_REQUESTS_PAGE, NodeSharing, NodeSharingView
from domain.devices.sharing_requests import RequestPage
from domain.errors import ValidationFailed
from domain.sharing.model import SharingRequest
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor
from graphql_api.payloads import OkPayload


@strawberry.enum
class SharingDirection(Enum):
    SENT = "sent"
    RECEIVED = "received"


@strawberry.enum
class SharingRequestStatus(Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


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


@strawberry.type(name="SharingRequest")
class SharingRequestType:
    id: strawberry.ID
    status: SharingRequestStatus
    node_ids: list[strawberry.ID]
    from_user_name: str
    to_user_name: str
    role: str = strawberry.field(description="The receiver's role once accepted.")
    transfer: bool
    new_role: str | None
    metadata: JSON | None
    created_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, request: SharingRequest) -> SharingRequestType:
        return cls(id=strawberry.ID(request.id), status=SharingRequestStatus(request.status),
                   node_ids=[strawberry.ID(n) for n in request.node_ids],
                   from_user_name=request.from_user_name, to_user_name=request.to_user_name,
                   role=request.role, transfer=request.transfer, new_role=request.new_role,
                   metadata=request.metadata, created_at=request.created_at,
                   expires_at=request.expires_at)


@strawberry.type
class SharingRequestEdge:
    cursor: str
    node: SharingRequestType


@strawberry.type
class SharingRequestConnection:
    edges: list[SharingRequestEdge]
    page_info: PageInfo


@strawberry.input
class ShareNodesInput:
    node_ids: list[strawberry.ID]
    user_name: str
    primary: bool = False
    transfer: bool = False
    new_role: str | None = strawberry.field(
        default=None, description="The sender's role after a transfer: secondary or none.")
    metadata: JSON | None = None


@strawberry.input
class RespondToSharingRequestInput:
    request_id: strawberry.ID
    accept: bool


@strawberry.input
class CancelSharingRequestInput:
    request_id: strawberry.ID


@strawberry.input
class UnshareNodesInput:
    node_ids: list[strawberry.ID]
    user_name: str = strawberry.field(description="Another user (as primary), or yourself "
                                                  "(a secondary leaving).")


@strawberry.type
class SharingRequestPayload:
    request: SharingRequestType


@dataclass(frozen=True, slots=True)
class RequestWindow:
    """One page of sharing requests (node or group) for a Relay connection: the use case
    pages from an inclusive start, so the anchor is read again and dropped."""

    requests: list[SharingRequest]
    page: RequestPage
    anchored: bool
    more: bool

    @classmethod
    async def read(cls, list_requests: Callable[..., Awaitable[RequestPage]], caller: Caller,
                   direction: SharingDirection, first: int, after: str | None
                   ) -> RequestWindow:
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        if not 1 <= first <= MAX_REQUESTS_PAGE:
            raise ValidationFailed(f"first must be 1..{MAX_REQUESTS_PAGE}",
                                   reason="invalid_page")
        size = min(first + 1, MAX_REQUESTS_PAGE) if anchor is not None else first
        page = await list_requests(caller, sent=direction == SharingDirection.SENT,
                                   start_request_id=anchor, num_records=size)
        requests = [r for r in page.requests if r.id != anchor]
        return cls(requests[:first], page, anchor is not None,
                   page.next_request_id is not None or len(requests) > first)

    def page_info(self, edges: Sequence[Any]) -> PageInfo:
        return PageInfo.of([e.cursor for e in edges], has_previous=self.anchored,
                           has_next=self.more)


@strawberry.type
class SharingQueries:
    @strawberry.field(description="Sharing requests the caller sent or received, by id.",
                      metadata=uses(NodeSharing.list_requests))
    async def sharing_requests(self, info: Ctx,
                               direction: SharingDirection = SharingDirection.RECEIVED,
                               first: int = MAX_REQUESTS_PAGE, after: str | None = None
                               ) -> SharingRequestConnection:
        ctx = info.context
        window = await RequestWindow.read(ctx.devices.sharing.list_requests,
                                          await ctx.caller(), direction, first, after)
        edges = [SharingRequestEdge(cursor=encode_cursor(r.id), node=SharingRequestType.of(r))
                 for r in window.requests]
        return SharingRequestConnection(edges=edges, page_info=window.page_info(edges))


@strawberry.type
class SharingMutations:
    @strawberry.mutation(metadata=uses(NodeSharing.share_nodes),
                         description="Offers nodes the caller is primary of to another user "
                                     "of the organization: a pending request.")
    async def share_nodes(self, info: Ctx, input: ShareNodesInput) -> SharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.sharing.share_nodes(
            await ctx.caller(), nodes=[str(n) for n in input.node_ids],
            user_name=input.user_name, primary=input.primary, transfer=input.transfer,
            new_role=input.new_role, metadata=input.metadata)
        return SharingRequestPayload(request=SharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(NodeSharing.respond),
                         description="The receiver accepts or declines a pending request.")
    async def respond_to_sharing_request(self, info: Ctx, input: RespondToSharingRequestInput
                                         ) -> SharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.sharing.respond(
            await ctx.caller(), request_id=str(input.request_id), accept=input.accept)
        return SharingRequestPayload(request=SharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(NodeSharing.cancel_request),
                         description="The sender withdraws a pending request.")
    async def cancel_sharing_request(self, info: Ctx, input: CancelSharingRequestInput
                                     ) -> SharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.sharing.cancel_request(
            await ctx.caller(), request_id=str(input.request_id))
        return SharingRequestPayload(request=SharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(NodeSharing.unshare_nodes),
                         description="Removes a user's access to nodes (a secondary may "
                                     "remove only itself).")
    async def unshare_nodes(self, info: Ctx, input: UnshareNodesInput) -> OkPayload:
        ctx = info.context
        await ctx.devices.sharing.unshare_nodes(
            await ctx.caller(), nodes=[str(n) for n in input.node_ids],
            user_name=input.user_name)
        return OkPayload(ok=True)
