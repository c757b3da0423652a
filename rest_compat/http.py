"""Request plumbing shared by the compat handlers: bounded JSON bodies, query flags, the
caller (principal + client address), success bodies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.access.model import REQUEST_PRINCIPAL, Caller, Principal
from domain.errors import Unauthenticated, ValidationFailed
from domain.jsonshape import nesting_exceeds
from rest_compat.schemas import Violation, validate

Authenticate = Callable[[str], Awaitable[Principal]]
# Turns the first rule a body breaks into the RainMaker failure to answer with.
Explain = Callable[[Violation, dict[str, Any]], ValidationFailed]
MAX_JSON_DEPTH = 32
PRINCIPAL_KEY = REQUEST_PRINCIPAL  # (token, principal) once authenticated for the request


INVALID_BODY = "Invalid request body"


def invalid_body(violation: Violation, _body: object = None) -> ValidationFailed:
    """The failure for a body that breaks its schema where the dialect has no finer code:
    "Invalid request body: <where>: <what it must be>" (status and error_code unchanged)."""
    return ValidationFailed(f"{INVALID_BODY}: {violation.describe()}", reason="invalid_body")


def _not_json(detail: str) -> ValidationFailed:
    return ValidationFailed(f"{INVALID_BODY}: {detail}", reason="invalid_body")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "a number"


def success(description: str, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "description": description, **extra},
                        status_code=status)


async def json_body(request: Request, *, max_bytes: int, required: bool = True,
                    schema: dict[str, Any] | None = None, explain: Explain = invalid_body
                    ) -> dict[str, Any]:
    body = await json_body_any(request, max_bytes=max_bytes, required=required, schema=schema,
                               explain=explain, allow_list=False)
    assert isinstance(body, dict)
    return body


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The raw request body, refused (413) past max_bytes before more is read."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ValidationFailed("Request body too large", reason="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ValidationFailed("Request body too large", reason="body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body_any(request: Request, *, max_bytes: int, required: bool = True,
                        schema: dict[str, Any] | None = None, explain: Explain = invalid_body,
                        allow_list: bool = True) -> dict[str, Any] | list[Any]:
    """The request's JSON object. Oversize → 413, not an object → 400, nothing half-read.

    With `schema` (the operation's documented body), a body that breaks it is refused with the
    failure `explain` chooses, so the server accepts exactly what /v1/openapi.json describes.
    """
    raw = await read_body(request, max_bytes=max_bytes)
    if not raw:  # absent; white space alone is a body, and not JSON
        if required:
            raise _not_json("the body is empty; send a JSON object")
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _not_json(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
                        f"(character {exc.pos})") from exc
    except UnicodeDecodeError as exc:
        raise _not_json(f"not UTF-8 text: byte {exc.start} cannot be decoded") from exc
    except (ValueError, RecursionError) as exc:
        raise _not_json(f"not JSON, or nested deeper than {MAX_JSON_DEPTH} levels") from exc
    wanted = "a JSON object or array" if allow_list else "a JSON object"
    if not isinstance(data, dict | list) or (isinstance(data, list) and not allow_list):
        raise _not_json(f"must be {wanted}, not {_kind(data)}")
    if nesting_exceeds(data, MAX_JSON_DEPTH):
        raise _not_json(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if schema is not None and (violation := validate(schema, data)) is not None:
        raise explain(violation, data)
    return data


def without_nulls(body: dict[str, Any], members: tuple[str, ...]) -> dict[str, Any]:
    """The body with those optional members dropped where they are null (null means absent
    for them: some RainMaker clients send every member of a form, unset ones as null)."""
    return {k: v for k, v in body.items() if not (k in members and v is None)}


def bool_param(request: Request, name: str, *, reason: str = "invalid_body") -> bool | None:
    """A boolean query parameter (None when absent): RainMaker's spellings, true or false in
    any letter case (its clients send True/False); anything else is refused with `reason`."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    spelled = raw.lower() if raw.isascii() else raw
    if spelled in ("true", "false"):
        return spelled == "true"
    raise ValidationFailed(f"Invalid {name} value specified. [Valid values are true/false]",
                           reason=reason)


def bearer_token(request: Request) -> str | None:
    """RainMaker clients send the raw token; others send `Bearer <token>`."""
    value = request.headers.get("authorization", "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


def client_host(request: Request) -> str | None:
    host = request.headers.get("host", "")
    return host.rsplit(":", 1)[0].lower() if host else None


async def caller_for(request: Request, authenticate: Authenticate, *, required: bool) -> Caller:
    token = bearer_token(request)
    ip = request.client.host if request.client else "unknown"
    if token is None:
        if required:
            raise Unauthenticated("Error, access token is missing", reason="missing_token")
        return Caller(ip=ip, host=client_host(request))
    if len(token) > 4096:
        raise Unauthenticated("Invalid or expired token", reason="invalid_token")
    known = request.scope.get(PRINCIPAL_KEY)
    principal = known[1] if known is not None and known[0] == token \
        else await authenticate(token)
    return Caller(principal=principal, ip=ip, host=client_host(request))


def anonymous_caller(request: Request) -> Caller:
    """For sign-in and password reset, whose credentials are in the body: any Authorization
    header is ignored."""
    return Caller(ip=request.client.host if request.client else "unknown",
                  host=client_host(request))

