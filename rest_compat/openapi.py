"""The OpenAPI 3.1 document at /v1/openapi.json, generated from the operation registry so it
always describes exactly the routes that are served."""

from __future__ import annotations

from typing import Any

from rest_compat import schemas as s
from rest_compat.edgeflow import ERROR_SCHEMA, is_edgeflow
from rest_compat.operations import Operation

ERROR_STATUSES = {400: "Invalid request", 401: "Missing, invalid or expired credentials",
                  403: "Not allowed", 404: "Not found", 413: "Request body too large",
                  429: "Too many attempts"}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}


def _security(op: Operation) -> list[dict[str, list[str]]]:
    if op.auth:
        return [{"AccessToken": []}]
    if op.optional_auth:
        return [{}, {"AccessToken": []}]  # anonymous, or credentials that must be valid
    return []


def _media(schema: dict[str, Any]) -> str:
    """JSON, unless the schema is a string of another contentMediaType (binary bodies)."""
    return str(schema.get("contentMediaType", "application/json")) \
        if schema.get("type") == "string" else "application/json"


def _error_ref(op: Operation) -> dict[str, str]:
    """RainMaker's failure body under /v1, EdgeFlow's error body under /api/."""
    return {"$ref": "#/components/schemas/EdgeFlowError" if is_edgeflow(op.path)
            else "#/components/schemas/Failure"}


def _responses(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, schema in op.responses.items():
        out[str(status)] = {"description": "success",
                            "content": {_media(schema): {"schema": schema}}}
    for status, text in ERROR_STATUSES.items():
        if status == 401 and not _security(op) and 401 not in op.extra_statuses:
            continue
        if status == 413 and op.request_body is None:
            continue
        # RainMaker answers "not authorized" 400 (100004); 403 is left for the few of
        # Fleetgate's own refusals an operation declares (docs/rainmaker-errors.md)
        if status == 403 and not is_edgeflow(op.path) and 403 not in op.extra_statuses:
            continue
        out[str(status)] = {"description": text, "content": {"application/json": {
            "schema": _error_ref(op)}}}
        if status == 429:
            out[str(status)]["headers"] = RETRY_AFTER
    for status in op.extra_statuses:  # beyond the common ones (409 CONFLICT, 403...)
        out.setdefault(str(status), {"description": "failure", "content": {"application/json": {
            "schema": _error_ref(op)}}})
    return out


def openapi_document(operations: list[Operation], *, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
            "responses": _responses(op),
            "security": _security(op),
        }
        if op.deprecated:
            entry["deprecated"] = True
        if op.query:
            entry["parameters"] = [dict(p) for p in op.query]
        if op.request_body is not None:
            entry["requestBody"] = {"required": op.body_required, "content": {
                _media(op.request_body): {"schema": op.request_body}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fleetgate REST (ESP RainMaker v1, EdgeFlow /api/v1 billing)",
                 "version": version,
                 "description": "RainMaker v1 dialect served by Fleetgate. Send the access "
                                "token as `Authorization: <token>` or `Bearer <token>`; "
                                "organization API keys (sk_...) work as Bearer tokens."},
        "paths": paths,
        "components": {
            "securitySchemes": {"AccessToken": {"type": "apiKey", "in": "header",
                                                "name": "Authorization"}},
            "schemas": {"Failure": s.FAILURE, "Success": s.SUCCESS,
                        "EdgeFlowError": ERROR_SCHEMA},
        },
    }
