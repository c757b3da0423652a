"""The billing use cases the APIs call, bundled so both APIs receive the same instance."""

from __future__ import annotations

from dataclasses import dataclass

from domain.billing.service import Billing


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingUseCases:
    service: Billing
