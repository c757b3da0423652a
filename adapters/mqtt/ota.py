"""OTA offers over MQTT: node/<id>/otaurl {ota_job_id, url, fw_version, filesize, file_md5}
(QoS 1). The bus is attached when the device runtime starts; an offer made while the broker is
away is not lost: the node is offered the job again when it connects or asks on otafetch."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from adapters.mqtt.bus import AiomqttBus
from adapters.mqtt.topics import BusUnavailable

log = logging.getLogger("fleetgate.mqtt.ota")


class MqttOtaPublisher:
    def __init__(self, *, timeout: float = 2.0) -> None:
        self.bus: AiomqttBus | None = None
        self._timeout = timeout
        self.sent = 0

    async def offer(self, node_id: str, payload: dict[str, Any]) -> None:
        if self.bus is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self.bus.publish(f"node/{node_id}/otaurl", json.dumps(payload).encode(),
                                       qos=1)
            self.sent += 1
        except (BusUnavailable, TimeoutError):
            log.warning("OTA offer to node %s not sent: broker unavailable; it is offered "
                        "again when the node connects or asks", node_id)
