"""Access ports: what the APIs expose, replicas hearing of rule changes, and the role changes
other areas make inside their own unit of work (domain.access.assignments)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.access.model import Permission, Principal
from domain.accounts.model import User
from ports.repositories.uow import UnitOfWork


class ApiCatalogue(Protocol):
    """What the APIs expose: REST paths with their methods, and every declared permission."""

    def paths(self) -> Sequence[tuple[str, Sequence[str]]]: ...
    def permissions(self) -> frozenset[Permission]: ...


class PolicyWatcher(Protocol):
    """Tells every replica's Authorizer that an organization's rules changed."""

    async def changed(self, org_id: str) -> None: ...


class UserRoles(Protocol):
    """The organization's role levels, and changes to a user's roles, inside the caller's
    unit of work (never committed here)."""

    async def levels(self, uow: UnitOfWork) -> dict[str, int]:
        """Level of every role of the organization, built-in ones included."""
        ...

    async def change(self, uow: UnitOfWork, *, actor: Principal, user: User,
                     add: Sequence[str] = (), remove: Sequence[str] = (),
                     audit_id: str, now: datetime) -> None:
        """Adds and removes roles of the user under the level rules, audited; raises
        Forbidden, ValidationFailed or Conflict (the last superadmin) otherwise."""
        ...
