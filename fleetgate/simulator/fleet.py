"""Simulator: N virtual devices against one gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random as _random
from collections.abc import Callable
from pathlib import Path

import httpx

from fleetgate.simulator.device import Backoff, VirtualDevice
from fleetgate.simulator.ota import http_fetch
from fleetgate.simulator.provisioning import (
    DEFAULT_STATE,
    DEFAULT_URL,
    DeviceCredentials,
    SimulatorError,
    load_state,
    login,
    provision_device,
    save_state,
)
from fleetgate.simulator.session import run_device

log = logging.getLogger("fleetgate.simulator")


# ---------------------------------------------------------------------------------------------
# the fleet


class Simulator:
    """N virtual devices against one gateway. `run(stop_event)` provisions (or reuses saved
    credentials), runs every device until the event is set, then disconnects them all."""

    def __init__(self, *, nodes: int, url: str = DEFAULT_URL, mqtt_host: str = "127.0.0.1",
                 mqtt_port: int = 1884, user: str | None = None, password: str | None = None,
                 state_path: str | os.PathLike[str] = DEFAULT_STATE, interval: float = 5.0,
                 http_client: httpx.AsyncClient | None = None, backoff: Backoff | None = None,
                 random: Callable[[float, float], float] = _random.uniform,
                 ota_failure_rate: float = 0.0) -> None:
        if nodes < 1:
            raise SimulatorError("--nodes must be at least 1")
        if interval <= 0:
            raise SimulatorError("--interval must be positive")
        if not 0.0 <= ota_failure_rate <= 1.0:
            raise SimulatorError("--ota-failure-rate must be between 0 and 1")
        self.ota_failure_rate = ota_failure_rate
        self.nodes, self.url = nodes, url.rstrip("/")
        self.mqtt_host, self.mqtt_port = mqtt_host, mqtt_port
        self._user, self._password = user, password
        self.state_path, self.interval = Path(state_path), interval
        self._http, self._backoff, self._random = http_client, backoff, random
        self.devices: list[VirtualDevice] = []
        self.provisioned = 0   # devices provisioned by this run (0 when all were saved)

    async def prepare(self) -> list[VirtualDevice]:
        """Loads saved credentials, provisions the missing devices (saving after each one)."""
        saved = load_state(self.state_path, self.url)
        if len(saved) < self.nodes:
            saved = await self._provision_missing(saved)
        self.devices = [VirtualDevice(credentials=c, random=self._random)
                        for c in saved[:self.nodes]]
        return self.devices

    async def _provision_missing(self, saved: list[DeviceCredentials]
                                 ) -> list[DeviceCredentials]:
        if not self._user or not self._password:
            raise SimulatorError(
                f"{self.nodes - len(saved)} device(s) need provisioning: pass --user and "
                f"--password of an admin (state file {self.state_path} has {len(saved)})")
        async with contextlib.AsyncExitStack() as stack:
            client = self._http
            if client is None:
                client = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=self.url, timeout=30))
            token = await login(client, self._user, self._password)
            taken = {c.name for c in saved}
            index = 0
            while len(saved) < self.nodes:
                index += 1
                name = f"sim-{index}"
                if name in taken:
                    continue
                saved = [*saved, await provision_device(client, token, name)]
                save_state(self.state_path, self.url, saved)  # never lose issued secrets
                self.provisioned += 1
                log.info("provisioned %s as node %s", name, saved[-1].node_id)
        return saved

    async def run(self, stop: asyncio.Event) -> None:
        if not self.devices:
            await self.prepare()
        log.info("simulating %d device(s) against %s (MQTT %s:%s)", len(self.devices),
                 self.url, self.mqtt_host, self.mqtt_port)
        async with contextlib.AsyncExitStack() as stack:
            client = self._http
            if client is None:  # for OTA downloads
                client = await stack.enter_async_context(httpx.AsyncClient(timeout=120))

            async def fetch(url: str, limit: int) -> bytes:
                return await http_fetch(client, url, limit)

            async with asyncio.TaskGroup() as group:  # a device that crashes stops the others
                for device in self.devices:
                    group.create_task(run_device(
                        device, host=self.mqtt_host, port=self.mqtt_port,
                        interval=self.interval, stop=stop, backoff=self._backoff,
                        fetch=fetch, ota_failure_rate=self.ota_failure_rate),
                        name=f"sim-{device.node_id}")
