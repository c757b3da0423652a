"""The embedded MQTT broker (amqtt) that `fleetgate serve` runs when MQTT_URL is unset.

With an `access` object (DeviceAccess) the broker authenticates every client against
Fleetgate before it touches any session, keeps each device under its own topics, and
retains only what `access.may_retain` allows; without one (tests of the transport alone) it
accepts anonymous clients. FleetgateBroker (amqtt_broker.py) carries the fixes to amqtt.

stop() is bounded and idempotent: amqtt's shutdown gets STOP_SECONDS, then every client
socket is aborted and the listeners closed, so a stop can never hang a process or a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from adapters.mqtt.amqtt_broker import FleetgateBroker

log = logging.getLogger("fleetgate.mqtt")

STOP_SECONDS = 5.0


class EmbeddedBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1884, *,
                 access: Any = None, stop_seconds: float = STOP_SECONDS) -> None:
        self.host, self.port, self._access = host, port, access
        self._stop_seconds = stop_seconds
        self._broker: FleetgateBroker | None = None
        self._stopping: asyncio.Task[None] | None = None

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

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        if self._broker is not None:
            return
        self._broker = FleetgateBroker(self._config(), access=self._access)
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stops the broker within stop_seconds (plus a moment to abort what was left).
        Calling it again, or concurrently, waits for the same stop."""
        stopping = self._stopping
        if stopping is None:
            if self._broker is None:
                return
            stopping = self._stopping = asyncio.create_task(self._stop(self._broker))
        try:
            await asyncio.shield(stopping)
        finally:
            if stopping.done() and self._stopping is stopping:
                self._stopping = None

    async def _stop(self, broker: FleetgateBroker) -> None:
        broker.begin_stop()  # no client gets in while the sessions are cleaned up
        shutdown = asyncio.create_task(broker.shutdown())
        done, _ = await asyncio.wait([shutdown], timeout=self._stop_seconds)
        if not done:
            log.warning("embedded broker did not shut down within %.1fs: aborting its "
                        "connections", self._stop_seconds)
            broker.abort_all()
            shutdown.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(1.0):
                    await shutdown
            for server in list(broker._servers.values()):  # noqa: SLF001 - last resort
                with contextlib.suppress(Exception):
                    server.instance.close()
        elif (error := shutdown.exception()) is not None:
            log.warning("embedded broker shutdown failed: %r", error)
        broker.abort_all()  # whatever shutdown left connected
        self._broker = None
