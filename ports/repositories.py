"""Persistence ports: repositories and the unit of work that is the only transaction boundary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from domain.accounts.model import ApiKey, Organization, Session, User, VerificationCode
from domain.devices.model import (
    MappingRequest,
    Node,
    NodeMembership,
    NodeSecrets,
    RegistrationToken,
)

SYSTEM_SCOPE = "*"
"""Org scope for the few look-ups that precede knowing the tenant (sign-in by user name)."""


class OrganizationRepository(Protocol):
    """Organizations by id, name or host name."""

    async def add(self, org: Organization) -> None: ...
    async def get(self, org_id: str) -> Organization | None: ...
    async def get_by_name(self, name: str) -> Organization | None: ...
    async def get_by_hostname(self, hostname: str) -> Organization | None: ...


class UserRepository(Protocol):
    """Users of the scoped organization (user names are unique in the deployment)."""

    async def add(self, user: User) -> None: ...
    async def get(self, user_id: str) -> User | None: ...
    async def get_by_user_name(self, user_name: str) -> User | None: ...
    async def save(self, user: User) -> None: ...
    async def delete(self, user: User) -> None: ...
    async def count(self) -> int: ...


class SessionRepository(Protocol):
    """Sign-in sessions and their refresh tokens (stored as SHA-256 hashes)."""

    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def save(self, session: Session) -> None: ...
    async def revoke_all_for_user(self, user_id: str, now: datetime) -> int: ...
    async def add_refresh_token(self, session_id: str, token_hash: str, org_id: str) -> None: ...
    async def find_refresh_token(self, token_hash: str) -> tuple[str, bool] | None:
        """(session id, already used) of a refresh token, or None when unknown."""
        ...

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Atomically marks an unused token used; False when it was already used."""
        ...


class ApiKeyRepository(Protocol):
    """Organization API keys."""

    async def add(self, key: ApiKey) -> None: ...
    async def get(self, key_id: str) -> ApiKey | None: ...
    async def save(self, key: ApiKey) -> None: ...
    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKey]:
        """Keys ordered by (created_at, id), those strictly after the key id `after`."""
        ...


class VerificationCodeRepository(Protocol):
    """One-time codes (hashes) for sign-up, password reset and account deletion."""

    async def add(self, code: VerificationCode) -> None: ...
    async def latest(self, user_id: str, purpose: str) -> VerificationCode | None: ...
    async def save(self, code: VerificationCode) -> None: ...
    async def invalidate(self, user_id: str, purpose: str) -> None: ...


class NodeRepository(Protocol):
    """Nodes of the scoped organization, and the hashes of their device secrets."""

    async def add(self, node: Node, secrets: NodeSecrets) -> None: ...
    async def get(self, node_id: str) -> Node | None: ...
    async def save(self, node: Node) -> None: ...
    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        """The nodes among node_ids that exist in scope, in one query."""
        ...

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        """Saves only if the stored params_version is still expected_version (optimistic
        concurrency); False when another writer got there first."""
        ...

    async def secrets(self, node_id: str) -> NodeSecrets | None: ...


class RegistrationTokenRepository(Protocol):
    """One-time node registration tokens (stored as SHA-256 hashes)."""

    async def add(self, token: RegistrationToken) -> None: ...
    async def find(self, token_hash: str) -> RegistrationToken | None: ...
    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        """Atomically marks an unused token used by node_id; False when already used."""
        ...


class MembershipRepository(Protocol):
    """Who may reach which node, and as what."""

    async def add(self, membership: NodeMembership) -> None: ...
    async def get(self, node_id: str, user_id: str) -> NodeMembership | None: ...
    async def for_node(self, node_id: str) -> Sequence[NodeMembership]: ...
    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        """The user's memberships, ordered by node id."""
        ...

    async def remove(self, node_id: str, user_id: str) -> None: ...


class MappingRequestRepository(Protocol):
    """User-node mapping requests."""

    async def add(self, request: MappingRequest) -> None: ...
    async def get(self, request_id: str) -> MappingRequest | None: ...


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
