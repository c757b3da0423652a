"""The bus's heartbeat watchdog (AiomqttBus with heartbeat_interval): it publishes to a topic
of its own and, when nothing comes back for HEARTBEAT_MISSES intervals, subscribes every
filter again, then drops the connection (a broker that silently lost our session heals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiomqtt

log = logging.getLogger("fleetgate.mqtt.bus")

HEARTBEAT_MISSES = 3
"""Intervals without a heartbeat after which the bus resubscribes (as many again: reconnects)."""


class HeartbeatWatchdog:
    """Mixed into AiomqttBus: serving a connection with the watchdog beside its reader."""

    heartbeat_interval: float | None
    heartbeat_topic: str
    heartbeat_misses: int
    resubscribes: int
    heartbeat_reconnects: int
    _client: aiomqtt.Client | None
    _last_heartbeat: float | None
    _held_back: int
    _filters: list[str]
    _clock: Callable[[], float]
    _read: Callable[[aiomqtt.Client], Awaitable[None]]
    _subscribe: Callable[[aiomqtt.Client, list[str]], Awaitable[None]]

    def heartbeat_age(self) -> float | None:
        """Seconds since the subscription last proved to work on this connection (its own
        heartbeat arrived, or a message is being held back by a full queue: 0); None when
        disconnected or before the first heartbeat."""
        if self._client is None or self._last_heartbeat is None:
            return None
        if self._held_back:
            return 0.0
        return max(0.0, self._clock() - self._last_heartbeat)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Reads messages until the connection fails, or the heartbeat watchdog gives up on
        it (then raises MqttError, and run() reconnects)."""
        if self.heartbeat_interval is None:
            await self._read(client)
            return
        await client.subscribe(self.heartbeat_topic, qos=0)  # never shared: ours alone
        reader = asyncio.create_task(self._read(client), name="mqtt-reader")
        watchdog = asyncio.create_task(self._watch(client), name="mqtt-heartbeat")
        try:
            done, _ = await asyncio.wait([reader, watchdog],
                                         return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # raises what ended the connection
            raise aiomqtt.MqttError("no heartbeat through our own subscription: reconnecting")
        finally:
            for task in (reader, watchdog):
                task.cancel()
            await asyncio.gather(reader, watchdog, return_exceptions=True)

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Publishes a heartbeat every interval; returns when the connection should be
        dropped (no heartbeat even after subscribing everything again)."""
        interval = self.heartbeat_interval
        assert interval is not None
        window = interval * HEARTBEAT_MISSES
        evidence = self._clock()  # the connection's start counts as evidence
        resubscribed_at: float | None = None
        beat = 0
        while True:
            beat += 1
            with contextlib.suppress(aiomqtt.MqttError):
                await client.publish(self.heartbeat_topic, str(beat).encode(), qos=0)
            await asyncio.sleep(interval)
            now = self._clock()
            if self._held_back:
                evidence = now
            if self._last_heartbeat is not None:
                evidence = max(evidence, self._last_heartbeat)
            if now - evidence < window:
                resubscribed_at = None
                continue
            self.heartbeat_misses += 1
            if resubscribed_at is None:
                log.warning("no heartbeat through our own MQTT subscription for %.0fs: "
                            "subscribing every filter again", now - evidence)
                self.resubscribes += 1
                resubscribed_at = now
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.subscribe(self.heartbeat_topic, qos=0)
                    if self._filters:
                        await self._subscribe(client, list(self._filters))
            elif now - resubscribed_at >= window:
                log.error("still no heartbeat %.0fs after subscribing again: reconnecting",
                          now - resubscribed_at)
                self.heartbeat_reconnects += 1
                return
