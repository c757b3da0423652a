"""Every area's use-case bundle: what the composition root hands to the APIs, and all an API
ever receives from the core."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access.use_cases import AccessUseCases
from domain.accounts.use_cases import AccountUseCases
from domain.billing.use_cases import BillingUseCases
from domain.devices.use_cases import DeviceUseCases
from domain.groups.use_cases import GroupUseCases
from domain.ota.use_cases import OtaUseCases
from domain.sharing.use_cases import SharingUseCases


@dataclass(frozen=True, slots=True, kw_only=True)
class UseCases:
    accounts: AccountUseCases
    access: AccessUseCases
    billing: BillingUseCases
    devices: DeviceUseCases
    groups: GroupUseCases
    sharing: SharingUseCases
    ota: OtaUseCases
