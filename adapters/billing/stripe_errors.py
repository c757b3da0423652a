"""The one mapping of stripe exceptions to domain errors: no stripe exception type leaves
adapters/billing."""

from __future__ import annotations

import stripe

from domain.errors import BillingUnavailable, DomainError, ValidationFailed

UNAVAILABLE = "The payment provider is unavailable, try again later"


def domain_error(exc: stripe.StripeError) -> DomainError:
    """The one mapping of stripe exceptions to domain errors."""
    if isinstance(exc, stripe.CardError):
        detail = exc.user_message if isinstance(exc.user_message, str) else None
        return ValidationFailed(detail or "The card was declined", reason="card_declined")
    if isinstance(exc, stripe.IdempotencyError):
        return ValidationFailed("This request conflicts with an earlier one with the same "
                                "idempotency key", reason="idempotency_conflict")
    if isinstance(exc, stripe.InvalidRequestError):
        return ValidationFailed("The payment provider rejected the request",
                                reason="billing_invalid_request")
    return BillingUnavailable(UNAVAILABLE, reason="billing_unavailable")


def is_missing(exc: stripe.StripeError) -> bool:
    """A missing object: resource_missing or a 404."""
    return isinstance(exc, stripe.InvalidRequestError) and (
        exc.code == "resource_missing" or exc.http_status == 404)
