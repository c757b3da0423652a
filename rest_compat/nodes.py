"""RainMaker v1 user-node surface on the wire: mapping (claiming) and node state reads.
Handlers translate and delegate only; access rules live in domain/devices/nodes.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.model import PRIMARY, Node
from domain.devices.node_values import ParamsOutcome, ParamsWrite
from domain.devices.use_cases import DeviceUseCases
from domain.errors import DomainError, ValidationFailed
from domain.identifiers import RECORD_ID_PATTERN
from domain.sharing.model import NodeMembership
from rest_compat import schemas as s
from rest_compat.http import (
    Authenticate,
    bool_param,
    caller_for,
    invalid_body,
    json_body,
    json_body_any,
    success,
)
from rest_compat.operations import Operation

TAG = "User Node Association"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
NODE_QUERY = ({"name": "node_id", "in": "query", "required": True, "schema": NODE_ID,
               "description": "also accepted as `nodeid`"},)
TAG_LIST = {"type": "array", "maxItems": 64, "items": {
    "type": "string", "pattern": s.TAG_PATTERN,
    "description": "key:value"}}
METADATA = {"type": "object", "description": "custom metadata (thing-shadow merge: null "
                                              "deletes a key, nested objects merge, arrays "
                                              "replace)"}
GROUP_ID = {"type": "string", "pattern": RECORD_ID_PATTERN,
            "description": "one of the user's own groups: the node joins it (and the groups "
                           "above it) once the mapping is confirmed"}
MAPPING_REQUEST = s.obj({
    "node_id": NODE_ID,
    "secret_key": {"type": "string", "minLength": 1, "maxLength": 256},
    "operation": {"type": "string", "enum": ["add", "remove"]},
    "tags": TAG_LIST, "metadata": METADATA, "group_id": GROUP_ID,
}, ("node_id", "operation"), allOf=[{"if": {"properties": {"operation": {"const": "add"}}},
                                     "then": {"required": ["secret_key"]}}])
MAPPING_RESPONSE = s.obj({"status": {"type": "string", "enum": ["success"]},
                          "description": s.STR, "request_id": s.STR,
                          "request_status": {"type": "string",
                                             "enum": ["requested", "confirmed"]}},
                         ("status", "request_id"))
INITIATE_REQUEST = s.obj({"timeout": {
    "type": "number", "minimum": 0, "maximum": 100 * 365 * 24 * 3600,
    "description": "seconds the challenge stays valid; 0 never expires"}})
INITIATE_RESPONSE = s.obj({"request_id": s.STR, "challenge": s.STR},
                          ("request_id", "challenge"))
VERIFY_REQUEST = s.obj({
    "request_id": {"type": "string", "pattern": RECORD_ID_PATTERN},
    "challenge_response": {"type": "string", "minLength": 1, "maxLength": 2048,
                           "description": "hex signature of the challenge by the node's key"},
    "node_id": NODE_ID, "tags": TAG_LIST, "metadata": METADATA, "group_id": GROUP_ID},
    ("request_id", "challenge_response", "node_id"))
UPDATE_NODE = s.obj({"tags": TAG_LIST, "metadata": {
    "type": ["object", "null"], "description": METADATA["description"] + "; null deletes all"}},
    minProperties=1)
REMOVE_TAGS = s.obj({"tags": {**TAG_LIST, "minItems": 1}}, ("tags",))
PROXY_REQUEST = s.obj({
    "node_payload": {"type": "string", "minLength": 1, "maxLength": 65536,
                     "description": 'JSON string {"data": ..., "timestamp": <epoch seconds>} '
                                    "as the node signed it"},
    "signature": {"type": "string", "minLength": 1, "maxLength": 2048,
                  "description": "hex ECDSA-SHA256 (DER) or RSA-PSS-SHA256 signature of "
                                 "node_payload by the node's key"}},
    ("node_payload", "signature"))
# /v1/user/nodes/<name> of a fixed route is that route, never a node id
PATH_NODE_ID = {"name": "node_id", "in": "path", "required": True, "schema": {
    **NODE_ID, "not": {"enum": ["mapping", "params", "sharing", "status", "ota_update",
                                "ota_status"]}}}
NODE_LIST = s.obj({"nodes": {"type": "array", "items": s.STR},
                   "node_details": {"type": "array", "items": {"type": "object"}},
                   "next_id": s.STR, "total": {"type": "integer"}}, ("nodes", "total"))
MAPPING_STATUS = s.obj({"request_status": {"type": "string", "enum": [
    "requested", "confirmed", "timedout", "discarded"]}}, ("request_status",))
PARAMS = {"type": "object", "additionalProperties": {"type": "object"},
          "description": "reported params: {<device>: {<param>: value}}"}
CONFIG = {"type": "object", "description": "the node's config as it reported it ({} before)"}
DEVICE_PARAMS = {"type": "object", "minProperties": 1, "propertyNames": {"minLength": 1},
                 "additionalProperties": {"type": "object"},
                 "description": "desired params: {<device>: {<param>: value}}"}
SET_PARAMS = {"anyOf": [DEVICE_PARAMS, {
    "type": "array", "minItems": 1, "maxItems": 25,
    "items": s.obj({"node_id": NODE_ID, "payload": DEVICE_PARAMS}, ("node_id", "payload"))}]}
MULTI_STATUS = {"type": "array", "items": s.obj({"node_id": s.STR, "status": {
    "type": "string", "enum": ["success", "failure"]}, "description": s.STR},
    ("node_id", "status"))}
STATUS = s.obj({"connectivity": s.obj({"connected": {"type": "boolean"},
                                       "timestamp": {"type": "integer"}},
                                      ("connected", "timestamp"))}, ("connectivity",))


def _node_id(request: Request) -> str:
    """RainMaker clients spell it node_id or nodeid."""
    value = request.query_params.get("node_id") or request.query_params.get("nodeid")
    if not value:
        raise ValidationFailed("Node Id is missing", reason="node_id_missing")
    return value


def _if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().strip('"')
    if not value.isdigit() or len(value) > 18:
        raise ValidationFailed("If-Match must be the params version (an ETag)",
                               reason="invalid_body")
    return int(value)


def _flag(request: Request, name: str, default: bool) -> bool:
    value = bool_param(request, name)
    return default if value is None else value


def _details(node: Node, membership: NodeMembership, request: Request) -> dict[str, object]:
    entry: dict[str, object] = {"id": node.id, "role": membership.role,
                                "primary": membership.role == PRIMARY,
                                "mapping_timestamp": int(membership.created_at.timestamp())}
    if _flag(request, "status", True):
        entry["status"] = {"connectivity": {"connected": node.connectivity.connected,
                                            "timestamp": node.connectivity.timestamp_ms}}
    if _flag(request, "config", True):
        entry["config"] = node.config or {}
    if _flag(request, "params", True):
        entry["params"] = node.reported
    if _flag(request, "show_tags", True):
        entry["tags"] = node.tags
    entry["metadata"] = node.metadata or {}
    return entry


def _params_result(outcome: ParamsOutcome) -> dict[str, object]:
    if outcome.error is None:
        return {"node_id": outcome.node_id, "status": "success",
                "description": "Node params updated successfully"}
    return {"node_id": outcome.node_id, "status": "failure",
            "description": outcome.error.message}


def node_operations(devices: DeviceUseCases, authenticate: Authenticate,
                    max_body: int) -> list[Operation]:
    nodes = devices.nodes

    async def map_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=MAPPING_REQUEST)
        result = await nodes.map_node(caller, node_id=body["node_id"],
                                      operation=body["operation"],
                                      secret_key=body.get("secret_key"),
                                      tags=body.get("tags"), metadata=body.get("metadata"),
                                      group_id=body.get("group_id"))
        return success(f"User node mapping request {result.status}", request_id=result.id,
                       request_status=result.status)

    async def initiate(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=INITIATE_REQUEST)
        result = await devices.mapping.initiate_challenge(caller,
                                                          timeout_seconds=body.get("timeout"))
        return JSONResponse({"request_id": result.id, "challenge": result.challenge})

    async def verify(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=VERIFY_REQUEST)
        await devices.mapping.verify_challenge(
            caller, request_id=body["request_id"], node_id=body["node_id"],
            challenge_response=body["challenge_response"], tags=body.get("tags"),
            metadata=body.get("metadata"), group_id=body.get("group_id"))
        return success("User node mapping request confirmed")

    async def update_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = _node_id(request)
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_NODE)
        await nodes.update_node(caller, node_id=node_id, tags=body.get("tags"),
                                **({"metadata": body["metadata"]} if "metadata" in body else {}))
        return success("Node details updated successfully")

    async def remove_tags(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = _node_id(request)
        body = await json_body(request, max_bytes=max_body, schema=REMOVE_TAGS)
        await nodes.remove_tags(caller, node_id=node_id, tags=body["tags"])
        return success("Node tags removed successfully")

    async def delete_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await nodes.delete_node(caller, node_id=request.path_params["node_id"])
        return success("Node deleted successfully. All user associations, sharing requests, "
                       "and group memberships have been removed.")

    async def proxy(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=PROXY_REQUEST)
        await devices.proxy.relay(caller, node_id=request.path_params["node_id"],
                                  action=request.path_params["action"],
                                  node_payload=body["node_payload"],
                                  signature=body["signature"])
        return success(f"Node {request.path_params['action']} request queued successfully")

    async def list_nodes(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        raw_count = request.query_params.get("num_records", "25")
        if not raw_count.isascii() or not raw_count.isdigit() or len(raw_count) > 8:
            raise ValidationFailed("num_records must be 1..100", reason="invalid_page")
        details = _flag(request, "node_details", False)
        for name in ("status", "config", "params", "show_tags"):
            _flag(request, name, True)  # validated even when details are off
        page = await nodes.list_nodes(
            caller, node_id=request.query_params.get("node_id"),
            start_id=request.query_params.get("start_id"), num_records=int(raw_count),
            tags=request.query_params.get("tags"))
        body: dict[str, object] = {"nodes": [node.id for node, _ in page.entries],
                                   "total": page.total}
        if details:
            body["node_details"] = [_details(n, m, request) for n, m in page.entries]
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def mapping_status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        result = await nodes.mapping_status(caller,
                                            request_id=request.query_params.get("request_id"))
        return JSONResponse({"request_status": result.status})

    async def params(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        reported, version = await nodes.node_params_versioned(caller, node_id=_node_id(request))
        # the shadow version: send it back as If-Match to refuse a stale write (409)
        return JSONResponse(reported, headers={"ETag": f'"{version}"'})

    async def set_params(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        expected_version = _if_match(request)  # checked for both forms; used by the single one
        # Only the multi-node form is held to SET_PARAMS here: a single node's params are
        # checked by the use case, whose answer names what is wrong with them.
        body = await json_body_any(request, max_bytes=max_body)
        if isinstance(body, list):  # the multi-node form: one result per node (207)
            if (violation := s.validate(SET_PARAMS, body)) is not None:
                raise invalid_body(violation, body)
            try:
                outcomes = await nodes.set_params_many(caller, writes=[
                    ParamsWrite(node_id=item["node_id"], params=item["payload"])
                    for item in body])
            except DomainError as exc:  # RainMaker answers per node, even for the batch
                outcomes = [ParamsOutcome(node_id=item["node_id"], error=exc) for item in body]
            return JSONResponse([_params_result(o) for o in outcomes], status_code=207)
        version = await nodes.set_params(caller, node_id=_node_id(request), params=body,
                                         expected_version=expected_version)
        response = success("Node params updated successfully")
        response.headers["ETag"] = f'"{version}"'
        return response

    async def config(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        return JSONResponse(await nodes.node_config(caller, node_id=_node_id(request)))

    async def status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        state = await nodes.node_status(caller, node_id=_node_id(request))
        return JSONResponse({"connectivity": {"connected": state.connected,
                                              "timestamp": state.timestamp_ms}})

    return [
        Operation(method="GET", path="/v1/user/nodes", handler=list_nodes,
                  operation_id="getUserNodes", tag=TAG,
                  summary="The nodes the user reaches, with optional details, a page at a time",
                  uses=(nodes.list_nodes,),
                  query=({"name": "node_id", "in": "query", "schema": NODE_ID},
                         {"name": "node_details", "in": "query", "schema": s.flag(False)},
                         *({"name": f, "in": "query", "schema": s.flag(True)}
                           for f in ("status", "config", "params", "show_tags")),
                         {"name": "start_id", "in": "query",
                          "schema": {"type": "string", "maxLength": 64}},
                         {"name": "num_records", "in": "query",
                          "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}},
                         {"name": "tags", "in": "query", "schema": {
                             "type": "string", "pattern": "^[^,:]+:[^,]*(,[^,:]+:[^,]*)*$",
                             "maxLength": 1024}}),
                  responses={200: NODE_LIST}),
        Operation(method="PUT", path="/v1/user/nodes/mapping", handler=map_node,
                  operation_id="userNodeMapping", tag=TAG,
                  summary="Add or remove the user-node mapping (secret_key from provisioning)",
                  uses=(nodes.map_node,), request_body=MAPPING_REQUEST,
                  responses={200: MAPPING_RESPONSE}),
        Operation(method="PUT", path="/v1/user/nodes", handler=update_node,
                  operation_id="updateUserNode", tag=TAG,
                  summary="Add tags to a node or update its metadata",
                  uses=(nodes.update_node,), query=NODE_QUERY, request_body=UPDATE_NODE,
                  responses={200: s.SUCCESS}),
        Operation(method="DELETE", path="/v1/user/nodes", handler=remove_tags,
                  operation_id="deleteUserNodeTags", tag=TAG, summary="Remove tags from a node",
                  uses=(nodes.remove_tags,), query=NODE_QUERY, request_body=REMOVE_TAGS,
                  responses={200: s.SUCCESS}),
        Operation(method="DELETE", path="/v1/user/nodes/{node_id}", handler=delete_node,
                  operation_id="deleteNode", tag=TAG,
                  summary="Delete every user association of a node (primary only)",
                  uses=(nodes.delete_node,), query=(PATH_NODE_ID,),
                  responses={200: s.SUCCESS}, extra_statuses=(403, 405)),
        Operation(method="POST", path="/v1/user/nodes/mapping/initiate", handler=initiate,
                  operation_id="mappingInitiate", tag=TAG,
                  summary="Start challenge-based mapping: a challenge for the node to sign",
                  uses=(devices.mapping.initiate_challenge,), request_body=INITIATE_REQUEST,
                  responses={200: INITIATE_RESPONSE}),
        Operation(method="POST", path="/v1/user/nodes/mapping/verify", handler=verify,
                  operation_id="verifyUserNodeMappingRequest", tag=TAG,
                  summary="Confirm challenge-based mapping with the node's signature",
                  uses=(devices.mapping.verify_challenge,), request_body=VERIFY_REQUEST,
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="POST", path="/v1/user/nodes/{node_id}/proxy/{action}", handler=proxy,
                  operation_id="proxyNodeAction", tag="Node Proxy",
                  summary="Apply a node report (params, initparams, config) signed by the node "
                          "and relayed by the user's app",
                  uses=(devices.proxy.relay,), request_body=PROXY_REQUEST,
                  query=(PATH_NODE_ID, {"name": "action", "in": "path", "required": True,
                                        "schema": {"type": "string", "enum": [
                                            "params", "initparams", "config"]}}),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/user/nodes/mapping", handler=mapping_status,
                  operation_id="userNodeMappingStatus", tag=TAG,
                  summary="Status of a user-node mapping request", uses=(nodes.mapping_status,),
                  query=({"name": "request_id", "in": "query", "required": True,
                          "schema": {"type": "string", "pattern": RECORD_ID_PATTERN}},),
                  responses={200: MAPPING_STATUS}),
        Operation(method="GET", path="/v1/user/nodes/params", handler=params,
                  operation_id="getNodeParams", tag="Node Parameter Operations",
                  summary="The node's reported params", uses=(nodes.node_params,),
                  query=NODE_QUERY, responses={200: PARAMS}),
        Operation(method="PUT", path="/v1/user/nodes/params", handler=set_params,
                  operation_id="setNodeParams", tag="Node Parameter Operations",
                  summary="Set desired params of one node (node_id) or of several (array body)",
                  uses=(nodes.set_params, nodes.set_params_many), request_body=SET_PARAMS,
                  query=({"name": "node_id", "in": "query", "required": False,
                          "schema": NODE_ID},
                         {"name": "If-Match", "in": "header", "required": False,
                          "schema": {"type": "string", "pattern": '^"?[0-9]{1,18}"?$'}}),
                  responses={200: s.SUCCESS, 207: MULTI_STATUS}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/user/nodes/config", handler=config,
                  operation_id="getNodeConfig", tag=TAG, summary="The node's config",
                  uses=(nodes.node_config,), query=NODE_QUERY, responses={200: CONFIG}),
        Operation(method="GET", path="/v1/user/nodes/status", handler=status,
                  operation_id="getNodeStatus", tag=TAG,
                  summary="The node's online/offline status", uses=(nodes.node_status,),
                  query=NODE_QUERY, responses={200: STATUS}),
    ]
