"""One virtual device: its state, its MQTT session, its reconnect backoff."""

from __future__ import annotations

import json
import logging
import random as _random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fleetgate.simulator.provisioning import (
    CONFIG_VERSION,
    DEVICE,
    FW_VERSION,
    DeviceCredentials,
)

log = logging.getLogger("fleetgate.simulator")


# ---------------------------------------------------------------------------------------------
# one virtual device


@dataclass
class VirtualDevice:
    """A lightbulb's state and what it says on the wire (no I/O here)."""

    credentials: DeviceCredentials
    power: bool = False
    brightness: int = 50
    temperature: float = 21.5
    random: Callable[[float, float], float] = _random.uniform
    connects: int = 0                 # successful connections so far
    online: bool = False
    remote_applied: int = 0           # params/remote messages that changed something
    fw_version: str = FW_VERSION
    ota_succeeded: int = 0            # OTA updates applied
    ota_failed: int = 0               # OTA updates reported failed
    ota_done: set[str] = field(default_factory=set)  # OTA job ids already performed

    @property
    def node_id(self) -> str:
        return self.credentials.node_id

    def topic(self, suffix: str) -> str:
        return f"node/{self.node_id}/{suffix}"

    def config(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id, "config_version": CONFIG_VERSION,
            "info": {"name": self.credentials.name, "fw_version": self.fw_version,
                     "type": "Lightbulb", "model": "fleetgate-sim"},
            "devices": [{"name": DEVICE, "type": "esp.device.lightbulb", "params": [
                {"name": "power", "data_type": "bool", "properties": ["read", "write"]},
                {"name": "brightness", "data_type": "int", "bounds": {"min": 0, "max": 100},
                 "properties": ["read", "write"]},
                {"name": "temperature", "data_type": "float", "properties": ["read"]},
            ]}],
        }

    def state(self) -> dict[str, dict[str, Any]]:
        return {DEVICE: {"power": self.power, "brightness": self.brightness,
                         "temperature": self.temperature}}

    def drift(self) -> dict[str, dict[str, Any]]:
        """Moves the temperature a little (a bounded random walk); the partial report."""
        step = self.random(-0.3, 0.3)
        self.temperature = round(min(30.0, max(15.0, self.temperature + step)), 1)
        return {DEVICE: {"temperature": self.temperature}}

    def apply_remote(self, desired: Any) -> dict[str, dict[str, Any]]:
        """Applies the writable params of a params/remote payload; returns what it applied
        (to echo as reported). Unknown, read-only or ill-typed params are ignored."""
        if not isinstance(desired, dict) or not isinstance(desired.get(DEVICE), dict):
            return {}
        applied: dict[str, Any] = {}
        params = desired[DEVICE]
        power = params.get("power")
        if isinstance(power, bool):
            self.power = applied["power"] = power
        brightness = params.get("brightness")
        if isinstance(brightness, int | float) and not isinstance(brightness, bool):
            self.brightness = applied["brightness"] = int(min(100, max(0, brightness)))
        if applied:
            self.remote_applied += 1
        return {DEVICE: applied} if applied else {}


def payload(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """sleep = random(0, min(cap, initial * 2**attempt)); attempts restart after a connection
    that stayed up `stable_after` seconds."""

    initial: float = 0.5
    cap: float = 30.0
    stable_after: float = 10.0
    random: Callable[[float, float], float] = _random.uniform

    def ceiling(self, attempt: int) -> float:
        return min(self.cap, self.initial * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int) -> float:
        return self.random(0.0, self.ceiling(attempt))


Fetch = Callable[[str, int], Awaitable[bytes]]
"""Downloads a URL, reading at most the given number of bytes (more is an error)."""
