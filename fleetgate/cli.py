"""Operator commands: `fleetgate serve | migrate | user create | apikey create |
policy check | policy export | policy import`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import SUPERADMIN
from domain.errors import DomainError
from fleetgate.bootstrap import create_demo_data, migrate
from fleetgate.container import Container
from fleetgate.settings import Settings, configure_logging

T = TypeVar("T")


def _run(work: Callable[[Container], Awaitable[T]]) -> T:
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    container = Container(settings=settings)

    async def main() -> T:
        try:
            return await work(container)
        finally:
            await container.engine().dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        click.echo(f"error: {exc.message} ({exc.code})", err=True)
        sys.exit(1)


@click.group(help="Fleetgate: a self-hostable device cloud for IoT fleets.")
def main() -> None:
    pass


@main.command(help="Migrate the database, then serve the gateway (and the embedded MQTT "
                   "broker unless MQTT_URL is set).")
@click.option("--host", default=None, help="Interface to bind (FLEETGATE_HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="TCP port (FLEETGATE_PORT, 8000).")
def serve(host: str | None, port: int | None) -> None:
    import uvicorn

    from fleetgate.app import create_app

    settings = Settings.from_env()
    if problems := settings.production_problems():
        raise click.UsageError("; ".join(problems))
    if settings.mqtt_url and not (settings.broker_hook_secret or settings.broker_hook_allow):
        click.echo("warning: MQTT_URL is set but neither FLEETGATE_BROKER_HOOK_SECRET nor "
                   "FLEETGATE_BROKER_HOOK_ALLOW: the broker hooks refuse every caller",
                   err=True)

    async def prepare(container: Container) -> None:
        await migrate(container)
        if settings.demo:
            await create_demo_data(container)

    _run(prepare)
    app = create_app(settings, start_mqtt=True, bench=_bench_enabled(),
                     demo_devices=settings.demo)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), loop="uvloop", http="httptools",
                access_log=False, proxy_headers=False,
                # JSON: uvicorn's own lines go through our root handler instead of its own
                **({"log_config": None} if settings.log_format == "json" else {}))


def _bench_enabled() -> bool:
    import os

    return os.environ.get("FLEETGATE_BENCH") == "1"


@main.command(name="migrate", help="Upgrade the database schema and seed built-in rules.")
def migrate_cmd() -> None:
    _run(migrate)
    click.echo("database is up to date")


@main.group(help="Manage users.")
def user() -> None:
    pass


@user.command(name="create", help="Create a confirmed user and print its id.")
@click.argument("email")
@click.option("--password", required=True, help="8..256 chars, upper, lower and a digit.")
@click.option("--superadmin", is_flag=True, help="Give the user the superadmin role.")
@click.option("--org", "org", default=None,
              help="Organization name; created (with this user as superadmin) if new.")
@click.option("--name", default="", help="Display name.")
def user_create(email: str, password: str, superadmin: bool, org: str | None, name: str) -> None:
    async def work(container: Container) -> str:
        await migrate(container)
        created = await container.registration().provision_user(
            user_name=email, password=password, superadmin=superadmin, org_name=org, name=name)
        return created.id

    click.echo(_run(work))


@main.group(help="Manage organizations.")
def org() -> None:
    pass


@org.command(name="create", help="Create an organization and print its id.")
@click.argument("name")
@click.option("--hostname", default=None,
              help="Sign-ups arriving with this Host header join the organization.")
def org_create(name: str, hostname: str | None) -> None:
    async def work(container: Container) -> str:
        await migrate(container)
        created = await container.registration().create_organization(name=name,
                                                                     hostname=hostname)
        return created.id

    click.echo(_run(work))


@main.group(help="Manage organization API keys.")
def apikey() -> None:
    pass


@apikey.command(name="create", help="Create an API key for an organization; printed once.")
@click.option("--org", "org", required=True, help="Organization name.")
@click.option("--name", required=True, help="A name to recognise the key by.")
def apikey_create(org: str, name: str) -> None:
    async def work(container: Container) -> str:
        await migrate(container)
        await container.authorizer().reload()
        organization = await container.registration().find_organization(org)
        # the operator acts as the organization's superadmin for this one call
        operator = Principal(kind=PrincipalKind.USER, org_id=organization.id, user_id=None,
                             roles=frozenset({SUPERADMIN}))
        issued = await container.api_keys().create_api_key(Caller(principal=operator,
                                                                  ip="cli"), name=name)
        return issued.key

    click.echo(_run(work))


@main.group(help="Check, export and import organization policies (policies/README.md).")
def policy() -> None:
    pass


@policy.command(name="check", help="Lint a policy JSON file and run its decision table "
                                   "(--table, or FILE's stem + .table.yaml next to it).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", "table", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path))
def policy_check(file: Path, table: Path | None) -> None:
    from fleetgate.policy_tools import check_file

    ok, lines = check_file(file, table)
    for line in lines:
        click.echo(line)
    sys.exit(0 if ok else 1)


def _org_access(org: str, directory: Path, action: str) -> list[str]:
    from fleetgate.app import create_app
    from fleetgate.policy_exchange import export_org, import_org, operator

    async def work(container: Container) -> list[str]:
        await migrate(container)
        create_app(Settings.from_env(), container=container)  # fills the API catalogue
        await container.authorizer().reload()
        organization = await container.registration().find_organization(org)
        run = export_org if action == "export" else import_org
        return await run(container.access_use_cases(), operator(organization.id), directory)

    return _run(work)


@policy.command(name="export", help="Write an organization's policies (DIR/policies/*.json) "
                                    "and roles (DIR/roles.yaml).")
@click.option("--org", "org", required=True, help="Organization name.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def policy_export(org: str, directory: Path) -> None:
    for path in _org_access(org, directory, "export"):
        click.echo(f"wrote {path}")


@policy.command(name="import", help="Create or update an organization's policies and roles "
                                    "from an exported DIR; prints what changed.")
@click.option("--org", "org", required=True, help="Organization name.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def policy_import(org: str, directory: Path) -> None:
    changes = _org_access(org, directory, "import")
    for change in changes:
        click.echo(change)
    if not changes:
        click.echo("nothing changed")


@main.command(help="Simulate N RainMaker-style lightbulbs against a running gateway: provision "
                   "them (or reuse the state file), connect over MQTT, report, obey "
                   "params/remote. Ctrl-C disconnects them cleanly.")
@click.option("--nodes", required=True, type=click.IntRange(min=1), help="Number of devices.")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True,
              help="Gateway HTTP base URL (for provisioning).")
@click.option("--mqtt", "mqtt", default="127.0.0.1:1884", show_default=True,
              help="Broker HOST:PORT the devices connect to.")
@click.option("--user", default=None, envvar="FLEETGATE_SIM_USER",
              help="Admin email, needed only to provision new devices.")
@click.option("--password", default=None, envvar="FLEETGATE_SIM_PASSWORD",
              help="Admin password (or FLEETGATE_SIM_PASSWORD).")
@click.option("--state", "state", default=".fleetgate-sim.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where device credentials are kept (0600).")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds between periodic params/local reports.")
@click.option("--ota-failure-rate", "ota_failure_rate", default=0.0, show_default=True,
              type=click.FloatRange(min=0.0, max=1.0),
              help="Share (0..1) of OTA updates a device reports failed on purpose.")
def simulate(nodes: int, url: str, mqtt: str, user: str | None, password: str | None,
             state: str, interval: float, ota_failure_rate: float) -> None:
    import logging
    import os
    import signal

    from fleetgate.simulator.fleet import Simulator
    from fleetgate.simulator.provisioning import SimulatorError, parse_hostport

    configure_logging((os.environ.get("LOG_LEVEL") or "INFO").upper())
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

    async def main() -> None:
        host, port = parse_hostport(mqtt)
        simulator = Simulator(nodes=nodes, url=url, mqtt_host=host, mqtt_port=port, user=user,
                              password=password, state_path=state, interval=interval,
                              ota_failure_rate=ota_failure_rate)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def request_stop() -> None:
            click.echo("stopping: disconnecting devices (again to force)", err=True)
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal acts at once
                loop.remove_signal_handler(sig)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop)
        await simulator.run(stop)

    try:
        asyncio.run(main())
    except SimulatorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
