"""The one place REST compat maps domain errors to RainMaker's failure body and status.

RainMaker answers `{"status":"failure","description":...,"error_code":<int>}`; its documented
numeric codes are used where the spec has one, with the status the spec lists for that code:
400 for nearly all (not found, already exists, not authorized included), 404 for the few it
lists only under 404. The deliberate exceptions (401 for credentials, 413/415 for the body,
429, 503) and the test that walks the spec: docs/rainmaker-errors.md.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from domain.errors import DomainError
from rest_compat.error_codes import access, accounts, devices, groups, ota, sharing

# stable domain code -> (HTTP status, RainMaker error_code)
BY_CODE: dict[str, tuple[int, int]] = {
    "UNAUTHENTICATED": (401, 100047),
    "FORBIDDEN": (400, 100004),
    "NOT_FOUND": (400, 100009),
    "VALIDATION": (400, 100006),
    "CONFLICT": (409, 100409),  # Fleetgate's own conflicts (If-Match, upload links)
    "QUOTA_EXCEEDED": (400, 100011),
    "RATE_LIMITED": (429, 101057),
    "BILLING_UNAVAILABLE": (503, 100903),
    "UNAVAILABLE": (503, 100001),
}

# finer reasons -> (HTTP status, RainMaker error_code), from Rainmaker_Swagger.yaml: the
# request's own here, each area's in rest_compat/error_codes/
BY_REASON: dict[str, tuple[int, int]] = {
    "invalid_body": (400, 100006),
    "body_too_large": (413, 100006),
    "unsupported_media_type": (415, 100006),
    "invalid_version": (400, 100002),
    **accounts.REASONS,
    **devices.REASONS,
    **groups.REASONS,
    **sharing.REASONS,
    **access.REASONS,
    **ota.REASONS,
}


def failure(status: int, error_code: int, description: str,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "failure", "description": description,
                         "error_code": error_code}, status_code=status, headers=headers)


def error_response(exc: DomainError, *, reason_overrides: dict[str, str] | None = None
                   ) -> JSONResponse:
    reason = (reason_overrides or {}).get(exc.reason, exc.reason)
    status, code = BY_REASON.get(reason) or BY_CODE.get(exc.code, (400, 100006))
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return failure(status, code, exc.message, headers)


def status_and_code(exc: DomainError) -> tuple[int, int]:
    """The HTTP status and RainMaker error_code a domain error maps to (per-item results)."""
    return BY_REASON.get(exc.reason) or BY_CODE.get(exc.code, (400, 100006))
