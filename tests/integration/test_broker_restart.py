"""Faults between devices and the gateway (SECURITY.md M1 and M6, for params): the embedded
broker stopped and started again in the middle of device traffic loses no update it had
acknowledged, versions never go back; a device that vanishes without DISCONNECT is offline
within 1.5 x keepalive + 5 s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field

import aiomqtt
import pytest

from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.test_device_runtime import broker_address, wait_for

DEVICES, MESSAGES, SPACING = 5, 60, 0.025
KEEPALIVE = 2


def state(seq: int) -> bytes:
    return json.dumps({"Sensor": {"seq": seq}}).encode()


@dataclass
class SimulatedDevice:
    """Publishes seq 0..MESSAGES-1 on params/local (QoS 1). `acked` is the last publish the
    broker acknowledged. On every reconnect it re-reports its full state (params/local/init),
    as devices must (SECURITY.md fact 3); an unacknowledged publish is sent again."""

    node_id: str
    password: str
    host: str
    port: int
    acked: int | None = None
    connects: int = 0
    errors: list[str] = field(default_factory=list)

    async def run(self) -> None:
        seq = 0
        while seq < MESSAGES:
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=self.node_id,
                                          username=self.node_id, password=self.password,
                                          keepalive=KEEPALIVE, timeout=2) as client:
                    self.connects += 1
                    if self.acked is not None:
                        await client.publish(f"node/{self.node_id}/params/local/init",
                                             state(self.acked), qos=1, timeout=2)
                    while seq < MESSAGES:
                        await client.publish(f"node/{self.node_id}/params/local", state(seq),
                                             qos=1, timeout=2)
                        self.acked, seq = seq, seq + 1
                        await asyncio.sleep(SPACING)
            except aiomqtt.MqttError as exc:  # broker gone: back off a little, reconnect
                self.errors.append(str(exc))
                await asyncio.sleep(0.2)


class VersionWatch:
    """Samples every node's params version while traffic flows; remembers any regression."""

    def __init__(self, env: Env, node_ids: list[str]) -> None:
        self._env, self._ids = env, node_ids
        self.last: dict[str, int] = {}
        self.regressions: list[tuple[str, int, int]] = []
        self.samples = 0

    async def run(self) -> None:
        while True:
            async with self._env.container.uow()(SYSTEM_SCOPE) as uow:
                nodes = await uow.nodes.get_many(self._ids)
            for node in nodes:
                before = self.last.get(node.id, 0)
                if node.params_version < before:
                    self.regressions.append((node.id, before, node.params_version))
                self.last[node.id] = node.params_version
            self.samples += 1
            await asyncio.sleep(0.05)


@pytest.mark.skipif(bool(os.environ.get("MQTT_URL")),
                    reason="MQTT_URL names an external broker: the test can only stop and "
                           "start the embedded one that the gateway runs")
async def test_broker_restart_mid_traffic_loses_no_acknowledged_update(gateway: Env) -> None:
    env = gateway
    runtime = env.app.state.devices_runtime
    assert runtime.broker is not None
    host, port = broker_address(env)
    devices = []
    for _ in range(DEVICES):
        provisioned = await env.provision_node()
        devices.append(SimulatedDevice(provisioned.node_id, provisioned.mqtt_password,
                                       host, port))
    watch = VersionWatch(env, [d.node_id for d in devices])
    watching = asyncio.create_task(watch.run())
    traffic = [asyncio.create_task(d.run()) for d in devices]
    try:
        deadline = time.monotonic() + 10
        while sum((d.acked or 0) for d in devices) < DEVICES * MESSAGES // 3:
            assert time.monotonic() < deadline, "devices never got going"
            await asyncio.sleep(0.01)
        await runtime.broker.stop()  # mid-traffic
        await asyncio.sleep(1.0)
        await runtime.broker.start()
        async with asyncio.timeout(20):
            await asyncio.gather(*traffic)

        for device in devices:
            assert device.acked == MESSAGES - 1
            await wait_for(env, device.node_id,
                           lambda n, d=device: n.reported == {"Sensor": {"seq": d.acked}},
                           within=15)
    finally:
        for task in traffic:
            task.cancel()
        watching.cancel()
        await asyncio.gather(*traffic, watching, return_exceptions=True)

    assert all(d.connects >= 2 for d in devices), "the restart did not disconnect devices"
    assert watch.regressions == [] and watch.samples > 10
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        for device in devices:
            history = await uow.params_history.for_node(device.node_id, limit=1000)
            node = await uow.nodes.get(device.node_id)
            assert node is not None and history[0].version == node.params_version
            seqs = [e.params["Sensor"]["seq"] for e in reversed(history)]
            assert seqs == sorted(seqs), "a node's reported state went back in time"
    print(f"\n{DEVICES} devices x {MESSAGES}: reconnects "
          f"{[d.connects - 1 for d in devices]}, gateway bus connects {runtime.bus.connects}")


async def test_ungraceful_disconnect_marks_the_device_offline_in_time(gateway: Env) -> None:
    env = gateway
    provisioned = await env.provision_node()
    node_id = provisioned.node_id
    host, port = broker_address(env)
    will = aiomqtt.Will(f"node/{node_id}/connection", json.dumps({"connected": False}), qos=1)
    async with TcpProxy(host, port) as proxy:
        client = aiomqtt.Client("127.0.0.1", proxy.port, identifier=node_id, username=node_id,
                                password=provisioned.mqtt_password, keepalive=KEEPALIVE,
                                will=will)
        await client.__aenter__()
        try:
            await client.publish(f"node/{node_id}/connection", json.dumps(
                {"connected": True, "timestamp": int(time.time() * 1000) - 1000}), qos=1)
            await wait_for(env, node_id, lambda n: n.connectivity.connected)
            vanished = time.monotonic()
            proxy.drop()  # the device is gone without a DISCONNECT: the broker sends its will
            budget = 1.5 * KEEPALIVE + 5
            await wait_for(env, node_id, lambda n: not n.connectivity.connected,
                                        within=budget)
            took = time.monotonic() - vanished
        finally:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
    assert took <= budget
    print(f"\noffline {took:.2f}s after the device vanished (budget {budget:.1f}s)")
