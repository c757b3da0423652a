"""A fleet of virtual RainMaker-style lightbulbs for exercising a running gateway.

Each virtual device is provisioned once over HTTP (an admin's registration token exchanged
for the node's id and secrets; credentials are kept in a JSON state file so the next run
reuses them), then speaks the device MQTT contract (`../shared/reference/mqtt-topics.md`):

- connects with username = client id = node id, a last will `{"connected": false}` on
  `node/<id>/connection` (QoS 1, retained, so it replaces the retained `{"connected": true}`);
- on every (re)connect: subscribes to `node/<id>/params/remote`, publishes
  `{"connected": true}` (retained), its config, and its full state on `params/local/init`;
- every `interval` seconds reports a drifting temperature on `params/local`;
- applies desired params from `params/remote` and echoes what it applied on `params/local`;
- performs OTA updates offered on `otaurl`: reports `in-progress` on `otastatus`, downloads
  the image (size capped at the offered filesize), checks size and md5, then reports its new
  firmware version in a fresh config and `success` — or `failed` with additional_info when
  the check fails or the download does (and at `ota_failure_rate`, to exercise failures);
- reconnects after a lost or refused connection with capped exponential backoff and full
  jitter; on stop it publishes `{"connected": false}` before disconnecting cleanly.

The core is `Simulator.run(stop_event)`; one device's life is `run_device(...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random as _random
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
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


def _payload(value: Any) -> bytes:
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


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Waits up to `seconds` for the event; True if it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


Fetch = Callable[[str, int], Awaitable[bytes]]
"""Downloads a URL, reading at most the given number of bytes (more is an error)."""


class OtaDownloadError(Exception):
    pass


async def http_fetch(client: httpx.AsyncClient, url: str, limit: int) -> bytes:
    """GETs url, refusing a body larger than limit bytes (read in chunks, never whole)."""
    chunks: list[bytes] = []
    size = 0
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise OtaDownloadError(f"download failed: HTTP {response.status_code}")
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise OtaDownloadError(f"download larger than the offered {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def _offer(raw: Any) -> dict[str, Any] | None:
    """An otaurl payload {ota_job_id, url, fw_version, filesize, file_md5}, or None."""
    try:
        offer = json.loads(raw if isinstance(raw, bytes | bytearray | str) else b"")
    except ValueError:
        return None
    if not isinstance(offer, dict) or not all(
            isinstance(offer.get(k), str) and offer[k] for k in ("ota_job_id", "url")) \
            or not isinstance(offer.get("fw_version"), str) \
            or not isinstance(offer.get("filesize"), int) or offer["filesize"] < 0 \
            or not isinstance(offer.get("file_md5"), str):
        return None
    return offer


async def perform_ota(client: aiomqtt.Client, device: VirtualDevice, offer: dict[str, Any],
                      fetch: Fetch, failure_rate: float) -> bool:
    """One offered update: in-progress, download and check, then config + success or
    failed. Returns whether it succeeded."""
    name, job_id = device.credentials.name, offer["ota_job_id"]
    device.ota_done.add(job_id)

    async def status(value: str, info: str) -> None:
        await client.publish(device.topic("otastatus"), _payload(
            {"ota_job_id": job_id, "status": value, "additional_info": info}), qos=1)

    await status("in-progress", f"downloading {offer['fw_version']}")
    problem = ""
    try:
        image = await fetch(offer["url"], offer["filesize"])
    except OtaDownloadError as exc:
        problem = str(exc)[:200]
    except httpx.HTTPError as exc:
        problem = f"download failed: {exc!r}"[:200]
    else:
        if len(image) != offer["filesize"]:
            problem = f"size mismatch: got {len(image)} bytes, expected {offer['filesize']}"
        elif hashlib.md5(image, usedforsecurity=False).hexdigest() != \
                offer["file_md5"].lower():
            problem = "md5 mismatch"
        elif failure_rate > 0 and device.random(0.0, 1.0) < failure_rate:
            problem = "simulated failure"
    if problem:
        device.ota_failed += 1
        log.warning("%s: OTA job %s failed: %s", name, job_id, problem)
        await status("failed", problem)
        return False
    device.fw_version = offer["fw_version"]
    device.ota_succeeded += 1
    log.info("%s: OTA job %s applied, now at firmware %s", name, job_id, device.fw_version)
    await client.publish(device.topic("config"), _payload(device.config()), qos=1)
    await status("success", f"updated to {device.fw_version}")
    return True


async def _read_remote(client: aiomqtt.Client, device: VirtualDevice,
                       fetch: Fetch | None = None, ota_failure_rate: float = 0.0) -> None:
    async for message in client.messages:
        if message.topic.value == device.topic("otaurl"):
            offer = _offer(message.payload)
            if offer is None:
                log.warning("%s: ignored malformed otaurl", device.credentials.name)
            elif fetch is None:
                log.info("%s: OTA offered but this device cannot download",
                         device.credentials.name)
            elif offer["ota_job_id"] not in device.ota_done:  # offers repeat on reconnect
                await perform_ota(client, device, offer, fetch, ota_failure_rate)
            continue
        if message.topic.value != device.topic("params/remote"):
            continue
        try:
            raw = message.payload
            desired = json.loads(raw if isinstance(raw, bytes | bytearray | str) else b"")
        except ValueError:
            log.warning("%s: ignored malformed params/remote", device.credentials.name)
            continue
        applied = device.apply_remote(desired)
        if applied:
            log.info("%s: applied %s", device.credentials.name, applied)
            await client.publish(device.topic("params/local"), _payload(applied), qos=1)
    raise aiomqtt.MqttError("message stream ended")


async def _report_periodically(client: aiomqtt.Client, device: VirtualDevice,
                               interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await client.publish(device.topic("params/local"), _payload(device.drift()), qos=1)


async def _session(client: aiomqtt.Client, device: VirtualDevice, interval: float,
                   stop: asyncio.Event, fetch: Fetch | None = None,
                   ota_failure_rate: float = 0.0) -> None:
    """Serves one connection until stop (returns) or a connection failure (raises)."""
    tasks = [asyncio.create_task(_read_remote(client, device, fetch, ota_failure_rate)),
             asyncio.create_task(_report_periodically(client, device, interval)),
             asyncio.create_task(stop.wait())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if stop.is_set():
        return
    for task in done:
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc
    raise aiomqtt.MqttError("session ended")


async def run_device(device: VirtualDevice, *, host: str, port: int, interval: float,
                     stop: asyncio.Event, backoff: Backoff | None = None,
                     keepalive: int = 30, clock: Callable[[], float] = time.monotonic,
                     fetch: Fetch | None = None, ota_failure_rate: float = 0.0) -> None:
    """One device's life: connect, report, serve params/remote, reconnect on loss, until stop.
    On stop it reports `{"connected": false}` and disconnects cleanly (no last will)."""
    backoff = backoff or Backoff()
    name, connection = device.credentials.name, device.topic("connection")
    attempt = 0
    while not stop.is_set():
        up_since: float | None = None
        stamp = now_ms()
        will = aiomqtt.Will(connection, _payload({"connected": False, "timestamp": stamp}),
                            qos=1, retain=True)
        client = aiomqtt.Client(host, port, identifier=device.node_id, username=device.node_id,
                                password=device.credentials.mqtt_password, will=will,
                                keepalive=keepalive, protocol=aiomqtt.ProtocolVersion.V311)
        try:
            async with client:
                up_since = clock()
                await client.subscribe(device.topic("params/remote"), qos=1)
                await client.subscribe(device.topic("otaurl"), qos=1)
                await client.publish(connection, _payload({"connected": True,
                                                           "timestamp": stamp}),
                                     qos=1, retain=True)
                await client.publish(device.topic("config"), _payload(device.config()), qos=1)
                await client.publish(device.topic("params/local/init"),
                                     _payload(device.state()), qos=1)
                device.connects += 1
                device.online = True
                log.info("%s (%s) connected to %s:%s", name, device.node_id, host, port)
                try:
                    await _session(client, device, interval, stop, fetch, ota_failure_rate)
                    await client.publish(connection, _payload({"connected": False,
                                                               "timestamp": now_ms()}),
                                         qos=1, retain=True, timeout=5)
                    log.info("%s disconnected", name)
                    return
                finally:
                    device.online = False
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                return
            log.warning("%s: MQTT connection %s: %s", name,
                        "lost" if up_since is not None else "failed", exc)
        if up_since is not None and clock() - up_since >= backoff.stable_after:
            attempt = 0
        delay = backoff.delay(attempt)
        attempt += 1
        log.info("%s: reconnecting in %.2fs (attempt %d)", name, delay, attempt)
        if await _wait(stop, delay):
            return


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
