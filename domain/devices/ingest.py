"""Device → cloud messages: config, reported params and connectivity, applied idempotently.

The transport acknowledges a QoS 1 message before we handle it and brokers may redeliver or
duplicate it (SECURITY.md facts 3-4), so every handler here is safe to run twice: state only
moves when the message changes it, connectivity never goes back in time, and a byte-identical
message seen again within the dedupe window is dropped on our own key (node, topic, digest),
never on the packet id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain.devices.model import Node, NodeEvent, check_node_id
from domain.errors import DomainError
from domain.jsonshape import nesting_exceeds
from ports.repositories import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Clock

log = logging.getLogger("fleetgate.ingest")

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_JSON_DEPTH = 16
SUFFIXES = ("config", "params/local/init", "params/local", "connection")


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    accepted: bool
    reason: str = ""
    events: tuple[NodeEvent, ...] = ()


def parse_topic(topic: str) -> tuple[str, str] | None:
    """`node/<node_id>/<suffix>` → (node_id, suffix) for the suffixes ingested here."""
    if not topic.startswith("node/"):
        return None
    node_id, sep, suffix = topic[5:].partition("/")
    if not sep or suffix not in SUFFIXES:
        return None
    try:
        return check_node_id(node_id), suffix
    except DomainError:
        return None


def decode(payload: bytes) -> Any:
    """JSON payload, or raises ValueError for oversize, undecodable or too deep documents."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError("payload too large")
    value = json.loads(payload.decode("utf-8"))
    if nesting_exceeds(value, MAX_JSON_DEPTH):
        raise ValueError("payload nested too deep")
    return value


class RecentDigests:
    """Digests of recently ingested messages, for dropping redeliveries.

    Bounded in size and in time: a broker redelivers within seconds (on reconnect), while a
    device may legitimately send the same bytes again later (power on, off, on). Without a
    device sequence number in RainMaker payloads, an identical message inside the window is
    taken for a redelivery.
    """

    def __init__(self, size: int = 50_000, window_seconds: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._size, self._window, self._now = size, window_seconds, monotonic

    def seen_before(self, key: str) -> bool:
        now = self._now()
        while self._seen:  # forget what left the window (oldest first)
            oldest_key, at = next(iter(self._seen.items()))
            if now - at <= self._window:
                break
            del self._seen[oldest_key]
        if key in self._seen:
            return True
        self._seen[key] = now
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return False

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


class DeviceIngest:
    """Applies what devices report to their nodes and returns the events it caused."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock,
                 digests: RecentDigests | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        self._uow, self._clock = uow, clock
        self._digests = digests or RecentDigests()
        self._now_ms = now_ms or (lambda: int(self._clock.now().timestamp() * 1000))

    async def handle(self, topic: str, payload: bytes) -> IngestResult:
        """One device message. Malformed input is logged and dropped, never raised: the
        consumer must keep running whatever a device sends."""
        parsed = parse_topic(topic)
        if parsed is None:
            return self._drop(topic, "unknown topic")
        node_id, suffix = parsed
        key = f"{node_id}|{suffix}|{hashlib.sha256(payload).hexdigest()}"
        if suffix != "connection" and self._digests.seen_before(key):
            return IngestResult(accepted=False, reason="duplicate")
        try:
            body = decode(payload)
            result = await self._apply(node_id, suffix, body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._digests.forget(key)
            return self._drop(topic, f"malformed payload: {exc}")
        except DomainError as exc:
            self._digests.forget(key)
            return self._drop(topic, exc.message)
        if not result.accepted:
            self._digests.forget(key)
        return result

    def _drop(self, topic: str, reason: str) -> IngestResult:
        log.warning("dropped device message on %s: %s", topic[:200], reason)
        return IngestResult(accepted=False, reason=reason)

    async def _apply(self, node_id: str, suffix: str, body: Any) -> IngestResult:
        """Read, change, write only if nobody changed the shadow meanwhile (a user's desired
        params, say); otherwise read again: no lost update either way."""
        for _attempt in range(5):
            now = self._clock.now()
            async with self._uow(SYSTEM_SCOPE) as uow:
                node = await uow.nodes.get(node_id)
                if node is None or not node.active:
                    return self._drop(f"node/{node_id}/{suffix}", "unknown or inactive node")
                read_version = node.params_version
                if not self._change(node, suffix, body, now):
                    return IngestResult(accepted=True, reason="no change")
                events, node.events = tuple(node.events), []
                if await uow.nodes.save_if_version(node, read_version):
                    await uow.commit()
                    return IngestResult(accepted=True, events=events)
        return self._drop(f"node/{node_id}/{suffix}", "kept losing to concurrent writers")

    def _change(self, node: Node, suffix: str, body: Any, now: Any) -> bool:
        if suffix == "config":
            return node.apply_config(body, now)
        if suffix == "params/local/init":
            return node.apply_reported(body, now, full=True)
        if suffix == "params/local":
            return node.apply_reported(body, now)
        if not isinstance(body, dict) or not isinstance(body.get("connected"), bool):
            raise ValueError("connection payload needs a boolean 'connected'")
        stamp = body.get("timestamp", self._now_ms())
        if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0:
            raise ValueError("connection timestamp must be epoch milliseconds")
        return node.apply_connection(body["connected"], stamp, now)
