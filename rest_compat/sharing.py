"""RainMaker v1 node sharing on the wire: sharing requests (create, accept/decline, cancel,
list), removing sharing and reading who shares a node. Handlers translate and delegate only;
the rules live in domain/sharing/nodes.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.sharing.engine import RequestPage
from domain.sharing.model import MAX_SHARED_NODES, NEW_ROLES, SharingRequest
from domain.sharing.nodes import NodeSharingView
from domain.sharing.use_cases import SharingUseCases
from rest_compat import schemas as s
from rest_compat import sharing_common as common
from rest_compat.http import Authenticate, caller_for, json_body, success
from rest_compat.operations import Operation

TAG = "User Node Association"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
NODE_IDS = {"type": "array", "minItems": 1, "maxItems": MAX_SHARED_NODES, "items": NODE_ID}
SHARE_OR_RESPOND = s.obj({
    "nodes": NODE_IDS,
    "node_ids": {**NODE_IDS, "description": "the same as nodes (the swagger's spelling)"},
    "user_name": common.USER_NAME,
    "primary": {"type": "boolean"}, "transfer": {"type": "boolean"},
    "new_role": {"type": "string", "enum": list(NEW_ROLES),
                 "description": "the sender's role after a transfer (needs transfer: true)"},
    "metadata": {"type": "object"},
    "request_id": common.REQUEST_ID, "accept": {"type": "boolean"},
    "confirm_sharing": {"type": "boolean", "description": "older spelling of accept"},
}, anyOf=[{"required": ["nodes", "user_name"]}, {"required": ["node_ids", "user_name"]},
          {"required": ["request_id", "accept"]},
          {"required": ["request_id", "confirm_sharing"]}],
    description="Share nodes (nodes, user_name...) or, with request_id, accept or decline a "
                "request received")
SHARING_DETAILS = s.obj({"node_sharing": {"type": "array", "items": s.obj({
    "node_id": s.STR,
    "users": s.obj({"primary": common.STR_LIST, "secondary": common.STR_LIST},
                   ("primary", "secondary")),
    "sources": common.STR_LIST}, ("node_id", "users", "sources"))}}, ("node_sharing",))


def _request_entry(request: SharingRequest, _page: RequestPage) -> dict[str, object]:
    return common.request_entry(request)


REQUESTS = common.RequestRoutes(path="/v1/user/nodes/sharing/requests", noun="Node",
                                entry=_request_entry, listing=common.requests_schema(
                                    {"node_ids": common.STR_LIST}))


def _sharing_entry(view: NodeSharingView) -> dict[str, object]:
    return {"node_id": view.node_id,
            "users": {"primary": view.primary, "secondary": view.secondary},
            "sources": view.sources}


def sharing_operations(bundle: SharingUseCases, authenticate: Authenticate,
                       max_body: int) -> list[Operation]:
    sharing = bundle.nodes

    async def share_or_respond(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=SHARE_OR_RESPOND)
        if "request_id" in body and ("accept" in body or "confirm_sharing" in body):
            accept = body.get("accept", body.get("confirm_sharing"))
            await sharing.respond(caller, request_id=body["request_id"], accept=accept)
            return success("Node sharing request accepted successfully" if accept
                           else "Node sharing request declined successfully")
        return common.shared("Node", await sharing.share_nodes(
            caller, nodes=body.get("nodes", body.get("node_ids")),
            user_name=body.get("user_name"), primary=body.get("primary", False),
            metadata=body.get("metadata"), transfer=body.get("transfer", False),
            new_role=body.get("new_role")))

    async def details(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = request.query_params.get("node_id") or request.query_params.get("nodeid")
        views = await sharing.node_sharing(caller, node_id=node_id)
        return JSONResponse({"node_sharing": [_sharing_entry(v) for v in views]})

    unshare = common.unshare_operation(
        sharing.unshare_nodes, authenticate, path="/v1/user/nodes/sharing", noun="Node",
        ids="nodes", max_length=6600, most=100, operation_id="RemoveUserNodeSharing",
        tag=TAG, summary="A primary removes a user's access to nodes; a secondary leaves")
    put = Operation(method="PUT", path="/v1/user/nodes/sharing/requests",
                    handler=share_or_respond, operation_id="addUserNodeSharingRequests",
                    tag=TAG, summary="Share nodes with a user of the organization (a pending "
                                     "request), or accept/decline a request received",
                    uses=(sharing.share_nodes, sharing.respond),
                    request_body=SHARE_OR_RESPOND, responses={200: common.SHARE_RESPONSE})
    return [
        put,
        put.alias("/v1/user/nodes/sharing", "addUserNodeSharing"),
        *REQUESTS.operations(sharing, authenticate, TAG),
        unshare,
        Operation(method="GET", path="/v1/user/nodes/sharing", handler=details,
                  operation_id="getUserNodeSharing", tag=TAG,
                  summary="Who shares the user's nodes (a secondary sees only the primaries)",
                  uses=(sharing.node_sharing,),
                  query=({"name": "node_id", "in": "query", "schema": NODE_ID},),
                  responses={200: SHARING_DETAILS}),
    ]
