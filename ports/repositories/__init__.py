"""Persistence ports, one module per product area, and the unit of work (uow).

Transitional: re-exports every name so `from ports.repositories import X` keeps working
until /tmp/codemods/ports_imports.py has rewritten the callers; then this file empties."""

from ports.repositories.access import AccessRepository
from ports.repositories.accounts import (
    ApiKeyRepository,
    OrganizationRepository,
    SessionRepository,
    UserRepository,
    VerificationCodeRepository,
)
from ports.repositories.billing import BillingRepository
from ports.repositories.devices import (
    MappingRequestRepository,
    NodeRepository,
    ParamsHistoryRepository,
    RegistrationTokenRepository,
)
from ports.repositories.groups import AdminGroupRepository, GroupRepository
from ports.repositories.ota import OtaRepository
from ports.repositories.sharing import (
    GroupShareRepository,
    MembershipRepository,
    SharingRequestRepository,
)
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "AccessRepository",
    "AdminGroupRepository",
    "ApiKeyRepository",
    "BillingRepository",
    "GroupRepository",
    "GroupShareRepository",
    "MappingRequestRepository",
    "MembershipRepository",
    "NodeRepository",
    "OrganizationRepository",
    "OtaRepository",
    "ParamsHistoryRepository",
    "RegistrationTokenRepository",
    "SYSTEM_SCOPE",
    "SessionRepository",
    "SharingRequestRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "VerificationCodeRepository",
]
