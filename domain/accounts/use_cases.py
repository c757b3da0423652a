"""The account use cases the APIs call, bundled so both APIs receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts.admin_users import AdminUsers
from domain.accounts.api_keys import ApiKeys
from domain.accounts.profile import Profiles
from domain.accounts.registration import Registration
from domain.accounts.sessions import Sessions


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountUseCases:
    registration: Registration
    sessions: Sessions
    profiles: Profiles
    api_keys: ApiKeys
    admin_users: AdminUsers
