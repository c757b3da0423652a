"""The group use cases the APIs call (users' groups, admin groups), bundled so both APIs
receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.groups.admin_groups import AdminGroups
from domain.groups.user_groups import UserGroups


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupUseCases:
    user: UserGroups
    admin: AdminGroups
