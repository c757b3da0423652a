"""One virtual device's life on MQTT: connect with its will, subscribe, report, apply
desired params and OTA offers, reconnect with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

import aiomqtt

from fleetgate.simulator.device import Backoff, Fetch, VirtualDevice, payload
from fleetgate.simulator.ota import parse_offer, perform_ota
from fleetgate.simulator.provisioning import now_ms

log = logging.getLogger("fleetgate.simulator")

async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Waits up to `seconds` for the event; True if it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def _read_remote(client: aiomqtt.Client, device: VirtualDevice,
                       fetch: Fetch | None = None, ota_failure_rate: float = 0.0) -> None:
    async for message in client.messages:
        if message.topic.value == device.topic("otaurl"):
            offer = parse_offer(message.payload)
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
            await client.publish(device.topic("params/local"), payload(applied), qos=1)
    raise aiomqtt.MqttError("message stream ended")


async def _report_periodically(client: aiomqtt.Client, device: VirtualDevice,
                               interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await client.publish(device.topic("params/local"), payload(device.drift()), qos=1)


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
        will = aiomqtt.Will(connection, payload({"connected": False, "timestamp": stamp}),
                            qos=1, retain=True)
        client = aiomqtt.Client(host, port, identifier=device.node_id, username=device.node_id,
                                password=device.credentials.mqtt_password, will=will,
                                keepalive=keepalive, protocol=aiomqtt.ProtocolVersion.V311)
        try:
            async with client:
                up_since = clock()
                await client.subscribe(device.topic("params/remote"), qos=1)
                await client.subscribe(device.topic("otaurl"), qos=1)
                await client.publish(connection, payload({"connected": True,
                                                           "timestamp": stamp}),
                                     qos=1, retain=True)
                await client.publish(device.topic("config"), payload(device.config()), qos=1)
                await client.publish(device.topic("params/local/init"),
                                     payload(device.state()), qos=1)
                device.connects += 1
                device.online = True
                log.info("%s (%s) connected to %s:%s", name, device.node_id, host, port)
                try:
                    await _session(client, device, interval, stop, fetch, ota_failure_rate)
                    await client.publish(connection, payload({"connected": False,
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


