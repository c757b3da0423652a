"""Alembic environment: runs migrations on the async engine given in the config."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from adapters.sql.engine import make_engine
from adapters.sql.tables.catalog import complete_metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=complete_metadata(),
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", app_role=False)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `fleetgate migrate`")
asyncio.run(_main())
