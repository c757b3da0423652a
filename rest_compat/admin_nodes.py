"""RainMaker v1 admin node surface on the wire: the organization's nodes (filters, counts,
activation, tags) and user-node mappings made by an admin. Handlers translate and delegate;
the rules live in domain/devices/admin.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.admin_requests import MAX_TAG_FILTER, TAG_FILTER_PATTERN, NodeOutcome
from domain.devices.model import ACTIVITY_STATUSES, MAX_TAGS, NODE_STATUSES, Node
from domain.devices.use_cases import DeviceUseCases
from domain.errors import ValidationFailed
from domain.sharing.model import NodeMembership
from rest_compat import schemas as s
from rest_compat.errors import status_and_code
from rest_compat.http import (
    Authenticate,
    bool_param,
    caller_for,
    invalid_body,
    json_body,
    success,
)
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG = "User Node Association"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
NODE_ID_LIST = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64}){0,24}$",
                "description": "one node id, or up to 25 comma-separated"}
TAG_ITEM = {"type": "string", "pattern": s.TAG_PATTERN,
            "description": "key:value"}
TAGS = {"type": "array", "minItems": 1, "maxItems": MAX_TAGS, "items": TAG_ITEM}
TAGS_BODY = s.obj({"tags": TAGS}, ("tags",))
OPTIONAL_TAGS_BODY = s.obj({"tags": TAGS})
MAPPING_BODY = s.obj({"role": {"type": "string", "enum": ["primary", "secondary"],
                               "default": "primary",
                               "description": "Fleetgate extension; RainMaker maps primary"}})
PAGE_SIZE = {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}
FLAG = s.FLAG
TEXT = {"type": "string", "maxLength": 128}
# the handler answers bad values of these with RainMaker's own error codes
HANDLED = {"x-fleetgate-handler-validates": True}

CONNECTIVITY = s.obj({"connectivity": s.obj({"connected": {"type": "boolean"},
                                             "timestamp": {"type": "integer"}})})
NODE_INFO = s.obj({
    "node_id": s.STR, "name": s.STR, "type": s.STR, "model": s.STR, "fw_version": s.STR,
    "subtype": s.STR, "project_name": s.STR,
    "node_status": {"type": "string", "enum": list(NODE_STATUSES)},
    "registration_timestamp": {"type": "integer"}, "mapping_timestamp": {"type": "integer"},
    "laststatusupdate_timestamp": {"type": "integer"},
    "tags": {"type": "array", "items": s.STR}, "metadata": {"type": "object"},
    "status": CONNECTIVITY, "config": {"type": "object"}, "params": {"type": "object"}},
    ("node_id", "node_status", "status"))
NODE_LIST = s.obj({"nodes": {"type": "array", "items": s.STR},
                   "node_info": {"type": "array", "items": NODE_INFO},
                   "total": {"type": "integer"}, "next_id": s.STR}, ("nodes", "total"))
SUMMARY = s.obj({"active_count": {"type": "integer"}, "inactive_count": {"type": "integer"},
                 "not_activated_count": {"type": "integer"}},
                ("active_count", "inactive_count", "not_activated_count"))
MULTI_STATUS = s.obj({"responses": {"type": "array", "items": s.obj({
    "node_id": s.STR, "status": {"type": "string", "enum": ["success", "failure"]},
    "description": s.STR, "error_code": {"type": "integer"}}, ("node_id", "status"))}},
    ("responses",))
TAG_NAMES = s.obj({"tags": {"type": "array", "items": s.STR},
                   "tag_values": {"type": "array", "items": s.STR},
                   "total": {"type": "integer"}, "next_id": s.STR}, ("total",))
USER_REF = s.obj({"user_id": s.STR, "user_name": s.STR}, ("user_id", "user_name"))
BY_ROLE = s.obj({"nodes": {"type": "array", "items": s.STR},
                 "users": {"type": "array", "items": USER_REF}, "total": {"type": "integer"}},
                ("total",))
ASSOCIATION = s.obj({"primary": BY_ROLE, "secondary": BY_ROLE, "total": {"type": "integer"},
                     "node_info": {"type": "array", "items": NODE_INFO}, "next_id": s.STR},
                    ("total",))
FILTERS = ("type", "model", "fw_version", "subtype", "project_name", "tags", "node_status")


def _explain_tags(violation: Violation, _body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "tags" and violation.keyword in ("required", "minItems"):
        return ValidationFailed("Please specify atleast one tag", reason="no_tags")
    if violation.field == "tags":
        return ValidationFailed("Some tags are invalid. Valid tag should be of type key:value",
                                reason="invalid_node_tags")
    return invalid_body(violation)


def _explain_role(violation: Violation, _body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "role":
        return ValidationFailed("Error, invalid role. Enter one of [primary, secondary]",
                                reason="invalid_role")
    return invalid_body(violation)


def _page_size(request: Request) -> int:
    return int(request.query_params.get("num_records", "25"))  # the documented pattern held


def _start_time(request: Request) -> int | None:
    raw = request.query_params.get("start_time")
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 15:
        raise ValidationFailed("Please provide a valid start time [Example: 1672531200000]",
                               reason="invalid_start_time")
    return int(raw)


def node_info(node: Node, *, full: bool = False,
              mapping: NodeMembership | None = None) -> dict[str, object]:
    """RainMaker's NodeInfo; config and params only for one node asked by node_id."""
    state = node.connectivity
    entry: dict[str, object] = {
        "node_id": node.id, "name": node.name, "type": node.type, "model": node.model,
        "fw_version": node.fw_version, "subtype": node.info_field("subtype"),
        "project_name": node.info_field("project_name"), "node_status": node.node_status,
        "registration_timestamp": int(node.created_at.timestamp()),
        "tags": node.tags, "metadata": node.metadata or {},
        "status": {"connectivity": {"connected": state.connected,
                                    "timestamp": state.timestamp_ms}
                   if state.timestamp_ms or state.connected else {}}}
    if state.timestamp_ms:
        entry["laststatusupdate_timestamp"] = state.timestamp_ms
    if mapping is not None:
        entry["mapping_timestamp"] = int(mapping.created_at.timestamp())
    if full:
        entry["config"] = node.config or {}
        entry["params"] = node.reported
    return entry


def _outcomes(outcomes: list[NodeOutcome], done: str) -> Response:
    """200 when every node succeeded, else 207 with one result per node."""
    if all(o.error is None for o in outcomes):
        return success(done)
    results: list[dict[str, object]] = []
    for outcome in outcomes:
        if outcome.error is None:
            results.append({"node_id": outcome.node_id, "status": "success",
                            "description": done})
        else:
            results.append({"node_id": outcome.node_id, "status": "failure",
                            "description": outcome.error.message,
                            "error_code": status_and_code(outcome.error)[1]})
    return JSONResponse({"responses": results}, status_code=207)


def admin_node_operations(devices: DeviceUseCases, authenticate: Authenticate,
                          max_body: int) -> list[Operation]:
    admin = devices.admin

    async def list_nodes(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        q = request.query_params
        filters = {name: q.get(name) for name in FILTERS}
        if bool_param(request, "summary") and q.get("node_id") is None:
            counts = await admin.activity_summary(caller, start_time=_start_time(request),
                                                  **filters)
            return JSONResponse({"active_count": counts.active_count,
                                 "inactive_count": counts.inactive_count,
                                 "not_activated_count": counts.not_activated_count})
        page = await admin.list_nodes(caller, node_id=q.get("node_id"),
                                      start_time=_start_time(request),
                                      start_id=q.get("start_id"),
                                      num_records=_page_size(request), **filters)
        if q.get("node_id") is not None:
            return JSONResponse(node_info(page.nodes[0], full=True))
        body: dict[str, object] = {"nodes": [n.id for n in page.nodes],
                                   "node_info": [node_info(n) for n in page.nodes],
                                   "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def update_nodes(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        activate = bool_param(request, "activate", reason="invalid_node_operation")
        body = await json_body(request, max_bytes=max_body, required=False,
                               schema=OPTIONAL_TAGS_BODY, explain=_explain_tags)
        outcomes = await admin.update_nodes(caller, node_ids=request.query_params.get("node_id"),
                                            activate=activate, tags=body.get("tags"))
        return _outcomes(outcomes, "Node(s) updated successfully")

    async def remove_tags(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=TAGS_BODY,
                               explain=_explain_tags)
        outcomes = await admin.remove_tags(caller, node_ids=request.query_params.get("node_id"),
                                           tags=body["tags"])
        return _outcomes(outcomes, "Tags removed successfully")

    async def tag_names(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        name = request.query_params.get("tag_name")
        page = await admin.tag_names(caller, tag_name=name,
                                     start_id=request.query_params.get("start_id"),
                                     num_records=_page_size(request))
        body: dict[str, object] = {"tags" if name is None else "tag_values": page.items,
                                   "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def associations(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        q = request.query_params
        found = await admin.associations(
            caller, user_id=q.get("user_id"), user_name=q.get("user_name"),
            node_id=q.get("node_id"), role=q.get("role"),
            node_details=bool(bool_param(request, "node_details")),
            start_id=q.get("start_id"), num_records=_page_size(request))
        key = "users" if q.get("node_id") is not None else "nodes"
        body: dict[str, object] = {
            role: {key: [{"user_id": e[0], "user_name": e[1]} if isinstance(e, tuple) else e
                         for e in entries], "total": found.totals[role]}
            for role, entries in found.by_role.items()}
        body["total"] = sum(found.totals.values())
        if found.details:
            body["node_info"] = [node_info(n, mapping=found.mappings.get(n.id))
                                 for n in found.details]
        if found.next_id is not None:
            body["next_id"] = found.next_id
        return JSONResponse(body)

    async def map_user_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, required=False, schema=MAPPING_BODY,
                               explain=_explain_role)
        await admin.map_user_node(caller, user_id=request.path_params["user_id"],
                                  node_id=request.path_params["node_id"],
                                  role=body.get("role", "primary"))
        return success("User node mapping confirmed successfully")

    async def unmap_user_node(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await admin.unmap_user_node(caller, user_id=request.path_params["user_id"],
                                    node_id=request.path_params["node_id"])
        return success("Node to user mapping removed successfully")

    start_id = {"name": "start_id", "in": "query", "schema": {"type": "string", "maxLength": 64}}
    num_records = {"name": "num_records", "in": "query", "schema": PAGE_SIZE}
    mapping_path = "/v1/admin/users/{user_id}/nodes/{node_id}/mapping"
    path_params = ({"name": "user_id", "in": "path", "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},
                   {"name": "node_id", "in": "path", "required": True, "schema": NODE_ID})
    return [
        Operation(method="GET", path="/v1/admin/nodes", handler=list_nodes,
                  operation_id="getAdminUserNodes", tag=TAG,
                  summary="The organization's nodes, filtered and paged; one node's details "
                          "(node_id); or activity counts (summary=true&start_time=)",
                  uses=(admin.list_nodes, admin.activity_summary),
                  query=({"name": "node_id", "in": "query", "schema": NODE_ID},
                         *({"name": f, "in": "query", "schema": TEXT}
                           for f in ("type", "model", "fw_version", "subtype",
                                     "project_name")),
                         {"name": "tags", "in": "query", "schema": {
                             "type": "string", "pattern": TAG_FILTER_PATTERN,
                             "maxLength": MAX_TAG_FILTER,
                             "description": "k:v OR k2:v2 (any), or k:v AND k2:v2 (all)"},
                          **HANDLED},
                         {"name": "node_status", "in": "query", "schema": {
                             "type": "string", "enum": list(NODE_STATUSES + ACTIVITY_STATUSES)},
                          **HANDLED},
                         {"name": "summary", "in": "query", "schema": FLAG},
                         {"name": "start_time", "in": "query", "schema": {
                             "type": "string", "pattern": "^[0-9]{1,15}$",
                             "description": "epoch milliseconds"}, **HANDLED},
                         start_id, num_records),
                  responses={200: {"anyOf": [NODE_LIST, NODE_INFO, SUMMARY]}}),
        Operation(method="PUT", path="/v1/admin/nodes", handler=update_nodes,
                  operation_id="updateNodeCertificateStatus", tag=TAG,
                  summary="Activate/deactivate nodes (their broker credentials) and/or attach "
                          "tags, for up to 25 nodes",
                  uses=(admin.update_nodes,), request_body=OPTIONAL_TAGS_BODY,
                  body_required=False,
                  query=({"name": "node_id", "in": "query", "required": True,
                          "schema": NODE_ID_LIST, **HANDLED},
                         {"name": "activate", "in": "query", "schema": FLAG, **HANDLED}),
                  responses={200: s.SUCCESS, 207: MULTI_STATUS}),
        Operation(method="DELETE", path="/v1/admin/nodes", handler=remove_tags,
                  operation_id="removeadminnodetags", tag=TAG,
                  summary="Remove tags from nodes (up to 25)", uses=(admin.remove_tags,),
                  request_body=TAGS_BODY,
                  query=({"name": "node_id", "in": "query", "required": True,
                          "schema": NODE_ID_LIST, **HANDLED},),
                  responses={200: s.SUCCESS, 207: MULTI_STATUS}),
        Operation(method="GET", path="/v1/admin/nodes/tags", handler=tag_names,
                  operation_id="getAdminTags", tag=TAG,
                  summary="Tag names on the organization's nodes, or one tag's values",
                  uses=(admin.tag_names,),
                  query=({"name": "tag_name", "in": "query",
                          "schema": {"type": "string", "maxLength": 64}},
                         {"name": "start_id", "in": "query",
                          "schema": {"type": "string", "maxLength": 192}}, num_records),
                  responses={200: TAG_NAMES}),
        Operation(method="GET", path="/v1/admin/user/nodes", handler=associations,
                  operation_id="getUserNodesForAdmins", tag=TAG,
                  summary="A user's nodes (user_id or user_name) or a node's users (node_id)",
                  uses=(admin.associations,),
                  query=({"name": "user_id", "in": "query",
                          "schema": {"type": "string", "maxLength": 64}},
                         {"name": "user_name", "in": "query",
                          "schema": s.USER_NAME, **HANDLED},
                         {"name": "node_id", "in": "query", "schema": NODE_ID},
                         {"name": "role", "in": "query", "schema": {
                             "type": "string", "enum": ["primary", "secondary"]}, **HANDLED},
                         {"name": "node_details", "in": "query", "schema": FLAG},
                         start_id, num_records),
                  responses={200: ASSOCIATION}),
        Operation(method="PUT", path=mapping_path, handler=map_user_node,
                  operation_id="adminUpdateUserNodeMapping", tag=TAG,
                  summary="Map a user of the organization to a node directly (primary: the "
                          "node's other mappings go)",
                  uses=(admin.map_user_node,), request_body=MAPPING_BODY, body_required=False,
                  query=path_params, responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="DELETE", path=mapping_path, handler=unmap_user_node,
                  operation_id="adminDeleteUserNodeMapping", tag=TAG,
                  summary="Remove a user's mapping to a node directly",
                  uses=(admin.unmap_user_node,), query=path_params,
                  responses={200: s.SUCCESS}),
    ]
