"""Domain errors: each carries a stable code that every API maps in exactly one place.

``reason`` is a finer, still stable, machine-readable key (``password_policy``,
``user_exists``...) that lets an API dialect choose its own numeric code (RainMaker
``error_code``) without the domain knowing that dialect.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, reason: str = "", retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.code.lower()
        self.retry_after = retry_after


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"


class ValidationFailed(DomainError):
    code = "VALIDATION"


class Conflict(DomainError):
    code = "CONFLICT"


class QuotaExceeded(DomainError):
    code = "QUOTA_EXCEEDED"


class RateLimited(DomainError):
    code = "RATE_LIMITED"


class BillingUnavailable(DomainError):
    """The payment provider could not be reached or failed: try again later (503)."""

    code = "BILLING_UNAVAILABLE"


class Unavailable(DomainError):
    """A dependency could not answer in time (the database cancelled a statement past its
    statement_timeout): nothing was written; try again later (503)."""

    code = "UNAVAILABLE"
