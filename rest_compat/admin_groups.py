"""RainMaker v1 admin device groups on the wire (/v1/admin/node_group). Handlers translate and
delegate; the rules live in domain/groups/admin_groups.py and domain/groups/admin/model.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import ValidationFailed
from domain.groups.admin.model import ALL_NODES, MAX_QUERY_VALUE, AdminGroup
from domain.groups.admin_groups import AdminGroupPage
from domain.groups.use_cases import GroupUseCases
from rest_compat import group_common as common
from rest_compat import schemas as s
from rest_compat.admin_nodes import node_info
from rest_compat.http import Authenticate, bool_param, caller_for, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

TAG = "Device grouping"
PATH = "/v1/admin/node_group"
QUERY_VALUE = {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_VALUE}
QUERY_FIELDS = ("node_type", "node_model", "node_fw_version")
CREATE_GROUP = s.obj({**common.FIELDS, "parent_group_id": common.GROUP_ID,
                      **{f: QUERY_VALUE for f in QUERY_FIELDS}}, ("group_name",),
                     description="A static group (nodes, parent_group_id) or a dynamic one "
                                 "(node_type, node_model and/or node_fw_version; not with "
                                 "nodes nor parent_group_id)")
_UPDATABLE = (*common.UPDATABLE, "operation")
UPDATE_GROUP = s.obj({
    **common.UPDATE_FIELDS,
    "regroup": {"type": "boolean", "description": "true: a dynamic group's members become "
                                                  "the nodes matching its query now"}},
    dependentRequired={"operation": ["nodes"]},
    anyOf=[*({"required": [name]} for name in _UPDATABLE),
           {"required": ["regroup"], "properties": {"regroup": {"enum": [True]}}}])
SUB_GROUP: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "type": s.STR, "description": s.STR,
    "mutually_exclusive": {"type": "boolean"}, "parent_group_id": s.STR,
    "total": {"type": "integer"}, "custom_data": {"type": "object"}, "group_query": s.STR,
    "sub_groups": {"type": "array", "items": {"type": "object"}}},
    ("group_id", "group_name", "total"))
ONE_GROUP: dict[str, Any] = s.obj({
    **SUB_GROUP["properties"], "nodes": {"type": "array", "items": s.STR},
    "node_details": {"type": "array", "items": {"type": "object"}}, "next_id": s.STR},
    ("group_id", "group_name", "total"))
GROUP_LIST = s.obj({"groups": {"type": "array", "items": SUB_GROUP},
                    "total": {"type": "integer"}, "next_id": s.STR}, ("groups",))


def _entry(group: AdminGroup, page: AdminGroupPage) -> dict[str, object]:
    """A group's fields, its node count and its sub-groups (recursively)."""
    entry = common.group_entry(group)
    if group.query is not None:
        entry["group_query"] = group.query.describe()
    if group.id != ALL_NODES:
        kids = page.tree.children(group.id)
        entry["sub_groups"] = [_entry(k, page) for k in kids]
    return entry


def _explain(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    """The user-group failures, with regroup among the fields an update may name."""
    if violation.keyword == "anyOf":
        return ValidationFailed("Either group name, type, description, mutually_exclusive, "
                                "custom_data, regroup [true] or operation needs to specified",
                                reason="group_update_empty")
    return common.explain_group_body(violation, body)


def admin_group_operations(bundle: GroupUseCases, authenticate: Authenticate,
                           max_body: int) -> list[Operation]:
    groups = bundle.admin

    async def delete(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await groups.delete_group(caller, group_id=common.group_id_param(request))
        return success("Group deleted successfully")

    async def get(request: Request) -> Response:
        q = request.query_params
        caller = await caller_for(request, authenticate, required=True)
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

    return [
        common.create_operation(
            groups.create_group, authenticate, max_body, path=PATH,
            operation_id="createdevicegroup", tag=TAG,
            summary="Create an admin device group of the organization: static (nodes, at most "
                    "three levels) or dynamic (a query on node type, model and firmware "
                    "version)",
            schema=CREATE_GROUP, explain=_explain,
            extra=lambda body: {f: body.get(f) for f in QUERY_FIELDS}),
        common.update_operation(
            groups.update_group, authenticate, max_body, path=PATH,
            operation_id="updatedevicegroup", tag=TAG,
            summary="Add/remove nodes of an admin device group, update its fields, or regroup "
                    "a dynamic group from the nodes' current type, model and firmware version",
            schema=UPDATE_GROUP, explain=_explain,
            extra=lambda body: {"regroup": body.get("regroup", False)},
            fields=("group_name", "type", "description", "mutually_exclusive", "custom_data",
                    *QUERY_FIELDS)),
        Operation(method="GET", path=PATH, handler=get,
                  operation_id="admingetdevicegroup", tag=TAG,
                  summary="The organization's admin groups (top level, with sub-groups) a "
                          "page at a time, the dynamic groups of a query, or one group with a "
                          f"page of its nodes ({ALL_NODES}: every node of the organization)",
                  uses=(groups.list_groups,),
                  query=(*common.ONE_GROUP_QUERY,
                         {"name": "node_details", "in": "query", "schema": common.FLAG},
                         *({"name": f, "in": "query", "schema": QUERY_VALUE}
                           for f in QUERY_FIELDS),
                         *common.PAGE_QUERY),
                  responses={200: {"anyOf": [GROUP_LIST, ONE_GROUP]}}),
        Operation(method="DELETE", path=PATH, handler=delete,
                  operation_id="deletedevicegroup", tag=TAG,
                  summary="Delete an admin device group and its sub-groups",
                  uses=(groups.delete_group,), query=(common.GROUP_ID_QUERY,),
                  responses={200: s.SUCCESS}),
    ]
