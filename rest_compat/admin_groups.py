"""RainMaker v1 admin device groups on the wire (/v1/admin/node_group). Handlers translate and
delegate; the rules live in domain/devices/admin_groups.py and domain/groups/admin/model.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.admin_groups import UNSET, AdminGroupPage
from domain.devices.use_cases import DeviceUseCases
from domain.errors import ValidationFailed
from domain.groups.admin.model import ALL_NODES, MAX_QUERY_VALUE, AdminGroup
from domain.groups.model import MAX_DESCRIPTION, MAX_NAME, MAX_TYPE
from rest_compat import schemas as s
from rest_compat.admin_nodes import node_info
from rest_compat.groups import (
    DOCUMENT,
    GROUP_ID,
    GROUP_ID_QUERY,
    GROUP_NAME,
    NODES,
    explain_group_body,
    group_id_param,
)
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG = "Device grouping"
PATH = "/v1/admin/node_group"
QUERY_VALUE = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_VALUE}
QUERY_FIELDS = ("node_type", "node_model", "node_fw_version")
_SHARED: dict[str, Any] = {
    "group_name": GROUP_NAME, "type": {"type": "string", "maxLength": MAX_TYPE},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "mutually_exclusive": {"type": "boolean"}, "nodes": NODES, "custom_data": DOCUMENT}
CREATE_GROUP = s.obj({**_SHARED, "parent_group_id": GROUP_ID,
                      **{f: QUERY_VALUE for f in QUERY_FIELDS}}, ("group_name",),
                     description="A static group (nodes, parent_group_id) or a dynamic one "
                                 "(node_type, node_model and/or node_fw_version; not with "
                                 "nodes nor parent_group_id)")
_UPDATABLE = ("group_name", "type", "description", "mutually_exclusive", "custom_data",
              "operation")
UPDATE_GROUP = s.obj({
    **_SHARED, "operation": {"type": "string", "enum": ["add", "remove", "ADD", "REMOVE"]},
    "custom_data": {**DOCUMENT, "type": ["object", "null"]},
    "regroup": {"type": "boolean", "description": "true: a dynamic group's members become "
                                                  "the nodes matching its query now"}},
    dependentRequired={"operation": ["nodes"]},
    anyOf=[*({"required": [name]} for name in _UPDATABLE),
           {"required": ["regroup"], "properties": {"regroup": {"enum": [True]}}}])
CREATED = s.obj({"status": s.STR, "description": s.STR, "group_id": s.STR},
                ("status", "group_id"))
SUB_GROUP: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "type": s.STR, "description": s.STR,
    "mutually_exclusive": {"type": "boolean"}, "parent_group_id": s.STR,
    "total": {"type": "integer"}, "custom_data": {"type": "object"}, "group_query": s.STR,
    "sub_groups": {"type": ["array", "null"], "items": {"type": "object"}}},
    ("group_id", "group_name", "total"))
ONE_GROUP: dict[str, Any] = s.obj({
    **SUB_GROUP["properties"], "nodes": {"type": "array", "items": s.STR},
    "node_details": {"type": "array", "items": {"type": "object"}}, "next_id": s.STR},
    ("group_id", "group_name", "total"))
GROUP_LIST = s.obj({"groups": {"type": "array", "items": SUB_GROUP},
                    "total": {"type": "integer"}, "next_id": s.STR}, ("groups",))
FLAG = {"type": "string", "enum": ["true", "false"]}


def _explain(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    """The user-group failures, with regroup among the fields an update may name."""
    if violation.keyword == "anyOf":
        return ValidationFailed("Either group name, type, description, mutually_exclusive, "
                                "custom_data, regroup [true] or operation needs to specified",
                                reason="group_update_empty")
    return explain_group_body(violation, body)


def _entry(group: AdminGroup, page: AdminGroupPage) -> dict[str, object]:
    """A group's fields, its node count and its sub-groups (recursively)."""
    entry: dict[str, object] = {
        "group_id": group.id, "group_name": group.name, "type": group.type,
        "description": group.description, "mutually_exclusive": group.mutually_exclusive,
        "total": len(group.nodes)}
    if group.parent_id is not None:
        entry["parent_group_id"] = group.parent_id
    if group.custom_data is not None:
        entry["custom_data"] = group.custom_data
    if group.query is not None:
        entry["group_query"] = group.query.describe()
    if group.id != ALL_NODES:
        kids = page.tree.children(group.id)
        entry["sub_groups"] = [_entry(k, page) for k in kids] or None
    return entry


def admin_group_operations(devices: DeviceUseCases, authenticate: Authenticate,
                           max_body: int) -> list[Operation]:
    groups = devices.admin_groups

    async def create(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_GROUP,
                               explain=_explain)
        group = await groups.create_group(
            caller, name=body["group_name"], nodes=body.get("nodes"),
            parent_id=body.get("parent_group_id"), type=body.get("type"),
            description=body.get("description"),
            mutually_exclusive=body.get("mutually_exclusive", False),
            custom_data=body.get("custom_data"),
            **{f: body.get(f) for f in QUERY_FIELDS})
        return success("Group created successfully", group_id=group.id)

    async def update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        group_id = group_id_param(request)
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_GROUP,
                               explain=_explain)
        fields = {("name" if k == "group_name" else k): body.get(k, UNSET)
                  for k in ("group_name", "type", "description", "mutually_exclusive",
                            "custom_data", *QUERY_FIELDS)}
        await groups.update_group(caller, group_id=group_id, operation=body.get("operation"),
                                  nodes=body.get("nodes"), regroup=body.get("regroup", False),
                                  **fields)
        return success("Group updated successfully")

    async def get(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        q = request.query_params
        one = q.get("group_id") is not None or q.get("group_name") is not None
        details = bool(bool_param(request, "node_details")) and one
        page = await groups.list_groups(
            caller, group_id=q.get("group_id"), group_name=q.get("group_name"),
            start_id=q.get("start_id"), num_records=int(q.get("num_records", "25")),
            node_details=details, **{f: q.get(f) for f in QUERY_FIELDS})
        if one:
            body = _entry(page.groups[0], page)
            if details:  # node details replace the nodes array
                body["node_details"] = [node_info(page.nodes[n]) for n in page.node_ids
                                        if n in page.nodes]
            else:
                body["nodes"] = page.node_ids
        else:
            body = {"groups": [_entry(g, page) for g in page.groups], "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def delete(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await groups.delete_group(caller, group_id=group_id_param(request))
        return success("Group deleted successfully")

    return [
        Operation(method="POST", path=PATH, handler=create,
                  operation_id="createdevicegroup", tag=TAG,
                  summary="Create an admin device group of the organization: static (nodes, "
                          "at most three levels) or dynamic (a query on node type, model and "
                          "firmware version)",
                  uses=(groups.create_group,), request_body=CREATE_GROUP,
                  responses={200: CREATED}, extra_statuses=(409,)),
        Operation(method="PUT", path=PATH, handler=update,
                  operation_id="updatedevicegroup", tag=TAG,
                  summary="Add/remove nodes of an admin device group, update its fields, or "
                          "regroup a dynamic group from the nodes' current type, model and "
                          "firmware version",
                  uses=(groups.update_group,), request_body=UPDATE_GROUP,
                  query=(GROUP_ID_QUERY,), responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path=PATH, handler=get,
                  operation_id="admingetdevicegroup", tag=TAG,
                  summary="The organization's admin groups (top level, with sub-groups) a "
                          "page at a time, the dynamic groups of a query, or one group with a "
                          f"page of its nodes ({ALL_NODES}: every node of the organization)",
                  uses=(groups.list_groups,),
                  query=({"name": "group_id", "in": "query", "schema": GROUP_ID},
                         {"name": "group_name", "in": "query",
                          "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}},
                         {"name": "node_details", "in": "query", "schema": FLAG},
                         *({"name": f, "in": "query", "schema": QUERY_VALUE}
                           for f in QUERY_FIELDS),
                         {"name": "start_id", "in": "query",
                          "schema": {"type": "string", "maxLength": 64}},
                         {"name": "num_records", "in": "query",
                          "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}}),
                  responses={200: {"anyOf": [GROUP_LIST, ONE_GROUP]}}),
        Operation(method="DELETE", path=PATH, handler=delete,
                  operation_id="deletedevicegroup", tag=TAG,
                  summary="Delete an admin device group and its sub-groups",
                  uses=(groups.delete_group,), query=(GROUP_ID_QUERY,),
                  responses={200: s.SUCCESS}),
    ]
