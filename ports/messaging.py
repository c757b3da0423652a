"""Messaging port: device traffic in and out over a publish/subscribe transport (MQTT)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A message as the broker delivered it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


MessageHandler = Callable[[InboundMessage], Awaitable[None]]


class MessageBus(Protocol):
    """Device messaging, at least once: handlers may see a message twice and must be idempotent."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> None:
        """Sends to the broker, waiting a bounded time for a connection; raises, never drops."""
        ...

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Routes messages matching the filter (+, #) to handler; holds across reconnects."""
        ...
