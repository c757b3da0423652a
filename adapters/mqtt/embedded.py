"""The embedded MQTT broker (amqtt) that `fleetgate serve` runs when MQTT_URL is unset.

Device authentication and topic ACLs are added with the devices capability; until then the
broker listens on loopback only.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger("fleetgate.mqtt")


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1884) -> None:
        self.host, self.port = host, port
        self._broker: Broker | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                      "max_connections": 10_000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                        {"allow_anonymous": True}},
        }

    async def start(self) -> None:
        self._broker = Broker(self._config())
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
