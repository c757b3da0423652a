"""SECURITY.md M1 (issue 6 part 8): a Mosquitto broker with persistence on is restarted at
a random point of an OTA rollout while 20 devices each send ~15 otastatus reports (QoS 1,
persistent sessions on both sides). Every device's final OTA status in the database is the
last one it reported, and no node's status ever went backwards while the test watched.

The test runs its own Mosquitto (it must restart it), so it needs the mosquitto binary; the
gateway talks to it as to any external broker (MQTT_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import random
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiomqtt
import pytest

from domain.ota.model import FINAL, NodeStatus
from fleetgate.settings import Settings
from tests.integration.test_mqtt_broker import free_port
from tests.integration.test_ota_delivery import make_fleet, run_gateway

DEVICES, PROGRESS_REPORTS, SPACING = 20, 14, 0.03
MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None)
RANK = {NodeStatus.TRIGGERED: 0, NodeStatus.STARTED: 1, NodeStatus.DELAYED: 2,
        NodeStatus.IN_PROGRESS: 3}

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="M1 needs the mosquitto binary (apt install mosquitto): the test "
                              "restarts a broker of its own with persistence on")


class Mosquitto:
    """A Mosquitto of the test's own on a free loopback port, persistence in a directory:
    restart() stops it gracefully (SIGTERM: the persistence file is written) and starts it
    again on the same port and file."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\n"
            "persistence_file fleetgate-m1.db\nautosave_interval 1\n"
            "max_queued_messages 100000\nmax_inflight_messages 100\n"
            # run as root, mosquitto drops to user "mosquitto", who cannot write here
            f"user {getpass.getuser()}\n")
        self._process: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def start(self) -> None:
        assert MOSQUITTO is not None
        self._process = await asyncio.create_subprocess_exec(
            MOSQUITTO, "-c", str(self.config), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            assert self._process.returncode is None, "mosquitto exited at start"
            assert time.monotonic() < deadline, "mosquitto never listened"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await self._process.wait()
        self._process = None

    async def restart(self, down_for: float) -> None:
        await self.stop()
        await asyncio.sleep(down_for)
        await self.start()
        self.restarts += 1


@contextlib.asynccontextmanager
async def mosquitto(directory: Path) -> AsyncIterator[Mosquitto]:
    broker = Mosquitto(directory)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@dataclass
class OtaDevice:
    """Waits for its otaurl, then reports in-progress PROGRESS_REPORTS times and a final
    status, each QoS 1; a report is sent again until the broker acknowledged it (so a
    restart can deliver one twice). Persistent session (clean_session=False)."""

    node_id: str
    password: str
    port: int
    final: str
    reports: list[tuple[str, str]] = field(default_factory=list)
    acked: int = 0  # reports the broker acknowledged
    connects: int = 0
    job_id: str | None = None
    on_ack: Callable[[], None] = lambda: None

    def __post_init__(self) -> None:
        self.reports = [("in-progress", f"{p * 100 // PROGRESS_REPORTS}%")
                        for p in range(PROGRESS_REPORTS)] + [(self.final, "done")]

    async def run(self) -> None:
        while self.acked < len(self.reports):
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier=self.node_id,
                                          username=self.node_id, password=self.password,
                                          clean_session=False, keepalive=5,
                                          timeout=3) as client:
                    self.connects += 1
                    await client.subscribe(f"node/{self.node_id}/otaurl", qos=1)
                    await client.publish(f"node/{self.node_id}/connection", json.dumps(
                        {"connected": True, "timestamp": int(time.time() * 1000)}), qos=1,
                        timeout=3)
                    if self.job_id is None:
                        async with asyncio.timeout(15):
                            async for message in client.messages:
                                assert isinstance(message.payload, bytes)
                                self.job_id = json.loads(message.payload)["ota_job_id"]
                                break
                    while self.acked < len(self.reports):
                        status, info = self.reports[self.acked]
                        await client.publish(f"node/{self.node_id}/otastatus", json.dumps(
                            {"ota_job_id": self.job_id, "status": status,
                             "additional_info": info}), qos=1, timeout=3)
                        self.acked += 1
                        self.on_ack()
                        await asyncio.sleep(SPACING)
            except aiomqtt.MqttError:  # the broker went away: reconnect and carry on
                await asyncio.sleep(0.2)


def rank(status: NodeStatus) -> int:
    return 4 if status in FINAL else RANK[status]


async def test_broker_restart_mid_rollout_loses_no_status_report(settings: Settings,
                                                                tmp_path: Path) -> None:
    async with mosquitto(tmp_path) as broker:
        gateway_settings = replace(settings, mqtt_url=f"mqtt://127.0.0.1:{broker.port}")
        async with run_gateway(gateway_settings) as env:
            fleet = await make_fleet(env, DEVICES)
            org_id = fleet.admin.require_principal().org_id
            rng = random.Random()
            devices = [OtaDevice(n.node_id, n.mqtt_password, broker.port,
                                 final="failed" if i % 5 == 4 else "success")
                       for i, n in enumerate(fleet.nodes)]
            job = await fleet.job("m1", [d.node_id for d in devices])  # offered on connect
            regressions: list[tuple[str, str, str]] = []
            last: dict[str, NodeStatus] = {}

            async def watch() -> None:
                while True:
                    async with env.container.uow()(org_id) as uow:
                        for device in devices:
                            found = await uow.ota.node_status(job.id, device.node_id)
                            assert found is not None
                            before = last.get(device.node_id, NodeStatus.TRIGGERED)
                            if rank(found.status) < rank(before):
                                regressions.append((device.node_id, before, found.status))
                            last[device.node_id] = found.status
                    await asyncio.sleep(0.05)

            watching = asyncio.create_task(watch())
            traffic = [asyncio.create_task(d.run()) for d in devices]
            total = sum(len(d.reports) for d in devices)
            restart_at = int(total * rng.uniform(0.2, 0.7))
            far_enough = asyncio.Event()

            def check_progress() -> None:
                if sum(d.acked for d in devices) >= restart_at:
                    far_enough.set()

            for device in devices:
                device.on_ack = check_progress
            try:
                async with asyncio.timeout(30):
                    await far_enough.wait()
                unfinished = [d for d in devices if d.acked < len(d.reports)]
                await broker.restart(down_for=0.5)
                async with asyncio.timeout(60):
                    await asyncio.gather(*traffic)
                deadline = asyncio.get_running_loop().time() + 20
                while True:
                    async with env.container.uow()(org_id) as uow:
                        found = {d.node_id: await uow.ota.node_status(job.id, d.node_id)
                                 for d in devices}
                    wrong = {d.node_id: (s.status, s.additional_info) for d in devices
                             if (s := found[d.node_id]) is not None
                             and (s.status.value, s.additional_info) != d.reports[-1]}
                    if not wrong:
                        break
                    rt = env.app.state.devices_runtime
                    assert asyncio.get_running_loop().time() < deadline, (
                        f"final statuses differ from the last reports: {wrong} (OTA messages "
                        f"handled {rt.ota_handled}, ignored {rt.ota_ignored}; bus dropped "
                        f"{rt.bus.dropped})")
                    await asyncio.sleep(0.1)
            finally:
                for task in traffic:
                    task.cancel()
                watching.cancel()
                await asyncio.gather(*traffic, watching, return_exceptions=True)
            bus_connects = env.app.state.devices_runtime.bus.connects
            job_state = await fleet.job_state(job.id)

    assert broker.restarts == 1 and regressions == []
    assert bus_connects >= 2, "the gateway never lost the broker: the restart did not happen"
    assert unfinished and all(d.connects >= 2 for d in unfinished), \
        "devices still reporting were not disconnected"
    assert job_state.status.value == "finished"
    print(f"\nM1: {DEVICES} devices x {PROGRESS_REPORTS + 1} reports, broker restarted after "
          f"{restart_at} of {total} acknowledged; gateway connects {bus_connects}; "
          f"device reconnects {sum(d.connects - 1 for d in devices)}; 0 lost, 0 regressions")
