"""Shared fixtures: a migrated database per test (SQLite file, or PostgreSQL when
DATABASE_URL is set), the ASGI app with its lifespan, an HTTP client, and account helpers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from adapters.sql.engine import make_engine
from adapters.sql.migrate import upgrade
from adapters.sql.tables.accounts import outbox_messages
from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import ADMIN
from domain.devices.provisioning import ProvisionedNode
from fleetgate.app import create_app
from fleetgate.bootstrap import migrate
from fleetgate.container import Container
from fleetgate.settings import Settings

PG_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgresql")
PASSWORD = "Secret-pass1"
SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrates once per session: a SQLite file to copy, or the PostgreSQL schema."""
    if ON_POSTGRES:
        async def reset_schema() -> None:
            engine = make_engine(PG_URL, app_role=False)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset_schema())
        upgrade(PG_URL)
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return str(path)


async def _truncate_pg() -> None:
    engine = make_engine(PG_URL, app_role=False)
    async with engine.begin() as conn:
        # a connection a previous test abandoned mid-transaction would block TRUNCATE
        # forever: end such sessions, and never wait on a lock for long
        await conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in "
            "transaction%'"))
        await conn.execute(text("SET LOCAL lock_timeout = '30s'"))
        names = (await conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' "
            "AND tablename <> 'alembic_version'"))).scalars().all()
        await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture
def database_url(template_db: str, tmp_path: Path) -> str:
    if ON_POSTGRES:
        asyncio.run(_truncate_pg())
        return PG_URL
    target = tmp_path / "fleetgate.db"
    shutil.copy(template_db, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, secret=SECRET, login_limit_per_ip=10_000,
                    login_limit_per_user=10_000, mqtt_url=os.environ.get("MQTT_URL") or None,
                    blob_dir=str(tmp_path / "blobs"),
                    rate_limits=False)  # tests/api/test_billing_api.py turns them on


@dataclass
class Env:
    """A running app and what tests need around it."""

    app: Any
    container: Container
    client: httpx.AsyncClient
    settings: Settings

    async def outbox_code(self, user_name: str) -> str:
        """The newest verification code mailed to user_name (read from the outbox table)."""
        engine = self.container.engine()
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT set_config('fleetgate.org_id', '*', true)"))
            rows = (await conn.execute(
                select(outbox_messages.c.body).where(outbox_messages.c.recipient == user_name)
                .order_by(outbox_messages.c.created_at.desc()))).scalars().all()
        assert rows, f"no message for {user_name}"
        match = re.search(r"code is (\d{6})", rows[0])
        assert match
        return match.group(1)

    async def signup(self, user_name: str, password: str = PASSWORD, **headers: str) -> None:
        r = await self.client.post("/v1/user2", json={"user_name": user_name,
                                                      "password": password}, headers=headers)
        assert r.status_code == 201, r.text
        code = await self.outbox_code(user_name)
        r = await self.client.post("/v1/user2", json={"user_name": user_name,
                                                      "verification_code": code})
        assert r.status_code == 201, r.text

    async def login(self, user_name: str, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/v1/login2", json={"user_name": user_name,
                                                       "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    async def user(self, user_name: str, **kw: Any) -> str:
        """Signs a user up, confirms and logs in; returns the access token."""
        await self.signup(user_name, **kw)
        return (await self.login(user_name))["accesstoken"]

    async def provision(self, user_name: str, *, org: str | None = None,
                        superadmin: bool = False) -> str:
        await self.container.registration().provision_user(
            user_name=user_name, password=PASSWORD, org_name=org, superadmin=superadmin)
        return (await self.login(user_name))["accesstoken"]

    async def provision_node(self, org_name: str | None = None) -> ProvisionedNode:
        """A node provisioned by an admin of org_name (created) or of the default org."""
        registration = self.container.registration()
        org = await (registration.create_organization(name=org_name) if org_name
                     else registration.ensure_default_organization())
        admin = Caller(principal=Principal(kind=PrincipalKind.USER, org_id=org.id,
                                           user_id=None, roles=frozenset({ADMIN})))
        provisioning = self.container.provisioning()
        issued = await provisioning.create_registration_token(admin, node_name="Lamp")
        return await provisioning.provision_node(Caller(), token=issued.token)

    async def gql(self, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.client.post("/graphql", json={"query": query,
                                                     "variables": variables or {}},
                                   headers=headers)
        assert r.status_code in (200, 400), r.text
        return r.json()  # type: ignore[no-any-return]


async def start_env(settings: Settings) -> AsyncIterator[Env]:
    container = Container(settings=settings)
    await migrate(container)
    app = create_app(settings, container=container, bench=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Env(app=app, container=container, client=client, settings=settings)


@pytest.fixture
async def env(settings: Settings) -> AsyncIterator[Env]:
    async for e in start_env(settings):
        yield e


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


@contextlib.asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Env]:
    """`fleetgate serve` as devices see it: the app with its broker (embedded, or MQTT_URL's)
    and its own MQTT client connected."""
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


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Env]:
    """A running gateway for device tests, its embedded broker on a free port."""
    from tests.integration.test_mqtt_broker import free_port

    async with running_gateway(replace(settings, mqtt_port=free_port())) as env:
        yield env
