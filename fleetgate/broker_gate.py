"""The embedded broker's gate: devices are admitted only while the gateway listens."""

from __future__ import annotations

import logging
from collections.abc import Callable

from domain.devices.access import DeviceAccess

log = logging.getLogger("fleetgate.devices")


class GatewayFirstAccess:
    """The embedded broker's access checks, admitting devices only while the gateway is
    connected and subscribed. amqtt keeps no sessions across a restart, so a device that came
    back before the gateway would publish (and re-report its state) to nobody; refused, it
    retries, and reports once the gateway listens."""

    def __init__(self, access: DeviceAccess, gateway_listening: Callable[[], bool]) -> None:
        self._access, self._listening = access, gateway_listening

    async def authenticate(self, username: object, password: object,
                           client_id: object = None) -> bool:
        if not (self._access.is_gateway(username if isinstance(username, str) else None)
                or self._listening()):
            log.info("broker refused device %r: the gateway is not listening yet", username)
            return False
        return await self._access.authenticate(username, password, client_id)

    def may_use_topic(self, username: str | None, topic: str | None, action: str) -> bool:
        return self._access.may_use_topic(username, topic, action)

    def may_retain(self, username: str | None, topic: str) -> bool:
        return self._access.may_retain(username, topic)
