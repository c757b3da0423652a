"""RainMaker v1 group sharing on the wire (/v1/user/node_group/sharing and its requests).
Handlers translate and delegate only; the rules live in domain/sharing/groups.py."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.groups.model import NodeGroup
from domain.sharing.engine import RequestPage
from domain.sharing.groups import GroupPeople
from domain.sharing.model import MAX_SHARED_GROUPS, NEW_ROLES, SharingRequest
from domain.sharing.use_cases import SharingUseCases
from rest_compat import schemas as s
from rest_compat import sharing_common as common
from rest_compat.group_common import FLAG, GROUP_ID
from rest_compat.http import Authenticate, bool_param, caller_for, json_body, success
from rest_compat.operations import Operation

TAG = "Device grouping"
SHARE_GROUPS = s.obj({
    "groups": {"type": "array", "minItems": 1, "maxItems": MAX_SHARED_GROUPS,
               "items": GROUP_ID},
    "user_name": common.USER_NAME,
    "primary": {"type": "boolean"}, "transfer": {"type": "boolean"},
    "new_role": {"type": "string", "enum": list(NEW_ROLES),
                 "description": "the sender's role after a transfer (needs transfer: true)"},
    "metadata": {"type": "object"}}, ("groups", "user_name"),
    description="Share groups (their sub-groups and nodes) with a user of the organization")
RESPOND = s.obj({"request_id": common.REQUEST_ID, "accept": {"type": "boolean"}},
                ("request_id", "accept"))
USERS = s.obj({"primary": common.STR_LIST, "secondary": common.STR_LIST,
               "primary_metadata": {"type": "array", "items": {"type": "object"}},
               "secondary_metadata": {"type": "array", "items": {"type": "object"}}})
GROUP_SHARING_ENTRY: dict[str, Any] = s.obj({
    "group_id": s.STR, "group_name": s.STR, "mutually_exclusive": {"type": "boolean"},
    "users": USERS, "sub_groups": {"type": "array", "items": {"type": "object"}},
    "parent_groups": {"type": "object"}}, ("group_id", "users"))
GROUP_SHARING = s.obj({"group_sharing": {"type": "array", "items": GROUP_SHARING_ENTRY}},
                      ("group_sharing",))


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


def _group_request(request: SharingRequest, page: RequestPage) -> dict[str, object]:
    entry = common.request_entry(request)
    del entry["node_ids"]
    entry["group_ids"] = request.group_ids
    entry["group_names"] = [page.group_names.get(g, "") for g in request.group_ids]
    return entry


REQUESTS = common.RequestRoutes(
    path="/v1/user/node_group/sharing/requests", noun="Group", qualifier="group ",
    entry=_group_request, listing=common.requests_schema(
        {"group_ids": common.STR_LIST, "group_names": common.STR_LIST}))


def group_sharing_operations(bundle: SharingUseCases, authenticate: Authenticate,
                             max_body: int) -> list[Operation]:
    sharing = bundle.groups

    async def details(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        flags = {f: bool(bool_param(request, f))
                 for f in ("sub_groups", "parent_groups", "metadata")}
        views = await sharing.group_sharing(caller, group_id=request.query_params.get(
            "group_id"), sub_groups=flags["sub_groups"], parent_groups=flags["parent_groups"])
        return JSONResponse({"group_sharing": [
            _sharing_entry(v, metadata=flags["metadata"], parents=flags["parent_groups"])
            for v in views]})

    async def share(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=SHARE_GROUPS)
        return common.shared("Group", await sharing.share_groups(
            caller, groups=body["groups"], user_name=body["user_name"],
            primary=body.get("primary", False), metadata=body.get("metadata"),
            transfer=body.get("transfer", False), new_role=body.get("new_role")))

    async def respond(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=RESPOND)
        await sharing.respond(caller, request_id=body["request_id"], accept=body["accept"])
        return success("Group sharing request accepted successfully" if body["accept"]
                       else "Group sharing request declined successfully")

    return [
        Operation(method="PUT", path="/v1/user/node_group/sharing", handler=share,
                  operation_id="addUserGroupSharing", tag=TAG,
                  summary="Share groups with a user of the organization (a pending request, "
                          "or at once when the user already reaches them)",
                  uses=(sharing.share_groups,), request_body=SHARE_GROUPS,
                  responses={200: common.SHARE_RESPONSE}),
        common.unshare_operation(
            sharing.unshare_groups, authenticate, path="/v1/user/node_group/sharing",
            noun="Group", ids="groups", max_length=400, most=10,
            operation_id="RemoveUserGroupSharing", tag=TAG,
            summary="A primary removes a user's share of groups; a user leaves"),
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
        *REQUESTS.operations(sharing, authenticate, TAG),
    ]
