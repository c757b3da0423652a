"""The access use cases the APIs call (policies, roles, role assignments, reviewing access),
bundled so both APIs receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access.policies import Policies
from domain.access.review import AccessReview
from domain.access.role_assignments import RoleAssignments
from domain.access.roles import Roles


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessUseCases:
    policies: Policies
    roles: Roles
    assignments: RoleAssignments
    review: AccessReview
