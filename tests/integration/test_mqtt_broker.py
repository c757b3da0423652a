"""The embedded broker that `serve` starts (and the external one when MQTT_URL is set)
accepts a client and routes a message: the transport later capabilities build on."""

from __future__ import annotations

import asyncio
import os
import socket
from urllib.parse import urlparse

import aiomqtt
import pytest

from adapters.mqtt.embedded import EmbeddedBroker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def roundtrip(host: str, port: int) -> bytes:
    async with aiomqtt.Client(host, port, identifier=f"fg-test-{os.getpid()}") as client:
        await client.subscribe("fleetgate/test/#", qos=1)
        await client.publish("fleetgate/test/ping", b"pong", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                return bytes(message.payload)  # type: ignore[arg-type]
    raise AssertionError("no message")


async def test_embedded_broker_routes_messages() -> None:
    broker = EmbeddedBroker(port=free_port())
    await broker.start()
    try:
        assert await roundtrip("127.0.0.1", broker.port) == b"pong"
    finally:
        await broker.stop()


@pytest.mark.skipif(not os.environ.get("MQTT_URL"), reason="MQTT_URL not set")
async def test_external_broker_routes_messages() -> None:
    url = urlparse(os.environ["MQTT_URL"])
    assert await roundtrip(url.hostname or "127.0.0.1", url.port or 1883) == b"pong"
