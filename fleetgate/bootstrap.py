"""Start-up chores shared by the CLI and the tests: migrate, seed built-in rules, demo data."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from adapters.sql.migrate import upgrade_async
from adapters.sql.policy_store import read_rule_file
from domain.errors import Conflict
from fleetgate.container import POLICY_DIR, Container
from fleetgate.settings import Settings

log = logging.getLogger("fleetgate")

DEMO_USERS = [("admin@fleetgate.local", "Fleetgate-demo1", True),
              ("user@fleetgate.local", "Fleetgate-demo1", False)]


async def migrate(container: Container) -> None:
    """Schema to head, the default organization, the built-in role rules."""
    await upgrade_async(container.settings().database_url)
    await container.policy_store().seed(read_rule_file(POLICY_DIR / "builtin.csv"))
    await container.registration().ensure_default_organization()


async def create_demo_data(container: Container) -> None:
    registration = container.registration()
    for user_name, password, superadmin in DEMO_USERS:
        try:
            await registration.provision_user(user_name=user_name, password=password,
                                              superadmin=superadmin, name="Demo")
            log.info("demo user %s / %s%s", user_name, password,
                     " (superadmin)" if superadmin else "")
        except Conflict:
            pass


DEMO_DEVICES = 3
DEMO_DEVICE_STATE = ".fleetgate-demo-devices.json"


async def run_demo_devices(app: Any, settings: Settings, stop: asyncio.Event) -> None:
    """`make run`'s simulated lightbulbs: provisioned by the demo admin (once; credentials
    kept in .fleetgate-demo-devices.json), claimed by the demo user, then reporting until
    the server stops. They talk to the app in process over ASGI and to the embedded broker
    over MQTT, like any device."""
    from fleetgate.simulator.fleet import Simulator

    (admin, password, _), (user, _, _) = DEMO_USERS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fleetgate.demo") as http:
        simulator = Simulator(nodes=DEMO_DEVICES, url="http://fleetgate.demo",
                              mqtt_port=settings.mqtt_port, user=admin, password=password,
                              state_path=DEMO_DEVICE_STATE, http_client=http, interval=5)
        devices = await simulator.prepare()
        login = await http.post("/v1/login2", json={"user_name": user, "password": password})
        token = login.json()["accesstoken"]
        for device in devices:
            credentials = device.credentials
            await http.put("/v1/user/nodes/mapping", headers={"Authorization": token},
                           json={"node_id": credentials.node_id, "operation": "add",
                                 "secret_key": credentials.secret_key})
        log.info("demo devices %s claimed by %s",
                 ", ".join(d.credentials.node_id for d in devices), user)
        await simulator.run(stop)
