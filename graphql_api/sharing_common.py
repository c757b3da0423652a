"""What node sharing and group sharing have in common in GraphQL: the request enums, the
fields of a request and of the inputs that offer, answer, cancel and unshare, the paging of
request listings and the respond/cancel mutations. graphql_api/sharing.py and
group_sharing.py name their own types (the schema keeps a name per kind).

No `from __future__ import annotations` here: the inputs and resolvers built below carry
real annotations, which strawberry reads when the schema is made."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.access.model import Caller
from domain.errors import ValidationFailed
from domain.sharing.engine import MAX_REQUESTS_PAGE, RequestPage
from domain.sharing.model import SharingRequest
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor
from graphql_api.payloads import OkPayload

Call = Callable[[Any], Callable[..., Awaitable[SharingRequest]]]
ListRequests = Callable[..., Awaitable[RequestPage]]
"""The use case to call, from the request's DeviceUseCases."""


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


# A request type's fields: the head, the kind's items, the tail (the schema lists the fields
# of a type's bases in the order the bases are named).
@strawberry.type
class RequestHead:
    id: strawberry.ID
    status: SharingRequestStatus


@strawberry.type
class RequestTail:
    from_user_name: str
    to_user_name: str
    role: str = strawberry.field(description="The receiver's role once accepted.")
    transfer: bool
    new_role: str | None
    metadata: JSON | None
    created_at: datetime
    expires_at: datetime | None


def request_fields(request: SharingRequest) -> dict[str, Any]:
    """The head and tail fields of a request type, from the request."""
    return {"id": strawberry.ID(request.id), "status": SharingRequestStatus(request.status),
            "from_user_name": request.from_user_name, "to_user_name": request.to_user_name,
            "role": request.role, "transfer": request.transfer, "new_role": request.new_role,
            "metadata": request.metadata, "created_at": request.created_at,
            "expires_at": request.expires_at}


def _input(name: str, fields: dict[str, Any], defaults: dict[str, Any]) -> Any:
    return strawberry.input(type(name, (), {"__annotations__": fields, **defaults}))


def connection(node: Any, name: str) -> tuple[Any, Any]:
    """The Relay types <name>Edge and <name>Connection of `node`."""
    edge = strawberry.type(type(f"{name}Edge", (), {"__annotations__": {
        "cursor": str, "node": node}}))
    return edge, strawberry.type(type(f"{name}Connection", (), {"__annotations__": {
        "edges": list[edge], "page_info": PageInfo}}))  # type: ignore[valid-type]


def sharing_inputs(items: str, requests: str, *, leaving: str) -> tuple[Any, Any, Any, Any]:
    """Share<items>Input, RespondTo<requests>RequestInput, Cancel<requests>RequestInput and
    Unshare<items>Input; `leaving`: what naming oneself in an unshare does."""
    ids = f"{items[:-1].lower()}_ids"
    share = _input(f"Share{items}Input", {
        ids: list[strawberry.ID], "user_name": str, "primary": bool, "transfer": bool,
        "new_role": str | None, "metadata": JSON | None}, {
        "primary": False, "transfer": False, "metadata": None,
        "new_role": strawberry.field(default=None, description=(
            "The sender's role after a transfer: secondary or none."))})
    respond = _input(f"RespondTo{requests}RequestInput",
                     {"request_id": strawberry.ID, "accept": bool}, {})
    cancel = _input(f"Cancel{requests}RequestInput", {"request_id": strawberry.ID}, {})
    unshare = _input(f"Unshare{items}Input", {ids: list[strawberry.ID], "user_name": str}, {
        "user_name": strawberry.field(description="Another user (as primary), or yourself "
                                                  f"({leaving}).")})
    return share, respond, cancel, unshare


def payload_type(name: str, request_type: Any) -> Any:
    """The payload of a mutation that answers one request."""
    return strawberry.type(type(name, (), {"__annotations__": {"request": request_type}}))


def listing_field(use: Callable[..., Any], call: Callable[[Any], ListRequests],
                  connection_types: tuple[Any, Any],
                  present: Callable[[SharingRequest, RequestPage], Any],
                  description: str) -> Any:
    """The query of a kind's requests (the caller's, sent or received) as a connection."""
    edge, connection_type = connection_types

    async def resolve(info: Ctx, direction: SharingDirection = SharingDirection.RECEIVED,
                      first: int = MAX_REQUESTS_PAGE, after: str | None = None) -> Any:
        ctx = info.context
        window = await RequestWindow.read(call(ctx), await ctx.caller(), direction,
                                          first, after)
        edges = [edge(cursor=encode_cursor(r.id), node=present(r, window.page))
                 for r in window.requests]
        return connection_type(edges=edges, page_info=window.page_info(edges))

    resolve.__annotations__ = {**resolve.__annotations__, "return": connection_type}
    return strawberry.field(resolver=resolve, metadata=uses(use), description=description)


def _mutation(use: Callable[..., Any], resolve: Callable[..., Awaitable[Any]],
              input_type: Any, payload: Any, description: str) -> Any:
    resolve.__annotations__ = {"info": Ctx, "input": input_type, "return": payload}
    return strawberry.mutation(resolver=resolve, metadata=uses(use), description=description)


def share_mutation(use: Callable[..., Any], call: Call, items: str, input_type: Any,
                   payload: Any, present: Callable[[SharingRequest], Any],
                   description: str) -> Any:
    """shareNodes / shareGroups: the input's ids as `items`, with the offer's terms."""
    ids = next(f.name for f in fields(input_type))

    async def resolve(info: Ctx, input: Any) -> Any:
        ctx = info.context
        request = await call(ctx)(
            await ctx.caller(), **{items: [str(i) for i in getattr(input, ids)]},
            user_name=input.user_name, primary=input.primary, transfer=input.transfer,
            new_role=input.new_role, metadata=input.metadata)
        return payload(request=present(request))

    return _mutation(use, resolve, input_type, payload, description)


def unshare_mutation(use: Callable[..., Any], call: Callable[[Any], Callable[..., Any]],
                     items: str, input_type: Any, description: str) -> Any:
    """unshareNodes / unshareGroups: removes the user's access to the input's ids."""
    ids = next(f.name for f in fields(input_type))

    async def resolve(info: Ctx, input: Any) -> Any:
        ctx = info.context
        await call(ctx)(await ctx.caller(),
                                **{items: [str(i) for i in getattr(input, ids)]},
                                user_name=input.user_name)
        return OkPayload(ok=True)

    return _mutation(use, resolve, input_type, OkPayload, description)


def settle_mutation(use: Callable[..., Any], call: Call, input_type: Any, payload: Any,
                    present: Callable[[SharingRequest], Any], description: str) -> Any:
    """A mutation that settles a request (`use`: respond or cancel_request, which `call`
    finds among the request's use cases) with the input's fields, and answers the request
    as `present` shows it."""

    async def resolve(info: Ctx, input: Any) -> Any:
        ctx = info.context
        given = {f.name: getattr(input, f.name) for f in fields(input)}
        request = await call(ctx)(await ctx.caller(),
                                          **{**given, "request_id": str(input.request_id)})
        return payload(request=present(request))

    return _mutation(use, resolve, input_type, payload, description)


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
                   ) -> "RequestWindow":
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
