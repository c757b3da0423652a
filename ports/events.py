"""Where domain events go (GraphQL subscriptions, webhooks)."""

from __future__ import annotations

from typing import Protocol

from domain.devices.model import NodeEvent


class EventPublisher(Protocol):
    """Delivers events to whoever listens; never blocks the publisher for long."""

    async def publish(self, event: NodeEvent) -> None: ...
