"""RainMaker v1 group sharing on the wire (/v1/user/node_group/sharing and its requests).
Handlers translate and delegate only; the rules live in domain/devices/group_sharing.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.group_sharing import GroupPeople
from domain.devices.sharing_requests import RequestPage
from domain.devices.use_cases import DeviceUseCases
from domain.groups.model import NodeGroup
from domain.identifiers import RECORD_ID_PATTERN
from domain.sharing.model import (
    ACCEPTED,
    MAX_SHARED_GROUPS,
    NEW_ROLES,
    SHARING_STATUSES,
    SharingRequest,
)
from rest_compat import schemas as s
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation
from rest_compat.sharing import (
    REQUEST_ID,
    REQUEST_LIST_QUERY,
    SHARE_RESPONSE,
    STR_LIST,
    page_size,
    request_entry,
)

TAG = "Device grouping"
GROUP_ID = {"type": "string", "pattern": RECORD_ID_PATTERN}
SHARE_GROUPS = s.obj({
    "groups": {"type": "array", "minItems": 1, "maxItems": MAX_SHARED_GROUPS,
               "items": GROUP_ID},
    "user_name": {"type": "string", "minLength": 1, "maxLength": 254},
    "primary": {"type": "boolean"}, "transfer": {"type": "boolean"},
    "new_role": {"type": "string", "enum": list(NEW_ROLES),
                 "description": "the sender's role after a transfer (needs transfer: true)"},
    "metadata": {"type": "object"}}, ("groups", "user_name"),
    description="Share groups (their sub-groups and nodes) with a user of the organization")
RESPOND = s.obj({"request_id": REQUEST_ID, "accept": {"type": "boolean"}},
                ("request_id", "accept"))
USERS = s.obj({"primary": STR_LIST, "secondary": STR_LIST,
               "primary_metadata": {"type": "array", "items": {"type": "object"}},
               "secondary_metadata": {"type": "array", "items": {"type": "object"}}})
GROUP_SHARING_ENTRY: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "mutually_exclusive": {"type": "boolean"},
    "users": USERS, "sub_groups": {"type": "array", "items": {"type": "object"}},
    "parent_groups": {"type": "object"}}, ("group_id", "users"))
GROUP_SHARING = s.obj({"group_sharing": {"type": "array", "items": GROUP_SHARING_ENTRY}},
                      ("group_sharing",))
GROUP_REQUESTS = s.obj({"sharing_requests": {"type": "array", "items": s.obj({
    "request_id": s.STR,
    "request_status": {"type": "string", "enum": list(SHARING_STATUSES)},
    "request_timestamp": {"type": "integer"}, "group_ids": STR_LIST, "group_names": STR_LIST,
    "user_name": s.STR, "primary_user_name": s.STR,
    "user_role": {"type": "string", "enum": ["primary", "secondary"]},
    "transfer": {"type": "boolean"}, "new_role": s.STR, "metadata": {"type": "object"},
    "expiration_timestamp": {"type": "integer"}},
    ("request_id", "request_status", "request_timestamp", "group_ids", "user_name",
     "primary_user_name"))},
    "next_request_id": s.STR, "next_user_name": s.STR}, ("sharing_requests",))
FLAG = {"type": "string", "enum": ["true", "false"]}


def _group_request(request: SharingRequest, page: RequestPage) -> dict[str, object]:
    entry = request_entry(request)
    del entry["node_ids"]
    entry["group_ids"] = request.group_ids
    entry["group_names"] = [page.group_names.get(g, "") for g in request.group_ids]
    return entry


def _parents(chain: list[NodeGroup]) -> dict[str, object] | None:
    """RainMaker nests the chain: the parent, with its own parent_group inside."""
    nested: dict[str, object] | None = None
    for group in reversed(chain):
        entry: dict[str, object] = {"group_id": group.id, "group_name": group.name,
                                    "group_type": group.type,
                                    "mutually_exclusive": group.mutually_exclusive}
        if nested is not None:
            entry["parent_group"] = nested
        nested = entry
    return nested


def _sharing_entry(view: GroupPeople, *, metadata: bool, parents: bool) -> dict[str, object]:
    users: dict[str, object] = {"primary": view.primary, "secondary": view.secondary}
    if metadata:
        def described(names: list[str]) -> list[dict[str, object]]:
            return [{"user_name": n, **({"metadata": view.metadata[n]}
                                        if view.metadata.get(n) is not None else {})}
                    for n in names]
        users["primary_metadata"] = described(view.primary)
        users["secondary_metadata"] = described(view.secondary)
    entry: dict[str, object] = {"group_id": view.group.id, "group_name": view.group.name,
                                "mutually_exclusive": view.group.mutually_exclusive,
                                "users": users}
    if view.sub_groups:
        entry["sub_groups"] = [_sharing_entry(k, metadata=metadata, parents=False)
                               for k in view.sub_groups]
    if parents and view.parents:
        entry["parent_groups"] = _parents(view.parents)
    return entry


def group_sharing_operations(devices: DeviceUseCases, authenticate: Authenticate,
                             max_body: int) -> list[Operation]:
    sharing = devices.group_sharing

    async def share(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=SHARE_GROUPS)
        result = await sharing.share_groups(
            caller, groups=body["groups"], user_name=body["user_name"],
            primary=body.get("primary", False), metadata=body.get("metadata"),
            transfer=body.get("transfer", False), new_role=body.get("new_role"))
        return success("Group sharing added for the user successfully"
                       if result.status == ACCEPTED
                       else "Group sharing request added for the user successfully",
                       request_id=result.id)

    async def unshare(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        raw = request.query_params.get("groups")
        await sharing.unshare_groups(
            caller, groups=[g for g in raw.split(",") if g] if raw else [],
            user_name=request.query_params.get("user_name"))
        return success("Group sharing removed successfully")

    async def details(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        flags = {f: bool(bool_param(request, f))
                 for f in ("sub_groups", "parent_groups", "metadata")}
        views = await sharing.group_sharing(caller, group_id=request.query_params.get(
            "group_id"), sub_groups=flags["sub_groups"], parent_groups=flags["parent_groups"])
        return JSONResponse({"group_sharing": [
            _sharing_entry(v, metadata=flags["metadata"], parents=flags["parent_groups"])
            for v in views]})

    async def respond(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=RESPOND)
        await sharing.respond(caller, request_id=body["request_id"], accept=body["accept"])
        return success("Group sharing request accepted successfully" if body["accept"]
                       else "Group sharing request declined successfully")

    async def cancel(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        await sharing.cancel_request(caller, request_id=request.query_params.get("request_id"))
        return success("Group sharing request removed successfully")

    async def list_requests(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        sent = bool_param(request, "primary_user", reason="group_sharing_invalid_primary_user")
        q = request.query_params
        page = await sharing.list_requests(
            caller, sent=bool(sent), request_id=q.get("request_id"),
            start_request_id=q.get("start_request_id"),
            num_records=page_size(q.get("num_records")))
        body: dict[str, object] = {"sharing_requests": [_group_request(r, page)
                                                        for r in page.requests]}
        if page.next_request_id is not None:
            body["next_request_id"] = page.next_request_id
            body["next_user_name"] = page.next_user_name or ""
        return JSONResponse(body)

    group_list = {"type": "string", "maxLength": 400,
                  "pattern": "^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$",
                  "description": "comma separated group ids (at most 10)"}
    return [
        Operation(method="PUT", path="/v1/user/node_group/sharing", handler=share,
                  operation_id="addUserGroupSharing", tag=TAG,
                  summary="Share groups with a user of the organization (a pending request, "
                          "or at once when the user already reaches them)",
                  uses=(sharing.share_groups,), request_body=SHARE_GROUPS,
                  responses={200: SHARE_RESPONSE}),
        Operation(method="DELETE", path="/v1/user/node_group/sharing", handler=unshare,
                  operation_id="RemoveUserGroupSharing", tag=TAG,
                  summary="A primary removes a user's share of groups; a user leaves",
                  uses=(sharing.unshare_groups,),
                  query=({"name": "groups", "in": "query", "required": True,
                          "schema": group_list},
                         {"name": "user_name", "in": "query", "required": True,
                          "schema": {"type": "string", "minLength": 1, "maxLength": 254}}),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/node_group/sharing", handler=details,
                  operation_id="getUserGroupSharing", tag=TAG,
                  summary="Who shares the user's groups (a secondary sees only the primaries)",
                  uses=(sharing.group_sharing,),
                  query=({"name": "group_id", "in": "query", "schema": GROUP_ID},
                         *({"name": f, "in": "query", "schema": FLAG}
                           for f in ("sub_groups", "parent_groups", "metadata"))),
                  responses={200: GROUP_SHARING}),
        Operation(method="PUT", path="/v1/user/node_group/sharing/requests", handler=respond,
                  operation_id="AcceptorDenyUserGroupSharingRequests", tag=TAG,
                  summary="The receiver accepts or declines a group sharing request",
                  uses=(sharing.respond,), request_body=RESPOND,
                  responses={200: s.SUCCESS}),
        Operation(method="DELETE", path="/v1/user/node_group/sharing/requests",
                  handler=cancel, operation_id="removeUserGroupSharingRequest", tag=TAG,
                  summary="The sender cancels a pending group sharing request",
                  uses=(sharing.cancel_request,),
                  query=({"name": "request_id", "in": "query", "required": True,
                          "schema": REQUEST_ID},),
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/node_group/sharing/requests",
                  handler=list_requests, operation_id="getUserGroupSharingRequest", tag=TAG,
                  summary="Group sharing requests the user sent (primary_user=true) or "
                          "received",
                  uses=(sharing.list_requests,),
                  query=REQUEST_LIST_QUERY, responses={200: GROUP_REQUESTS}),
    ]
