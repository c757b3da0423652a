"""`make run`'s demo: simulated devices are provisioned, claimed by the demo user and report."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from fleetgate.app import create_app
from fleetgate.bootstrap import DEMO_DEVICES, DEMO_USERS, create_demo_data, migrate
from fleetgate.container import Container
from fleetgate.settings import Settings
from tests.integration.test_mqtt_broker import free_port


def saved_demo_nodes() -> list[str]:
    state = Path(".fleetgate-demo-devices.json")
    if not state.exists():
        return []
    return [n["node_id"] for n in json.loads(state.read_text())["nodes"]]


@pytest.mark.skipif(bool(os.environ.get("MQTT_URL")), reason="demo devices use the embedded broker")
async def test_demo_user_sees_reporting_demo_devices(settings: Settings, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the demo keeps device credentials in the working directory
    settings = replace(settings, mqtt_port=free_port(), mqtt_url=None, demo=True)
    container = Container(settings=settings)
    await migrate(container)
    await create_demo_data(container)
    app = create_app(settings, container=container, start_mqtt=True, demo_devices=True)
    user, password, _ = DEMO_USERS[1]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            token = (await client.post("/v1/login2", json={
                "user_name": user, "password": password})).json()["accesstoken"]
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                nodes = saved_demo_nodes()
                if nodes:
                    replies = [await client.get(f"/v1/user/nodes/params?node_id={n}",
                                                headers={"Authorization": token})
                               for n in nodes]
                    if len(nodes) == DEMO_DEVICES and all(
                            r.status_code == 200 and "Light" in r.json() for r in replies):
                        break
                assert asyncio.get_running_loop().time() < deadline, "demo devices never reported"
                await asyncio.sleep(0.1)
