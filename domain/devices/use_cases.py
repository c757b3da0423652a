"""The device use cases the APIs call, bundled so both APIs receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.devices.access import DeviceAccess
from domain.devices.admin import AdminNodes
from domain.devices.mapping import NodeMapping
from domain.devices.nodes import UserNodes
from domain.devices.provisioning import BrokerEndpoint, Provisioning
from domain.devices.proxy import NodeProxy
from domain.devices.watch import NodeWatch


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceUseCases:
    provisioning: Provisioning
    access: DeviceAccess
    nodes: UserNodes
    watch: NodeWatch
    mapping: NodeMapping
    proxy: NodeProxy
    endpoint: BrokerEndpoint
    admin: AdminNodes
