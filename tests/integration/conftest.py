"""A running gateway for device tests: the app with its broker (embedded on a free port, or
MQTT_URL's) and its own MQTT client connected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from fleetgate.app import create_app
from fleetgate.bootstrap import migrate
from fleetgate.container import Container
from fleetgate.settings import Settings
from tests.conftest import Env
from tests.integration.test_mqtt_broker import free_port


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Env]:
    settings = replace(settings, mqtt_port=free_port())
    container = Container(settings=settings)
    await migrate(container)
    app = create_app(settings, container=container, start_mqtt=True)
    async with app.router.lifespan_context(app):
        deadline = asyncio.get_running_loop().time() + 10
        while not app.state.devices_runtime.bus.connected:
            assert asyncio.get_running_loop().time() < deadline, "gateway never connected"
            await asyncio.sleep(0.05)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Env(app=app, container=container, client=client, settings=settings)
