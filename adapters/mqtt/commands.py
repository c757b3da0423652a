"""NodeCommands over MQTT: desired params go out on node/<id>/params/remote (QoS 1)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.topics import BusUnavailable

log = logging.getLogger("fleetgate.mqtt.commands")


class MqttNodeCommands:
    """The bus is attached when the device runtime starts; until then (or while the broker is
    away) sending reports False and the desired state waits for the node's reconnect."""

    def __init__(self, *, timeout: float = 2.0) -> None:
        self.bus: AiomqttBus | None = None
        self._timeout = timeout

    async def send_params(self, node_id: str, params: dict[str, Any]) -> bool:
        if self.bus is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                await self.bus.publish(f"node/{node_id}/params/remote",
                                       json.dumps(params).encode(), qos=1)
        except (BusUnavailable, TimeoutError):
            log.warning("params for node %s kept as desired state: broker unavailable", node_id)
            return False
        return True
