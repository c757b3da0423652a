"""RainMaker v1 user device groups on the wire (/v1/user/node_group). Handlers translate and
delegate; the rules live in domain/devices/groups.py and domain/groups/model.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.groups import UNSET, GroupPage
from domain.devices.model import PRIMARY
from domain.devices.use_cases import DeviceUseCases
from domain.errors import ValidationFailed
from domain.groups.model import MAX_DESCRIPTION, MAX_NAME, MAX_NODES_PER_CALL, MAX_TYPE, NodeGroup
from domain.identifiers import RECORD_ID_PATTERN
from rest_compat import schemas as s
from rest_compat.admin_nodes import node_info
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG = "Device grouping"
NODE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
GROUP_ID = {"type": "string", "pattern": RECORD_ID_PATTERN}
_NAME_CHAR = f"[^{s.CONTROL}\\\\#$|]"
_NAME_EDGE = f"[^{s.CONTROL}{s.WHITESPACE}\\\\#$|]"
GROUP_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
              "pattern": f"^{_NAME_EDGE}({_NAME_CHAR}*{_NAME_EDGE})?$",
              "description": "1..256 characters; no \\ # $ |, no white space around"}
NODES = {"type": "array", "minItems": 1, "maxItems": MAX_NODES_PER_CALL, "items": NODE_ID}
DOCUMENT = {"type": "object", "description": "thing-shadow merge: null deletes a key, {} "
                                             "changes nothing, nested objects merge, arrays "
                                             "replace"}
FIELDS: dict[str, Any] = {
    "group_name": GROUP_NAME, "type": {"type": "string", "maxLength": MAX_TYPE},
    "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
    "mutually_exclusive": {"type": "boolean"}, "nodes": NODES,
    "custom_data": DOCUMENT, "group_metadata": {**DOCUMENT, "deprecated": True}}
CREATE_GROUP = s.obj({**FIELDS, "parent_group_id": GROUP_ID}, ("group_name",))
_UPDATABLE = ("group_name", "type", "description", "mutually_exclusive", "custom_data",
              "group_metadata", "parent_group_id", "operation")
UPDATE_GROUP = s.obj({
    **FIELDS, "operation": {"type": "string", "enum": ["add", "remove", "ADD", "REMOVE"]},
    "parent_group_id": {"type": ["string", "null"], "pattern": RECORD_ID_PATTERN,
                        "description": "null moves the group to the top level"},
    "custom_data": {**DOCUMENT, "type": ["object", "null"]},
    "group_metadata": {**DOCUMENT, "type": ["object", "null"], "deprecated": True}},
    dependentRequired={"operation": ["nodes"]},
    anyOf=[{"required": [name]} for name in _UPDATABLE])
CREATED = s.obj({"status": s.STR, "description": s.STR, "group_id": s.STR},
                ("status", "group_id"))
GROUP: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "primary": {"type": "boolean"}, "type": s.STR,
    "description": s.STR, "mutually_exclusive": {"type": "boolean"},
    "parent_group_id": s.STR, "total": {"type": "integer"},
    "nodes": {"type": "array", "items": s.STR},
    "node_details": {"type": "array", "items": {"type": "object"}},
    "custom_data": {"type": "object"}, "group_metadata": {"type": "object"},
    "sub_groups": {"type": ["array", "null"], "items": {"type": "object"}}},
    ("group_id", "group_name", "total"))
GROUP_LIST = s.obj({"groups": {"type": "array", "items": GROUP}, "total": {"type": "integer"},
                    "next_id": s.STR}, ("groups",))
FLAG = {"type": "string", "enum": ["true", "false"]}
GROUP_ID_QUERY = {"name": "group_id", "in": "query", "required": True, "schema": GROUP_ID,
                  "x-fleetgate-handler-validates": True}


def explain_group_body(violation: Violation, _body: dict[str, Any]) -> ValidationFailed:
    """RainMaker's failure for the first rule a group body breaks (user and admin groups)."""
    if violation.field == "group_name" and violation.missing:
        return ValidationFailed("Group name is missing", reason="group_name_missing")
    if violation.field == "group_name":
        return ValidationFailed("Invalid group name. Group name must be 1 to 256 characters "
                                "long and \\#$| are not allowed.", reason="invalid_group_name")
    if violation.field == "nodes":
        return ValidationFailed("Number of nodes specified should be between 1 and 100",
                                reason="invalid_group_nodes")
    if violation.field == "description":
        return ValidationFailed("The length of group description must be less than 500 "
                                "characters", reason="invalid_group_description")
    if violation.field == "operation":
        return ValidationFailed("Invalid operation specified.[Valid operation values are "
                                "add/remove]", reason="invalid_group_operation")
    if violation.keyword == "anyOf":
        return ValidationFailed("Either group name, type, description, mutually_exclusive, "
                                "custom_data or operation needs to specified",
                                reason="group_update_empty")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def group_id_param(request: Request) -> str:
    value = request.query_params.get("group_id")
    if not value:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    return value


def _flag(request: Request, name: str) -> bool:
    return bool(bool_param(request, name))


def _entry(group: NodeGroup, page: GroupPage, *, node_list: bool, sub_groups: bool,
           details: bool) -> dict[str, object]:
    entry: dict[str, object] = {
        "group_id": group.id, "group_name": group.name,
        "primary": page.roles.get(group.id) == PRIMARY, "type": group.type,
        "description": group.description, "mutually_exclusive": group.mutually_exclusive,
        "total": len(group.nodes)}
    if group.parent_id is not None:
        entry["parent_group_id"] = group.parent_id
    if group.custom_data is not None:
        entry["custom_data"] = group.custom_data
    if group.metadata is not None:
        entry["group_metadata"] = group.metadata
    if details:  # node details replace the nodes array
        entry["node_details"] = [
            {**node_info(page.nodes[n], full=True), "id": n,
             "primary": page.memberships[n].role == PRIMARY}
            for n in group.nodes if n in page.nodes and n in page.memberships]
    elif node_list:
        entry["nodes"] = list(group.nodes)
    if sub_groups:
        kids = page.tree.children(group.id)
        entry["sub_groups"] = [_entry(k, page, node_list=node_list, sub_groups=True,
                                      details=details) for k in kids] or None
    return entry


def group_operations(devices: DeviceUseCases, authenticate: Authenticate,
                     max_body: int) -> list[Operation]:
    groups = devices.groups

    async def create(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_GROUP,
                               explain=explain_group_body)
        group = await groups.create_group(
            caller, name=body["group_name"], nodes=body.get("nodes"),
            parent_id=body.get("parent_group_id"), type=body.get("type"),
            description=body.get("description"),
            mutually_exclusive=body.get("mutually_exclusive", False),
            metadata=body.get("group_metadata"), custom_data=body.get("custom_data"))
        return success("Group created successfully", group_id=group.id)

    async def update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        group_id = group_id_param(request)
        body = await json_body(request, max_bytes=max_body, schema=UPDATE_GROUP,
                               explain=explain_group_body)
        renamed = {"group_name": "name", "parent_group_id": "parent_id",
                   "group_metadata": "metadata"}
        fields = {renamed.get(k, k): body.get(k, UNSET)
                  for k in ("group_name", "parent_group_id", "type", "description",
                            "mutually_exclusive", "group_metadata", "custom_data")}
        await groups.update_group(caller, group_id=group_id, operation=body.get("operation"),
                                  nodes=body.get("nodes"), **fields)
        return success("Group updated successfully")

    async def list_groups(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        q = request.query_params
        raw_count = q.get("num_records", "25")
        if not raw_count.isascii() or not raw_count.isdigit() or len(raw_count) > 8:
            raise ValidationFailed("num_records must be 1..100", reason="invalid_page")
        node_list, sub_groups = _flag(request, "node_list"), _flag(request, "sub_groups")
        one = q.get("group_id") is not None or q.get("group_name") is not None
        details = _flag(request, "node_details") and one  # only for one group, per RainMaker
        page = await groups.list_groups(caller, group_id=q.get("group_id"),
                                        group_name=q.get("group_name"),
                                        start_id=q.get("start_id"),
                                        num_records=int(raw_count), node_details=details)
        body: dict[str, object] = {
            "groups": [_entry(g, page, node_list=node_list, sub_groups=sub_groups,
                              details=details) for g in page.groups],
            "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def delete(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        group_id = group_id_param(request)
        if _flag(request, "leave"):
            await devices.group_sharing.leave_group(caller, group_id=group_id)
            return success("Group left successfully")
        if _flag(request, "remove_sharing"):
            await devices.group_sharing.unshare_groups(
                caller, groups=[group_id], user_name=request.query_params.get("user_name"))
            return success("Group sharing removed successfully")
        await groups.delete_group(caller, group_id=group_id)
        return success("Group deleted successfully")

    return [
        Operation(method="POST", path="/v1/user/node_group", handler=create,
                  operation_id="usercreatedevicegroup", tag=TAG,
                  summary="Create a device group (at most three levels; mutually exclusive "
                          "groups per type and parent)",
                  uses=(groups.create_group,), request_body=CREATE_GROUP,
                  responses={200: CREATED}, extra_statuses=(409,)),
        Operation(method="PUT", path="/v1/user/node_group", handler=update,
                  operation_id="userupdatedevicegroup", tag=TAG,
                  summary="Add/remove nodes of a device group or update its fields",
                  uses=(groups.update_group,), request_body=UPDATE_GROUP,
                  query=(GROUP_ID_QUERY,), responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/user/node_group", handler=list_groups,
                  operation_id="usergetdevicegroup", tag=TAG,
                  summary="The user's device groups, a page at a time, or one of them",
                  uses=(groups.list_groups,),
                  query=({"name": "group_id", "in": "query", "schema": GROUP_ID},
                         {"name": "group_name", "in": "query",
                          "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}},
                         *({"name": f, "in": "query", "schema": FLAG}
                           for f in ("node_list", "sub_groups", "node_details")),
                         {"name": "start_id", "in": "query",
                          "schema": {"type": "string", "maxLength": 64}},
                         {"name": "num_records", "in": "query",
                          "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}}),
                  responses={200: GROUP_LIST}),
        Operation(method="DELETE", path="/v1/user/node_group", handler=delete,
                  operation_id="userdeletedevicegroup", tag=TAG,
                  summary="Delete a device group and its sub-groups (a primary), leave a "
                          "group shared with the user (leave=true), or remove a user's share "
                          "(remove_sharing=true&user_name=)",
                  uses=(groups.delete_group, devices.group_sharing.leave_group,
                        devices.group_sharing.unshare_groups),
                  query=(GROUP_ID_QUERY,
                         *({"name": f, "in": "query", "schema": FLAG,
                            "x-fleetgate-handler-validates": True}
                           for f in ("leave", "remove_sharing")),
                         {"name": "user_name", "in": "query",
                          "schema": {"type": "string", "minLength": 1, "maxLength": 254}}),
                  responses={200: s.SUCCESS}),
    ]
