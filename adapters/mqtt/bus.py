"""AiomqttBus: the MessageBus over MQTT 3.1.1 with aiomqtt, reconnecting by itself.

What it guarantees
- A fixed client id with clean_session=False, so while we are away the broker keeps our
  subscriptions and queues QoS 1 messages for us (if the broker keeps sessions, see below).
- Reconnects forever with capped exponential backoff and full jitter
  (sleep = random(0, min(cap, initial * 2**attempt))); attempts start over only after a
  connection that stayed up `stable_after` seconds, so a broker that accepts then drops us
  cannot cause a hot loop. Every registered filter is subscribed again (QoS 1) on every
  connection, so a lost session or a filter added while offline heals.
- No silent drops: a message that does not fit the bounded queue, or that is still queued or
  being handled when stop() gives up draining, is counted in `dropped` and logged at WARNING
  with its topic.
- With overflow="wait" a full queue is back-pressure instead: the bus stops taking messages
  from aiomqtt until its worker catches up. aiomqtt keeps receiving meanwhile (it already
  acknowledged them, fact 3 below), into its own buffer, which the bus bounds at
  `client_queue_size`; what overflows that is counted in `dropped` and logged too.
- Messages of one node (`node/<id>/...`) always go to the same worker, in arrival order.
- A handler that raises is logged with the topic and counted; its worker carries on.
- publish() waits up to `publish_timeout` for a connection and raises BusUnavailable after it.
- With `heartbeat_interval`, the bus proves its own subscription works: every interval it
  publishes to a topic of its own (random per bus, never shared) that it subscribes to. When
  no heartbeat (or other evidence: a message held back by a full queue) arrives for
  HEARTBEAT_MISSES intervals, it logs it and subscribes everything again; when that does not
  bring heartbeats back within as long again, it drops the connection and reconnects. A broker
  that silently dropped our session (amqtt once did, on another client's CONNECT) is healed.

What it does not guarantee
- Exactly once. paho sends PUBACK as soon as aiomqtt has queued the message, before any
  handler ran (SECURITY.md fact 3): a message dropped from a full queue or lost in a crash is
  not redelivered. Brokers may redeliver with a new packet id and reorder (fact 4). Handlers
  must be idempotent on their own keys and devices re-report full state on reconnect.
- Delivery of what was published while we were away: that is the broker's session. Mosquitto
  keeps it; amqtt 0.12 discards sessions (and their queued messages) of anonymous clients.
- Single delivery of publish(): one retried after a reconnect may reach the broker twice.
- Client ids are per gateway replica: two replicas sharing an id disconnect each other.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiomqtt

from adapters.mqtt.heartbeat import HeartbeatWatchdog
from adapters.mqtt.intake import Intake
from adapters.mqtt.topics import BusUnavailable, count_kind
from adapters.mqtt.workers import InboundWorkers
from ports.messaging import InboundMessage, MessageHandler

log = logging.getLogger("fleetgate.mqtt.bus")

class AiomqttBus(Intake, HeartbeatWatchdog, InboundWorkers):
    """The MessageBus over aiomqtt: connection, subscriptions and publishing here; the
    intake, the heartbeat watchdog and the worker pool in the modules it mixes in."""

    def __init__(
        self, host: str, port: int = 1883, *, client_id: str,
        username: str | None = None, password: str | None = None, keepalive: int = 60,
        queue_size: int = 1000, workers: int = 1,
        backoff_initial: float = 0.5, backoff_cap: float = 30.0, stable_after: float = 10.0,
        publish_timeout: float = 10.0, share_group: str | None = None,
        overflow: str = "drop", client_queue_size: int = 10_000,
        random: Callable[[float, float], float] = _random.uniform,
        clock: Callable[[], float] = time.monotonic,
        heartbeat_interval: float | None = None,
    ) -> None:
        if queue_size < 1 or workers < 1 or client_queue_size < 1:
            raise ValueError("queue_size, client_queue_size and workers must be at least 1")
        if overflow not in ("drop", "wait"):
            raise ValueError(f"overflow must be 'drop' or 'wait', not {overflow!r}")
        self._wait_when_full, self._client_queue_size = overflow == "wait", client_queue_size
        if share_group is not None and (not share_group or set(share_group) & set("/+#")):
            raise ValueError(f"invalid share group {share_group!r}")
        self.host, self.port, self.client_id = host, port, client_id
        self._username, self._password, self._keepalive = username, password, keepalive
        self._backoff_initial, self._backoff_cap = backoff_initial, backoff_cap
        self._stable_after, self._publish_timeout = stable_after, publish_timeout
        self._share_group, self._random, self._clock = share_group, random, clock
        # One bounded queue per worker (queue_size each), so a node's messages stay in order.
        self._queues: list[asyncio.Queue[InboundMessage]] = [
            asyncio.Queue(maxsize=queue_size) for _ in range(workers)]
        self._routes: list[tuple[str, MessageHandler]] = []
        self._filters: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._live: aiomqtt.Client | None = None    # connected, maybe still subscribing
        self._client: aiomqtt.Client | None = None  # connected and subscribed
        self._generation = 0
        self._stopped = False
        self._changed = asyncio.Condition()
        self.connects = self.reconnect_attempts = 0
        self.received = self.dropped = self.handled = self.handler_errors = self.unmatched = 0
        if heartbeat_interval is not None and heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_topic = f"fleetgate/heartbeat/{secrets.token_hex(12)}"
        self._last_heartbeat: float | None = None  # on the current connection
        self._held_back = 0  # _enqueue calls waiting for room in a full queue
        self.heartbeats = self.heartbeat_misses = self.resubscribes = 0
        self.heartbeat_reconnects = 0
        self.received_by_kind: dict[str, int] = {}  # by topic_kind(), for metrics
        self.published_by_kind: dict[str, int] = {}

    @property
    def connected(self) -> bool:
        return self._client is not None

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        aiomqtt.Wildcard(topic_filter)  # raises ValueError for a malformed filter
        if topic_filter.startswith("$share/"):
            raise ValueError("pass share_group to the bus instead of a $share/ filter")
        self._routes.append((topic_filter, handler))
        if topic_filter in self._filters:
            return
        self._filters.append(topic_filter)
        if self._live is not None:
            self._spawn(self._subscribe_now(self._live, topic_filter))

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._publish_timeout
        generation, failure = 0, None
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    generation, client = await self._connection_newer_than(generation)
            except TimeoutError:
                raise BusUnavailable(
                    f"no MQTT connection to {self.host}:{self.port} within "
                    f"{self._publish_timeout}s; nothing published to {topic}") from failure
            try:
                await client.publish(topic, payload, qos=qos, retain=retain,
                                     timeout=max(deadline - loop.time(), 0.001))
                count_kind(self.published_by_kind, topic)
                return
            except aiomqtt.MqttError as exc:
                failure = exc
                log.warning("publish to %s failed (%s); retrying on the next connection",
                            topic, exc)

    def backoff_ceiling(self, attempt: int) -> float:
        return min(self._backoff_cap, self._backoff_initial * 2 ** min(attempt, 62))

    async def run(self) -> None:
        """Connects, and reconnects after every failure, until stop() (which cancels it).
        A stopped bus stays stopped: run() then returns at once."""
        if self._task is not None:
            raise RuntimeError("AiomqttBus.run() is already running")
        if self._stopped:
            return
        self._task = asyncio.current_task()
        self._workers = [asyncio.create_task(self._consume(queue), name=f"mqtt-worker-{i}")
                         for i, queue in enumerate(self._queues)]
        try:
            attempt = 0
            while True:
                up_since = await self._connect_once()
                if up_since is not None and self._clock() - up_since >= self._stable_after:
                    attempt = 0
                delay = self._random(0.0, self.backoff_ceiling(attempt))
                attempt += 1
                self.reconnect_attempts += 1
                log.info("reconnecting to MQTT %s:%s in %.2fs (attempt %d)",
                         self.host, self.port, delay, attempt)
                await asyncio.sleep(delay)
        finally:
            self._task = None
            if not self._stopped:  # cancelled from outside: no time to drain
                await self._finish_workers(drain_timeout=0)

    async def stop(self, *, drain_timeout: float = 5.0) -> None:
        """Disconnects cleanly, lets workers drain for up to drain_timeout, then cancels them."""
        self._stopped = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        for pending in list(self._background):
            pending.cancel()
        await self._finish_workers(drain_timeout)

    async def _connect_once(self) -> float | None:
        """One connection's life; returns when it fails, with the time it came up (if it did)."""
        client = aiomqtt.Client(  # a fresh client: aiomqtt keeps stale state after a drop
            self.host, self.port, identifier=self.client_id, clean_session=False,
            username=self._username, password=self._password, keepalive=self._keepalive,
            protocol=aiomqtt.ProtocolVersion.V311, **self._client_buffer())
        up_since = None
        try:
            async with client:
                up_since = self._clock()
                self.connects += 1
                self._live = client
                try:
                    if self._filters:
                        await self._subscribe(client, list(self._filters))
                    await self._set_client(client)
                    log.info("connected to MQTT %s:%s as %s, %d filters subscribed",
                             self.host, self.port, self.client_id, len(self._filters))
                    await self._serve(client)
                finally:
                    self._live = None
                    self._last_heartbeat = None
                    await self._set_client(None)
        except (aiomqtt.MqttError, OSError) as exc:
            log.warning("MQTT connection to %s:%s %s: %s", self.host, self.port,
                        "lost" if up_since is not None else "failed", exc)
        return up_since

    async def _set_client(self, client: aiomqtt.Client | None) -> None:
        async with self._changed:
            self._client = client
            if client is not None:
                self._generation += 1
                self._changed.notify_all()

    async def _connection_newer_than(self, generation: int) -> tuple[int, aiomqtt.Client]:
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._client is not None and self._generation > generation)
            assert self._client is not None
            return self._generation, self._client

    def _wire_filter(self, topic_filter: str) -> str:
        group = self._share_group
        return topic_filter if group is None else f"$share/{group}/{topic_filter}"

    async def _subscribe(self, client: aiomqtt.Client, filters: list[str]) -> None:
        wire = [self._wire_filter(f) for f in filters]
        granted = await client.subscribe([(w, 1) for w in wire])
        for topic_filter, code in zip(wire, granted, strict=False):
            if (code if isinstance(code, int) else code.value) >= 0x80:
                log.error("broker refused the subscription to %s", topic_filter)

    async def _subscribe_now(self, client: aiomqtt.Client, topic_filter: str) -> None:
        try:
            await self._subscribe(client, [topic_filter])
        except aiomqtt.MqttError as exc:  # the next connection subscribes it again
            log.warning("subscribing to %s failed (%s); retrying on reconnect",
                        topic_filter, exc)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
