"""RainMaker v1 user-node surface on the wire: mapping (claiming) and node state reads.
Handlers translate and delegate only; access rules live in domain/devices/nodes.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.use_cases import DeviceUseCases
from domain.errors import DomainError, ValidationFailed
from rest_compat import schemas as s
from rest_compat.http import Authenticate, caller_for, json_body, json_body_any, success
from rest_compat.operations import Operation

TAG = "User Node Association"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
NODE_QUERY = ({"name": "node_id", "in": "query", "required": True, "schema": NODE_ID,
               "description": "also accepted as `nodeid`"},)
MAPPING_REQUEST = s.obj({
    "node_id": NODE_ID,
    "secret_key": {"type": "string", "minLength": 1, "maxLength": 256},
    "operation": {"type": "string", "enum": ["add", "remove"]},
}, ("node_id", "operation"), allOf=[{"if": {"properties": {"operation": {"const": "add"}}},
                                     "then": {"required": ["secret_key"]}}])
MAPPING_RESPONSE = s.obj({"status": {"type": "string", "enum": ["success"]},
                          "description": s.STR, "request_id": s.STR}, ("status", "request_id"))
MAPPING_STATUS = s.obj({"request_status": {"type": "string", "enum": [
    "requested", "confirmed", "timedout", "discarded"]}}, ("request_status",))
PARAMS = {"type": "object", "additionalProperties": {"type": "object"},
          "description": "reported params: {<device>: {<param>: value}}"}
CONFIG = {"type": "object", "description": "the node's config as it reported it ({} before)"}
DEVICE_PARAMS = {"type": "object", "minProperties": 1,
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


def node_operations(devices: DeviceUseCases, authenticate: Authenticate,
                    max_body: int) -> list[Operation]:
    nodes = devices.nodes

    async def map_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=MAPPING_REQUEST)
        result = await nodes.map_node(caller, node_id=body["node_id"],
                                      operation=body["operation"],
                                      secret_key=body.get("secret_key"))
        return success("User node mapping request confirmed", request_id=result.id)

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
        body = await json_body_any(request, max_bytes=max_body, schema=SET_PARAMS)
        if isinstance(body, list):  # the multi-node form: one result per node (207)
            results = []
            for item in body:
                try:
                    await nodes.set_params(caller, node_id=item["node_id"],
                                           params=item["payload"])
                    results.append({"node_id": item["node_id"], "status": "success",
                                    "description": "Node params updated successfully"})
                except DomainError as exc:
                    results.append({"node_id": item["node_id"], "status": "failure",
                                    "description": exc.message})
            return JSONResponse(results, status_code=207)
        version = await nodes.set_params(caller, node_id=_node_id(request), params=body,
                                         expected_version=_if_match(request))
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
        Operation(method="PUT", path="/v1/user/nodes/mapping", handler=map_node,
                  operation_id="userNodeMapping", tag=TAG,
                  summary="Add or remove the user-node mapping (secret_key from provisioning)",
                  uses=(nodes.map_node,), request_body=MAPPING_REQUEST,
                  responses={200: MAPPING_RESPONSE}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/user/nodes/mapping", handler=mapping_status,
                  operation_id="userNodeMappingStatus", tag=TAG,
                  summary="Status of a user-node mapping request", uses=(nodes.mapping_status,),
                  query=({"name": "request_id", "in": "query", "required": True,
                          "schema": {"type": "string", "minLength": 1, "maxLength": 64}},),
                  responses={200: MAPPING_STATUS}),
        Operation(method="GET", path="/v1/user/nodes/params", handler=params,
                  operation_id="getNodeParams", tag="Node Parameter Operations",
                  summary="The node's reported params", uses=(nodes.node_params,),
                  query=NODE_QUERY, responses={200: PARAMS}),
        Operation(method="PUT", path="/v1/user/nodes/params", handler=set_params,
                  operation_id="setNodeParams", tag="Node Parameter Operations",
                  summary="Set desired params of one node (node_id) or of several (array body)",
                  uses=(nodes.set_params,), request_body=SET_PARAMS,
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
