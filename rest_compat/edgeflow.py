"""The EdgeFlow dialect's error body (seeds/000), used by every route under /api/:
`{"error": "<message>", "code": "<STABLE_CODE>", "status": <http status>}`."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from domain.errors import DomainError

API_PREFIX = "/api/"
STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "VALIDATION": 400,
          "CONFLICT": 409, "QUOTA_EXCEEDED": 402, "RATE_LIMITED": 429,
          "BILLING_UNAVAILABLE": 503, "UNAVAILABLE": 503}
BY_REASON = {"body_too_large": 413}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "code", "status"],
    "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                   "status": {"type": "integer"}}}


def is_edgeflow(path: str) -> bool:
    return path.startswith(API_PREFIX)


def error_body(status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "code": code, "status": status},
                        status_code=status, headers=headers)


def edgeflow_error(exc: DomainError) -> JSONResponse:
    status = BY_REASON.get(exc.reason) or STATUS.get(exc.code, 400)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return error_body(status, exc.code, exc.message, headers)
