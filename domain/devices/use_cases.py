"""The device use cases the APIs call, bundled so both APIs receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.devices.access import DeviceAccess
from domain.devices.nodes import UserNodes
from domain.devices.provisioning import Provisioning


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUseCases:
    provisioning: Provisioning
    access: DeviceAccess
    nodes: UserNodes
