"""Start-up chores shared by the CLI and the tests: migrate, seed built-in rules, demo data."""

from __future__ import annotations

import logging

from adapters.sql.migrate import upgrade_async
from adapters.sql.policy_store import read_rule_file
from domain.errors import Conflict
from fleetgate.container import POLICY_DIR, Container

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
