"""The unit of work: the only transaction boundary, scoped to one organization."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

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

SYSTEM_SCOPE = "*"
"""Org scope for the few look-ups that precede knowing the tenant (sign-in by user name)."""


class UnitOfWork(Protocol):
    """One transaction over the repositories, scoped to one organization (or SYSTEM_SCOPE).

    Leaving the block without commit() rolls everything back.
    """

    organizations: OrganizationRepository
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    codes: VerificationCodeRepository
    nodes: NodeRepository
    registration_tokens: RegistrationTokenRepository
    memberships: MembershipRepository
    mapping_requests: MappingRequestRepository
    params_history: ParamsHistoryRepository
    groups: GroupRepository
    group_shares: GroupShareRepository
    admin_groups: AdminGroupRepository
    sharing_requests: SharingRequestRepository
    access: AccessRepository
    ota: OtaRepository
    billing: BillingRepository

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work for an organization id, or SYSTEM_SCOPE."""

    def __call__(self, org_id: str) -> UnitOfWork: ...
