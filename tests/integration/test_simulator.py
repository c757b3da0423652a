"""The device simulator against a running gateway (embedded broker, or MQTT_URL's): its
devices provision, report, obey params/remote, survive losing their connection, disconnect
cleanly, and a second run reuses the saved credentials."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from domain.devices.model import Node
from fleetgate.container import GATEWAY_USERNAME
from fleetgate.simulator.device import Backoff, VirtualDevice
from fleetgate.simulator.fleet import Simulator
from fleetgate.simulator.provisioning import DeviceCredentials
from fleetgate.simulator.session import run_device
from tests.conftest import PASSWORD, Env
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_device_runtime import broker_address, wait_for
from tests.integration.test_mqtt_broker import free_port

ADMIN = "ops@acme.io"


@pytest.fixture
async def running(gateway: Env) -> Env:
    await gateway.container.registration().provision_user(user_name=ADMIN, password=PASSWORD,
                                                          org_name="Acme")
    return gateway


async def until(check: Callable[[], bool], what: str, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


def simulator(env: Env, state: Path, nodes: int, *, user: str | None = ADMIN,
              random: Callable[[float, float], float] | None = None) -> Simulator:
    host, port = broker_address(env)
    extra: dict[str, Any] = {"random": random} if random else {}
    return Simulator(nodes=nodes, url="http://t", mqtt_host=host, mqtt_port=port, user=user,
                     password=PASSWORD if user else None, state_path=state, interval=0.1,
                     http_client=env.client, backoff=Backoff(initial=0.05, cap=0.5), **extra)


def gateway_client(env: Env, name: str) -> aiomqtt.Client:
    host, port = broker_address(env)
    prefix = env.container.gateway_client_prefix()  # the gateway's credential needs its id
    return aiomqtt.Client(host, port, identifier=f"{prefix}-test-{name}-{os.getpid()}",
                          username=GATEWAY_USERNAME, password=env.container.gateway_password())


def up(device: VirtualDevice) -> Callable[[Node], bool]:
    """The node shows the device's config, its Light params and that it is connected."""
    return lambda n: (n.type == "Lightbulb" and n.connectivity.connected
                      and "power" in n.reported.get("Light", {}))


async def stopped(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()
    async with asyncio.timeout(10):
        await task


@pytest.fixture
async def retained(running: Env) -> AsyncIterator[list[VirtualDevice]]:
    """Devices whose retained connection messages are cleared afterwards, pass or fail (it
    matters on a shared MQTT_URL broker, where they would outlive the test)."""
    devices: list[VirtualDevice] = []
    yield devices
    if devices:
        async with gateway_client(running, "cleanup") as client:
            for device in devices:
                await client.publish(device.topic("connection"), b"", qos=1, retain=True)


async def test_simulated_devices_report_obey_and_disconnect(
        running: Env, tmp_path: Path, retained: list[VirtualDevice]) -> None:
    env, state = running, tmp_path / "sim.json"
    sim = simulator(env, state, nodes=2)
    devices = await sim.prepare()
    retained.extend(devices)
    assert sim.provisioned == 2 and len({d.node_id for d in devices}) == 2
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    stop = asyncio.Event()
    task = asyncio.create_task(sim.run(stop))
    try:
        for device in devices:
            node = await wait_for(env, device.node_id, up(device))
            assert node.fw_version == "1.0.0" and node.reported["Light"]["power"] is False
            # periodic reports merge into the reported state
            await wait_for(env, device.node_id, lambda n: n.params_version >= 2
                           and "temperature" in n.reported["Light"])
        first, second = devices
        async with gateway_client(env, "desired") as gateway:
            await gateway.publish(first.topic("params/remote"),
                                  json.dumps({"Light": {"power": True, "brightness": 80}}),
                                  qos=1)
            node = await wait_for(env, first.node_id, lambda n: n.reported["Light"]["power"]
                                  is True and n.reported["Light"]["brightness"] == 80)
        assert first.power is True and first.remote_applied == 1
        other = await wait_for(env, second.node_id, up(second))
        assert other.reported["Light"]["power"] is False and second.remote_applied == 0
    finally:
        await stopped(task, stop)
    for device in devices:
        await wait_for(env, device.node_id, lambda n: not n.connectivity.connected)
        assert not device.online


async def test_a_device_reconnects_and_reports_its_full_state_again(
        running: Env, tmp_path: Path, retained: list[VirtualDevice]) -> None:
    env = running
    host, port = broker_address(env)
    async with TcpProxy(host, port) as proxy:
        sim = simulator(env, tmp_path / "sim.json", nodes=1,
                        random=lambda low, high: 0.1)  # warmer on every tick
        sim.mqtt_host, sim.mqtt_port = "127.0.0.1", proxy.port
        (device,) = await sim.prepare()
        retained.append(device)
        stop = asyncio.Event()
        task = asyncio.create_task(sim.run(stop))
        try:
            await wait_for(env, device.node_id, up(device))
            # the cloud's copy goes wrong behind the device's back (a device's credentials
            # only work under its own client id, which would take the device's session over)
            async with gateway_client(env, "liar") as liar:
                await liar.publish(device.topic("params/local/init"),
                                   json.dumps({"Light": {"power": True}}), qos=1)
            await wait_for(env, device.node_id, lambda n: n.reported["Light"]["power"] is True
                           and "brightness" not in n.reported["Light"])
            # the ingest drops byte-identical reports, so let the state move on first
            await until(lambda: device.temperature > 21.5, "a periodic report")
            proxy.drop()
            await until(lambda: device.connects >= 2 and device.online, "device reconnected")
            node = await wait_for(env, device.node_id, lambda n: n.connectivity.connected
                                  and n.reported["Light"].get("power") is False)
            assert node.reported["Light"]["brightness"] == device.brightness
        finally:
            await stopped(task, stop)
    await wait_for(env, device.node_id, lambda n: not n.connectivity.connected)


async def test_a_second_run_reuses_the_saved_devices(
        running: Env, tmp_path: Path, retained: list[VirtualDevice]) -> None:
    env, state = running, tmp_path / "sim.json"
    first = simulator(env, state, nodes=1)
    retained.extend(await first.prepare())
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    (original,) = first.devices
    try:
        await wait_for(env, original.node_id, up(original))
    finally:
        await stopped(task, stop)
    before = await wait_for(env, original.node_id, lambda n: not n.connectivity.connected)
    assert first.provisioned == 1

    # no admin credentials: the saved device is all it has, and all it needs
    again = simulator(env, state, nodes=1, user=None)
    stop = asyncio.Event()
    task = asyncio.create_task(again.run(stop))
    try:
        await until(lambda: bool(again.devices) and again.devices[0].online, "second run up")
        assert again.provisioned == 0 and again.devices[0].node_id == original.node_id
        await wait_for(env, original.node_id, lambda n: n.connectivity.connected
                       and n.connectivity.timestamp_ms > before.connectivity.timestamp_ms)
    finally:
        await stopped(task, stop)

    # asking for more devices provisions only the missing ones and keeps the saved one
    grown = simulator(env, state, nodes=2)
    devices = await grown.prepare()
    assert grown.provisioned == 1 and devices[0].node_id == original.node_id
    assert [n["name"] for n in json.loads(state.read_text())["nodes"]] == ["sim-1", "sim-2"]


async def test_a_device_retries_a_refusing_broker_with_capped_backoff(tmp_path: Path) -> None:
    ceilings: list[float] = []
    stop = asyncio.Event()

    def jitter(low: float, high: float) -> float:
        ceilings.append(high)
        if len(ceilings) == 5:
            stop.set()
        return 0.001

    device = VirtualDevice(credentials=DeviceCredentials(
        name="sim-1", node_id="ABCDEF0123456789", mqtt_password="x", secret_key="y"))
    async with asyncio.timeout(10):
        await run_device(device, host="127.0.0.1", port=free_port(), interval=1, stop=stop,
                         backoff=Backoff(initial=0.05, cap=0.3, random=jitter))
    assert ceilings == [0.05, 0.1, 0.2, 0.3, 0.3] and device.connects == 0


async def test_simulated_devices_hold_a_key_that_signs_mapping_challenges(
        running: Env, tmp_path: Path) -> None:
    env, state = running, tmp_path / "sim.json"
    (device,) = await simulator(env, state, nodes=1).prepare()
    saved = DeviceCredentials.from_json(json.loads(state.read_text())["nodes"][0])
    assert saved.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    owner = {"Authorization": (await env.login(ADMIN))["accesstoken"]}
    r = await env.client.post("/v1/user/nodes/mapping/initiate", json={}, headers=owner)
    challenge = r.json()
    r = await env.client.post("/v1/user/nodes/mapping/verify", headers=owner, json={
        "request_id": challenge["request_id"], "node_id": device.node_id,
        "challenge_response": saved.sign(challenge["challenge"])})
    assert r.status_code == 200, r.text
    r = await env.client.get(f"/v1/user/nodes?node_id={device.node_id}&node_details=true",
                             headers=owner)
    assert r.json()["node_details"][0]["primary"] is True
