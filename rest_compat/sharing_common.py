"""What node sharing and group sharing have in common on the wire: the request listing (its
query, entries and paging), cancelling a request, the answer to a share, and the
comma-separated id lists of an unshare. The kinds pass their words and paths."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.identifiers import RECORD_ID_PATTERN
from domain.sharing.engine import MAX_REQUESTS_PAGE, RequestPage
from domain.sharing.model import ACCEPTED, CANCELLED, DECLINED, EXPIRED, PENDING, SharingRequest
from rest_compat import schemas as s
from rest_compat.http import Authenticate, bool_param, caller_for, success
from rest_compat.operations import Operation

REQUEST_ID = {"type": "string", "pattern": RECORD_ID_PATTERN}
SHARE_RESPONSE = s.obj({"status": {"type": "string", "enum": ["success"]},
                        "description": s.STR, "request_id": s.STR}, ("status",))
STR_LIST = {"type": "array", "items": s.STR}
USER_NAME = {"type": "string", "minLength": 1, "maxLength": 254}
USER_NAME_QUERY = {"name": "user_name", "in": "query", "required": True, "schema": USER_NAME}
REQUEST_LIST_QUERY = (
    {"name": "request_id", "in": "query", "schema": REQUEST_ID},
    {"name": "primary_user", "in": "query", "schema": s.flag(False),
     "x-fleetgate-handler-validates": True},
    {"name": "start_request_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "start_user_name", "in": "query", "schema": {"type": "string", "maxLength": 254}},
    {"name": "num_records", "in": "query", "schema": {
        "type": "string", "description": "1..10 (default 10); an invalid value means 10"}})
"""The query of both request listings (nodes and groups)."""
WIRE_STATUS = {PENDING: PENDING, DECLINED: DECLINED, CANCELLED: DECLINED, EXPIRED: DECLINED}
"""request_status as RainMaker's spec allows it (pending or declined): a request cancelled by
its sender or expired unanswered did not go through, like a declined one. An accepted request
has no spec value (RainMaker keeps no request once accepted), so /v1 does not list it; GraphQL
lists every request with its own status."""
Entry = Callable[[SharingRequest, RequestPage], dict[str, object]]


def requests_schema(items: dict[str, Any]) -> dict[str, Any]:
    """A request listing whose entries name their items with `items` (one property: the
    ids; more: their names too)."""
    return s.obj({"sharing_requests": {"type": "array", "items": s.obj({
        "request_id": s.STR,
        "request_status": {"type": "string", "enum": [PENDING, DECLINED]},
        "request_timestamp": {"type": "integer"}, **items,
        "user_name": s.STR, "primary_user_name": s.STR,
        "user_role": {"type": "string", "enum": ["primary", "secondary"]},
        "transfer": {"type": "boolean"}, "new_role": s.STR, "metadata": {"type": "object"},
        "expiration_timestamp": {"type": "integer"}},
        ("request_id", "request_status", "request_timestamp", next(iter(items)),
         "user_name", "primary_user_name"))},
        "next_request_id": s.STR, "next_user_name": s.STR}, ("sharing_requests",))


def id_list_query(name: str, *, max_length: int, what: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": True, "schema": {
        "type": "string", "maxLength": max_length,
        "pattern": "^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$",
        "description": f"comma separated {what}"}}


def id_list(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name)
    return [i for i in raw.split(",") if i] if raw else []


def request_entry(request: SharingRequest) -> dict[str, object]:
    entry: dict[str, object] = {
        "request_id": request.id, "request_status": WIRE_STATUS[request.status],
        "request_timestamp": int(request.created_at.timestamp()),
        "node_ids": request.node_ids, "user_name": request.to_user_name,
        "primary_user_name": request.from_user_name, "user_role": request.role,
        "transfer": request.transfer}
    if request.new_role is not None:
        entry["new_role"] = request.new_role
    if request.metadata is not None:
        entry["metadata"] = request.metadata
    if request.expires_at is not None:
        entry["expiration_timestamp"] = int(request.expires_at.timestamp())
    return entry


def page_size(raw: str | None) -> int:
    """RainMaker: 1..10, default 10, and an invalid value means the default."""
    if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 2 \
            and 1 <= int(raw) <= MAX_REQUESTS_PAGE:
        return int(raw)
    return MAX_REQUESTS_PAGE


def shared(noun: str, result: SharingRequest) -> Response:
    """The answer to a share: granted at once, or a pending request."""
    return success(f"{noun} sharing added for the user successfully"
                   if result.status == ACCEPTED
                   else f"{noun} sharing request added for the user successfully",
                   request_id=result.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestRoutes:
    """The cancel and list operations of one kind's requests."""

    path: str
    noun: str
    """"Node" or "Group"."""
    entry: Entry
    listing: dict[str, Any]
    qualifier: str = ""
    """How RainMaker words the kind's requests beside "sharing" ("" or "group ")."""

    def operations(self, sharing: Any, authenticate: Authenticate, tag: str
                   ) -> list[Operation]:
        kind = f"{self.qualifier}sharing"
        primary_user_reason = f"{kind.replace(' ', '_')}_invalid_primary_user"
        cancel_request: Callable[..., Awaitable[SharingRequest]] = sharing.cancel_request
        list_requests: Callable[..., Awaitable[RequestPage]] = sharing.list_requests

        async def cancel(request: Request) -> Response:
            caller = await caller_for(request, authenticate, required=True)
            await cancel_request(caller, request_id=request.query_params.get("request_id"))
            return success(f"{self.noun} sharing request removed successfully")

        async def listed(request: Request) -> Response:
            caller = await caller_for(request, authenticate, required=True)
            sent = bool_param(request, "primary_user", reason=primary_user_reason)
            q = request.query_params
            page = await list_requests(
                caller, sent=bool(sent), request_id=q.get("request_id"),
                start_request_id=q.get("start_request_id"),
                num_records=page_size(q.get("num_records")))
            body: dict[str, object] = {"sharing_requests": [
                self.entry(r, page) for r in page.requests if r.status in WIRE_STATUS]}
            if page.next_request_id is not None:
                body["next_request_id"] = page.next_request_id
                body["next_user_name"] = page.next_user_name or ""
            return JSONResponse(body)

        return [
            Operation(method="DELETE", path=self.path, handler=cancel,
                      operation_id=f"removeUser{self.noun}SharingRequest", tag=tag,
                      summary=f"The sender cancels a pending {kind} request",
                      uses=(cancel_request,),
                      query=({"name": "request_id", "in": "query", "required": True,
                              "schema": REQUEST_ID},),
                      responses={200: s.SUCCESS}),
            Operation(method="GET", path=self.path, handler=listed,
                      operation_id=f"getUser{self.noun}SharingRequest", tag=tag,
                      summary=f"{kind.capitalize()} requests the user sent (primary_user=true) "
                              "or received",
                      uses=(list_requests,), query=REQUEST_LIST_QUERY,
                      responses={200: self.listing}),
        ]


def unshare_operation(unshare: Callable[..., Awaitable[None]], authenticate: Authenticate, *,
                      path: str, noun: str, ids: str, max_length: int, most: int,
                      operation_id: str, summary: str, tag: str) -> Operation:
    """DELETE <path>?<ids>=a,b&user_name=: removes a user's access to the items listed."""

    async def handler(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await unshare(caller, **{ids: id_list(request, ids)},
                      user_name=request.query_params.get("user_name"))
        return success(f"{noun} sharing removed successfully")

    return Operation(method="DELETE", path=path, handler=handler, operation_id=operation_id,
                     tag=tag, summary=summary, uses=(unshare,),
                     query=(id_list_query(ids, max_length=max_length,
                                          what=f"{noun.lower()} ids (at most {most})"),
                            USER_NAME_QUERY),
                     responses={200: s.SUCCESS})
