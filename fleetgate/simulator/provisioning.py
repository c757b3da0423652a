"""Simulated devices' credentials: HTTP provisioning and the JSON state file."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger("fleetgate.simulator")


DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_MQTT = "127.0.0.1:1884"
DEFAULT_STATE = ".fleetgate-sim.json"
STATE_VERSION = 1
DEVICE = "Light"
FW_VERSION = "1.0.0"
CONFIG_VERSION = "2024-01-01"


class SimulatorError(Exception):
    """A problem the operator has to fix (bad credentials, unreadable state, HTTP errors)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_hostport(value: str, default_port: int = 1884) -> tuple[str, int]:
    """`host:port`, `host` or `[v6]:port` → (host, port)."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        host, _, port = value.partition(":")
    else:
        host, port = value, ""
    if not host:
        raise SimulatorError(f"invalid MQTT address {value!r}: expected HOST:PORT")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise SimulatorError(f"invalid MQTT port in {value!r}") from None
    if not 0 < number < 65536:
        raise SimulatorError(f"invalid MQTT port in {value!r}")
    return host, number


# ---------------------------------------------------------------------------------------------
# credentials and their state file


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    name: str
    node_id: str
    mqtt_password: str
    secret_key: str
    private_key: str = ""
    """PEM of the device's own EC P-256 key (its public half is registered at provisioning):
    signs mapping challenges and proxied payloads, as RainMaker nodes do."""

    def sign(self, message: str) -> str:
        """Hex ECDSA-SHA256 (DER) signature of message by the device's key."""
        key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SimulatorError(f"{self.name}: no EC device key in the state file")
        return key.sign(message.encode(), ec.ECDSA(hashes.SHA256())).hex()

    @classmethod
    def from_json(cls, raw: Any) -> DeviceCredentials:
        if not isinstance(raw, dict):
            raise SimulatorError("state file: a node entry is not an object")
        try:
            values = {k: raw[k] for k in ("name", "node_id", "mqtt_password", "secret_key")}
        except KeyError as exc:
            raise SimulatorError(f"state file: a node entry lacks {exc.args[0]!r}") from None
        if not all(isinstance(v, str) and v for v in values.values()):
            raise SimulatorError("state file: node entries need non-empty strings")
        private_key = raw.get("private_key", "")
        if not isinstance(private_key, str):
            raise SimulatorError("state file: private_key must be a string")
        return cls(**values, private_key=private_key)

    def to_json(self) -> dict[str, str]:
        document = {"name": self.name, "node_id": self.node_id,
                    "mqtt_password": self.mqtt_password, "secret_key": self.secret_key}
        if self.private_key:
            document["private_key"] = self.private_key
        return document


def load_state(path: Path, url: str) -> list[DeviceCredentials]:
    """Saved credentials for `url`; [] when the file does not exist yet."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise SimulatorError(f"cannot read state file {path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION \
            or not isinstance(raw.get("nodes"), list):
        raise SimulatorError(f"state file {path} is not a fleetgate simulator state file")
    if raw.get("url") != url:
        raise SimulatorError(f"state file {path} holds devices of {raw.get('url')!r}, "
                             f"not {url!r}; pass another --state file")
    return [DeviceCredentials.from_json(node) for node in raw["nodes"]]


def save_state(path: Path, url: str, nodes: list[DeviceCredentials]) -> None:
    """Atomically writes the state file with mode 0600 (it holds device secrets)."""
    document = json.dumps({"version": STATE_VERSION, "url": url,
                           "nodes": [n.to_json() for n in nodes]}, indent=2) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(document)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# provisioning over HTTP


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        detail = body.get("description") if isinstance(body, dict) else response.text[:200]
        raise SimulatorError(f"{what} failed: HTTP {response.status_code}: {detail}")
    return body


async def login(client: httpx.AsyncClient, user: str, password: str) -> str:
    response = await client.post("/v1/login2", json={"user_name": user, "password": password})
    token = _json(response, "login").get("accesstoken")
    if not isinstance(token, str) or not token:
        raise SimulatorError("login failed: no accesstoken in the response")
    return token


async def provision_device(client: httpx.AsyncClient, admin_token: str,
                           name: str) -> DeviceCredentials:
    response = await client.post("/v1/admin/nodes/registration_token",
                                 json={"node_name": name},
                                 headers={"Authorization": admin_token})
    token = _json(response, f"registration token for {name}").get("token")
    if not isinstance(token, str):
        raise SimulatorError(f"registration token for {name}: no token in the response")
    key = ec.generate_private_key(ec.SECP256R1())
    public_key = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    private_key = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    body = _json(await client.post("/v1/devices/provision",
                                   json={"token": token, "public_key": public_key}),
                 f"provisioning {name}")
    try:
        return DeviceCredentials(name=name, node_id=str(body["node_id"]),
                                 mqtt_password=str(body["mqtt_password"]),
                                 secret_key=str(body["secret_key"]), private_key=private_key)
    except KeyError as exc:
        raise SimulatorError(f"provisioning {name}: response lacks {exc.args[0]!r}") from None

