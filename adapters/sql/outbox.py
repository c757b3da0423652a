"""Default Outbox: keeps every outgoing message in the database and logs it, so an operator
without SMTP can read verification codes (and tests can too)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables.accounts import outbox_messages
from adapters.sql.uow import set_scope
from ports.services import OutgoingMessage

log = logging.getLogger("fleetgate.outbox")


class SqlOutbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def send(self, message: OutgoingMessage) -> None:
        async with self._engine.begin() as conn:
            await set_scope(conn, message.org_id)
            await conn.execute(insert(outbox_messages).values(
                id=str(uuid.uuid4()), org_id=message.org_id, recipient=message.to,
                subject=message.subject, body=message.body, kind=message.kind,
                created_at=datetime.now(UTC)))
        log.info("outbox message to %s: %s | %s", message.to, message.subject, message.body)
