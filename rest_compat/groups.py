"""RainMaker v1 user device groups on the wire (/v1/user/node_group). Handlers translate and
delegate; the rules live in domain/groups/user_groups.py and domain/groups/model.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.model import PRIMARY
from domain.errors import ValidationFailed
from domain.groups.model import NodeGroup
from domain.groups.use_cases import GroupUseCases
from domain.groups.user_groups import GroupPage
from domain.identifiers import RECORD_ID_PATTERN
from domain.sharing.use_cases import SharingUseCases
from rest_compat import group_common as common
from rest_compat import schemas as s
from rest_compat.admin_nodes import node_info
from rest_compat.http import Authenticate, bool_param, caller_for, success
from rest_compat.operations import Operation

TAG = "Device grouping"
PATH = "/v1/user/node_group"
USER_FIELDS: dict[str, Any] = {**common.FIELDS,
                               "group_metadata": {**common.DOCUMENT, "deprecated": True}}
CREATE_GROUP = s.obj({**USER_FIELDS, "parent_group_id": common.GROUP_ID}, ("group_name",))
_UPDATABLE = (*common.UPDATABLE, "group_metadata", "parent_group_id", "operation")
UPDATE_GROUP = s.obj({
    **USER_FIELDS, "operation": common.UPDATE_FIELDS["operation"],
    "parent_group_id": {"type": ["string", "null"], "pattern": RECORD_ID_PATTERN,
                        "description": "null moves the group to the top level"},
    "custom_data": common.UPDATE_FIELDS["custom_data"],
    "group_metadata": {**common.DOCUMENT, "type": ["object", "null"], "deprecated": True}},
    dependentRequired={"operation": ["nodes"]},
    anyOf=[{"required": [name]} for name in _UPDATABLE])
GROUP: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "primary": {"type": "boolean"}, "type": s.STR,
    "description": s.STR, "mutually_exclusive": {"type": "boolean"},
    "parent_group_id": s.STR, "total": {"type": "integer"},
    "nodes": {"type": "array", "items": s.STR},
    "node_details": {"type": "array", "items": {"type": "object"}},
    "custom_data": {"type": "object"}, "group_metadata": {"type": "object"},
    "sub_groups": {"type": "array", "items": {"type": "object"}}},
    ("group_id", "group_name", "total"))
GROUP_LIST = s.obj({"groups": {"type": "array", "items": GROUP}, "total": {"type": "integer"},
                    "next_id": s.STR}, ("groups",))


def _flag(request: Request, name: str) -> bool:
    return bool(bool_param(request, name))


def _entry(group: NodeGroup, page: GroupPage, *, node_list: bool, sub_groups: bool,
           details: bool) -> dict[str, object]:
    entry = common.group_entry(group, primary=page.roles.get(group.id) == PRIMARY)
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
                                      details=details) for k in kids]
    return entry


def group_operations(bundle: GroupUseCases, sharing: SharingUseCases, authenticate: Authenticate,
                     max_body: int) -> list[Operation]:
    groups = bundle.user

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
        group_id = common.group_id_param(request)
        if _flag(request, "leave"):
            await sharing.groups.leave_group(caller, group_id=group_id)
            return success("Group left successfully")
        if _flag(request, "remove_sharing"):
            await sharing.groups.unshare_groups(
                caller, groups=[group_id], user_name=request.query_params.get("user_name"))
            return success("Group sharing removed successfully")
        await groups.delete_group(caller, group_id=group_id)
        return success("Group deleted successfully")

    return [
        common.create_operation(
            groups.create_group, authenticate, max_body, path=PATH,
            operation_id="usercreatedevicegroup", tag=TAG,
            summary="Create a device group (at most three levels; mutually exclusive groups "
                    "per type and parent)",
            schema=CREATE_GROUP, explain=common.explain_group_body,
            extra=lambda body: {"metadata": body.get("group_metadata")}),
        common.update_operation(
            groups.update_group, authenticate, max_body, path=PATH,
            operation_id="userupdatedevicegroup", tag=TAG,
            summary="Add/remove nodes of a device group or update its fields",
            schema=UPDATE_GROUP, explain=common.explain_group_body, extra=lambda body: {},
            fields=("group_name", "parent_group_id", "type", "description",
                    "mutually_exclusive", "group_metadata", "custom_data")),
        Operation(method="GET", path=PATH, handler=list_groups,
                  operation_id="usergetdevicegroup", tag=TAG,
                  summary="The user's device groups, a page at a time, or one of them",
                  uses=(groups.list_groups,),
                  query=(*common.ONE_GROUP_QUERY,
                         *({"name": f, "in": "query", "schema": common.FLAG}
                           for f in ("node_list", "sub_groups", "node_details")),
                         *common.PAGE_QUERY),
                  responses={200: GROUP_LIST}),
        Operation(method="DELETE", path=PATH, handler=delete,
                  operation_id="userdeletedevicegroup", tag=TAG,
                  summary="Delete a device group and its sub-groups (a primary), leave a "
                          "group shared with the user (leave=true), or remove a user's share "
                          "(remove_sharing=true&user_name=)",
                  uses=(groups.delete_group, sharing.groups.leave_group,
                        sharing.groups.unshare_groups),
                  query=(common.GROUP_ID_QUERY,
                         *({"name": f, "in": "query", "schema": common.FLAG,
                            "x-fleetgate-handler-validates": True}
                           for f in ("leave", "remove_sharing")),
                         {"name": "user_name", "in": "query",
                          "schema": {"type": "string", "minLength": 1, "maxLength": 254}}),
                  responses={200: s.SUCCESS}),
    ]
