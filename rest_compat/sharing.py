"""RainMaker v1 node sharing on the wire: sharing requests (create, accept/decline, cancel,
list), removing sharing and reading who shares a node. Handlers translate and delegate only;
the rules live in domain/devices/sharing.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.sharing import MAX_REQUESTS_PAGE, NodeSharingView
from domain.devices.use_cases import DeviceUseCases
from domain.identifiers import RECORD_ID_PATTERN
from domain.sharing.model import (
    ACCEPTED,
    MAX_SHARED_NODES,
    NEW_ROLES,
    SHARING_STATUSES,
    SharingRequest,
)
from rest_compat import schemas as s
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation

TAG = "User Node Association"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
NODE_IDS = {"type": "array", "minItems": 1, "maxItems": MAX_SHARED_NODES, "items": NODE_ID}
REQUEST_ID = {"type": "string", "pattern": RECORD_ID_PATTERN}
SHARE_OR_RESPOND = s.obj({
    "nodes": NODE_IDS,
    "node_ids": {**NODE_IDS, "description": "the same as nodes (the swagger's spelling)"},
    "user_name": {"type": "string", "minLength": 1, "maxLength": 254},
    "primary": {"type": "boolean"}, "transfer": {"type": "boolean"},
    "new_role": {"type": "string", "enum": list(NEW_ROLES),
                 "description": "the sender's role after a transfer (needs transfer: true)"},
    "metadata": {"type": "object"},
    "request_id": REQUEST_ID, "accept": {"type": "boolean"},
    "confirm_sharing": {"type": "boolean", "description": "older spelling of accept"},
}, anyOf=[{"required": ["nodes", "user_name"]}, {"required": ["node_ids", "user_name"]},
          {"required": ["request_id", "accept"]},
          {"required": ["request_id", "confirm_sharing"]}],
    description="Share nodes (nodes, user_name...) or, with request_id, accept or decline a "
                "request received")
SHARE_RESPONSE = s.obj({"status": {"type": "string", "enum": ["success"]},
                        "description": s.STR, "request_id": s.STR}, ("status",))
STR_LIST = {"type": "array", "items": s.STR}
SHARING_DETAILS = s.obj({"node_sharing": {"type": "array", "items": s.obj({
    "node_id": s.STR,
    "users": s.obj({"primary": STR_LIST, "secondary": STR_LIST}, ("primary", "secondary")),
    "sources": STR_LIST}, ("node_id", "users", "sources"))}}, ("node_sharing",))
REQUESTS = s.obj({"sharing_requests": {"type": "array", "items": s.obj({
    "request_id": s.STR,
    "request_status": {"type": "string", "enum": list(SHARING_STATUSES)},
    "request_timestamp": {"type": "integer"}, "node_ids": STR_LIST,
    "user_name": s.STR, "primary_user_name": s.STR,
    "user_role": {"type": "string", "enum": ["primary", "secondary"]},
    "transfer": {"type": "boolean"}, "new_role": s.STR, "metadata": {"type": "object"},
    "expiration_timestamp": {"type": "integer"}},
    ("request_id", "request_status", "request_timestamp", "node_ids", "user_name",
     "primary_user_name"))},
    "next_request_id": s.STR, "next_user_name": s.STR}, ("sharing_requests",))


REQUEST_LIST_QUERY = (
    {"name": "request_id", "in": "query", "schema": REQUEST_ID},
    {"name": "primary_user", "in": "query", "schema": {"type": "string",
                                                       "enum": ["true", "false"]},
     "x-fleetgate-handler-validates": True},
    {"name": "start_request_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "start_user_name", "in": "query", "schema": {"type": "string", "maxLength": 254}},
    {"name": "num_records", "in": "query", "schema": {
        "type": "string", "description": "1..10 (default 10); an invalid value means 10"}})
"""The query of both request listings (nodes and groups)."""


def request_entry(request: SharingRequest) -> dict[str, object]:
    entry: dict[str, object] = {
        "request_id": request.id, "request_status": request.status,
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


def _sharing_entry(view: NodeSharingView) -> dict[str, object]:
    return {"node_id": view.node_id,
            "users": {"primary": view.primary, "secondary": view.secondary},
            "sources": view.sources}


def page_size(raw: str | None) -> int:
    """RainMaker: 1..10, default 10, and an invalid value means the default."""
    if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 2 \
            and 1 <= int(raw) <= MAX_REQUESTS_PAGE:
        return int(raw)
    return MAX_REQUESTS_PAGE


def sharing_operations(devices: DeviceUseCases, authenticate: Authenticate,
                       max_body: int) -> list[Operation]:
    sharing = devices.sharing

    async def share_or_respond(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=SHARE_OR_RESPOND)
        if "request_id" in body and ("accept" in body or "confirm_sharing" in body):
            accept = body.get("accept", body.get("confirm_sharing"))
            await sharing.respond(caller, request_id=body["request_id"], accept=accept)
            return success("Node sharing request accepted successfully" if accept
                           else "Node sharing request declined successfully")
        result = await sharing.share_nodes(
            caller, nodes=body.get("nodes", body.get("node_ids")),
            user_name=body.get("user_name"), primary=body.get("primary", False),
            metadata=body.get("metadata"), transfer=body.get("transfer", False),
            new_role=body.get("new_role"))
        return success("Node sharing added for the user successfully"
                       if result.status == ACCEPTED
                       else "Node sharing request added for the user successfully",
                       request_id=result.id)

    async def cancel(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await sharing.cancel_request(caller, request_id=request.query_params.get("request_id"))
        return success("Node sharing request removed successfully")

    async def list_requests(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        sent = bool_param(request, "primary_user", reason="sharing_invalid_primary_user")
        q = request.query_params
        page = await sharing.list_requests(
            caller, sent=bool(sent), request_id=q.get("request_id"),
            start_request_id=q.get("start_request_id"),
            num_records=page_size(q.get("num_records")))
        body: dict[str, object] = {"sharing_requests": [request_entry(r)
                                                        for r in page.requests]}
        if page.next_request_id is not None:
            body["next_request_id"] = page.next_request_id
            body["next_user_name"] = page.next_user_name or ""
        return JSONResponse(body)

    async def unshare(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        raw = request.query_params.get("nodes")
        await sharing.unshare_nodes(
            caller, nodes=[n for n in raw.split(",") if n] if raw else [],
            user_name=request.query_params.get("user_name"))
        return success("Node sharing removed successfully")

    async def details(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = request.query_params.get("node_id") or request.query_params.get("nodeid")
        views = await sharing.node_sharing(caller, node_id=node_id)
        return JSONResponse({"node_sharing": [_sharing_entry(v) for v in views]})

    put = Operation(method="PUT", path="/v1/user/nodes/sharing/requests",
                    handler=share_or_respond, operation_id="addUserNodeSharingRequests",
                    tag=TAG, summary="Share nodes with a user of the organization (a pending "
                                     "request), or accept/decline a request received",
                    uses=(sharing.share_nodes, sharing.respond),
                    request_body=SHARE_OR_RESPOND, responses={200: SHARE_RESPONSE})
    node_list = {"type": "string", "maxLength": 6600,
                 "pattern": "^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$",
                 "description": "comma separated node ids (at most 100)"}
    return [
        put,
        put.alias("/v1/user/nodes/sharing", "addUserNodeSharing"),
        Operation(method="DELETE", path="/v1/user/nodes/sharing/requests", handler=cancel,
                  operation_id="removeUserNodeSharingRequest", tag=TAG,
                  summary="The sender cancels a pending sharing request",
                  uses=(sharing.cancel_request,),
                  query=({"name": "request_id", "in": "query", "required": True,
                          "schema": REQUEST_ID},),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/nodes/sharing/requests", handler=list_requests,
                  operation_id="getUserNodeSharingRequest", tag=TAG,
                  summary="Sharing requests the user sent (primary_user=true) or received",
                  uses=(sharing.list_requests,),
                  query=REQUEST_LIST_QUERY, responses={200: REQUESTS}),
        Operation(method="DELETE", path="/v1/user/nodes/sharing", handler=unshare,
                  operation_id="RemoveUserNodeSharing", tag=TAG,
                  summary="A primary removes a user's access to nodes; a secondary leaves",
                  uses=(sharing.unshare_nodes,),
                  query=({"name": "nodes", "in": "query", "required": True,
                          "schema": node_list},
                         {"name": "user_name", "in": "query", "required": True,
                          "schema": {"type": "string", "minLength": 1, "maxLength": 254}}),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/nodes/sharing", handler=details,
                  operation_id="getUserNodeSharing", tag=TAG,
                  summary="Who shares the user's nodes (a secondary sees only the primaries)",
                  uses=(sharing.node_sharing,),
                  query=({"name": "node_id", "in": "query", "schema": NODE_ID},),
                  responses={200: SHARING_DETAILS}),
    ]
