"""The embedded MQTT broker (amqtt) that `fleetgate serve` runs when MQTT_URL is unset.

With an `access` object (DeviceAccess) the broker authenticates every client against
Fleetgate and keeps each device under its own topics; without one (tests of the transport
alone) it accepts anonymous clients.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger("fleetgate.mqtt")


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1884, *,
                 access: Any = None) -> None:
        self.host, self.port, self._access = host, port, access
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                      "max_connections": 10_000}},
            "plugins": self._plugins(),
        }

    def _plugins(self) -> dict[str, Any]:
        if self._access is None:
            return {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        return {"adapters.mqtt.auth_plugins.FleetgateAuthPlugin": {"access": self._access},
                "adapters.mqtt.auth_plugins.FleetgateTopicPlugin": {"access": self._access}}

    async def start(self) -> None:
        self._broker = Broker(self._config())
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
