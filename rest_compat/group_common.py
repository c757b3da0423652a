"""What user groups and admin groups have in common on the wire: the group fields and their
schemas, RainMaker's words for a body that breaks them, a group's entry in a listing, and the
query of a listing. rest_compat/groups.py and admin_groups.py add their own fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from domain.errors import ValidationFailed
from domain.groups.model import MAX_DESCRIPTION, MAX_NAME, MAX_NODES_PER_CALL, MAX_TYPE, Group
from domain.groups.tree import UNSET
from domain.identifiers import RECORD_ID_PATTERN
from rest_compat import schemas as s
from rest_compat.http import Authenticate, caller_for, invalid_body, json_body, success
from rest_compat.operations import Operation
from rest_compat.schemas import Violation

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
    "mutually_exclusive": {"type": "boolean"}, "nodes": NODES, "custom_data": DOCUMENT}
"""The fields of a group body, user and admin groups alike."""
UPDATE_FIELDS: dict[str, Any] = {
    **FIELDS, "operation": {"type": "string", "enum": ["add", "remove", "ADD", "REMOVE"]},
    "custom_data": {**DOCUMENT, "type": ["object", "null"]}}
UPDATABLE = ("group_name", "type", "description", "mutually_exclusive", "custom_data")
CREATED = s.obj({"status": s.STR, "description": s.STR, "group_id": s.STR},
                ("status", "group_id"))
FLAG = s.FLAG
GROUP_ID_QUERY = {"name": "group_id", "in": "query", "required": True, "schema": GROUP_ID,
                  "x-fleetgate-handler-validates": True}
ONE_GROUP_QUERY = (
    {"name": "group_id", "in": "query", "schema": GROUP_ID},
    {"name": "group_name", "in": "query",
     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}})
PAGE_QUERY = (
    {"name": "start_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
    {"name": "num_records", "in": "query",
     "schema": {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}})


Explain = Callable[[Violation, dict[str, Any]], ValidationFailed]
BodyArgs = Callable[[dict[str, Any]], dict[str, Any]]
"""What a kind of group reads from a body beyond the common fields."""
_ARGUMENT = {"group_name": "name", "parent_group_id": "parent_id", "group_metadata": "metadata"}


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
    return invalid_body(violation)


def group_id_param(request: Request) -> str:
    value = request.query_params.get("group_id")
    if not value:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    return value


def create_args(body: dict[str, Any]) -> dict[str, Any]:
    """The create_group arguments both kinds of group read from a body."""
    return {"name": body["group_name"], "nodes": body.get("nodes"),
            "parent_id": body.get("parent_group_id"), "type": body.get("type"),
            "description": body.get("description"),
            "mutually_exclusive": body.get("mutually_exclusive", False),
            "custom_data": body.get("custom_data")}


def group_entry(group: Group, *, primary: bool | None = None) -> dict[str, object]:
    """A group's fields and its node count (primary: the caller's role, for user groups)."""
    entry: dict[str, object] = {"group_id": group.id, "group_name": group.name}
    if primary is not None:
        entry["primary"] = primary
    entry.update({"type": group.type, "description": group.description,
                  "mutually_exclusive": group.mutually_exclusive,
                  "total": len(group.nodes)})
    if group.parent_id is not None:
        entry["parent_group_id"] = group.parent_id
    if group.custom_data is not None:
        entry["custom_data"] = group.custom_data
    return entry


def create_operation(create_group: Callable[..., Awaitable[Group]],
                     authenticate: Authenticate, max_body: int, *, path: str,
                     operation_id: str, summary: str, tag: str, schema: dict[str, Any],
                     explain: Explain, extra: BodyArgs) -> Operation:
    """POST: a group from the body's fields, with the kind's `extra` arguments."""

    async def create(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=schema, explain=explain)
        group = await create_group(caller, **create_args(body), **extra(body))
        return success("Group created successfully", group_id=group.id)

    return Operation(method="POST", path=path, handler=create, operation_id=operation_id,
                     tag=tag, summary=summary, uses=(create_group,), request_body=schema,
                     responses={200: CREATED}, extra_statuses=(409,))


def update_operation(update_group: Callable[..., Awaitable[Group]],
                     authenticate: Authenticate, max_body: int, *, path: str,
                     operation_id: str, summary: str, tag: str, schema: dict[str, Any],
                     explain: Explain, fields: tuple[str, ...], extra: BodyArgs) -> Operation:
    """PUT ?group_id=: the operation on nodes and the `fields` the body gives (the others
    UNSET), with the kind's `extra` arguments."""

    async def update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        group_id = group_id_param(request)
        body = await json_body(request, max_bytes=max_body, schema=schema, explain=explain)
        given = {_ARGUMENT.get(k, k): body.get(k, UNSET) for k in fields}
        await update_group(caller, group_id=group_id, operation=body.get("operation"),
                           nodes=body.get("nodes"), **extra(body), **given)
        return success("Group updated successfully")

    return Operation(method="PUT", path=path, handler=update, operation_id=operation_id,
                     tag=tag, summary=summary, uses=(update_group,), request_body=schema,
                     query=(GROUP_ID_QUERY,), responses={200: s.SUCCESS},
                     extra_statuses=(409,))
