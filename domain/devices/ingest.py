"""Device → cloud messages: config, reported params and connectivity, applied idempotently
and in batches.

The transport acknowledges a QoS 1 message before we handle it and brokers may redeliver or
duplicate it (SECURITY.md facts 3-4), so every handler here is safe to run twice: state only
moves when the message changes it, connectivity never goes back in time, and a byte-identical
message seen again within the dedupe window is dropped on our own key (node, topic, digest),
never on the packet id.

Batching (what makes ingest keep up with the broker): a batch of messages is grouped by node;
each node is read once, its messages are applied in arrival order in memory by the Node
methods, and every changed node is written in one transaction together with its params
history, with one optimistic version check per node. A node whose version moved meanwhile (a
user set desired params, say) is read again and its messages applied again; the others are
not redone.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.devices.model import (
    PARAMS_HISTORY_VERSIONS,
    Node,
    NodeEvent,
    ParamsHistoryEntry,
    check_node_id,
)
from domain.devices.reactions import NODE_SAID_CONNECTED
from domain.devices.storable import unstorable
from domain.errors import DomainError
from domain.jsonshape import decode_device_message
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Clock

log = logging.getLogger("fleetgate.ingest")

SUFFIXES = ("config", "params/local/init", "params/local", "connection")
ATTEMPTS = 5
HISTORY_PRUNE_EVERY = 100
"""A node's history is pruned (to its last PARAMS_HISTORY_VERSIONS versions) each time its
version passes a multiple of this, so it holds at most the sum of the two entries."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    accepted: bool
    reason: str = ""
    events: tuple[NodeEvent, ...] = ()
    refused: bool = False
    """Refused before batching: the payload holds what the database cannot store."""
    said_connected: NodeEvent | None = None
    """A connection message saying connected, accepted whether or not it changed the node
    (it came back before its last will, or across a gateway restart): not published, it is
    what reactions to a node being back (an OTA offer) follow (reactions.NODE_SAID_CONNECTED)."""


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


def says_connected(topic: str, payload: bytes) -> bool:
    """A node/<id>/connection message saying {"connected": true}."""
    if not topic.endswith("/connection") or topic.count("/") != 2:
        return False
    try:
        body = decode_device_message(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(body, dict) and body.get("connected") is True


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


@dataclass(slots=True)
class _Pending:
    """A decoded message waiting for its node, and what applying it gave."""

    index: int
    topic: str
    node_id: str
    suffix: str
    body: Any
    key: str
    result: IngestResult | None = None


def _back(node: Node, pending: _Pending, now: datetime) -> NodeEvent | None:
    """The node said it is connected (an accepted connection message)."""
    if pending.suffix != "connection" or pending.body.get("connected") is not True:
        return None
    return NodeEvent(kind=NODE_SAID_CONNECTED, node_id=node.id, org_id=node.org_id, at=now)


@dataclass(slots=True)
class _Applied:
    """One node after its messages were applied in memory, ready to be written."""

    node: Node
    read_version: int
    history: list[ParamsHistoryEntry] = field(default_factory=list)


class DeviceIngest:
    """Applies what devices report to their nodes and returns the events it caused."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock,
                 digests: RecentDigests | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        self._uow, self._clock = uow, clock
        self._digests = digests or RecentDigests()
        self._now_ms = now_ms or (lambda: int(self._clock.now().timestamp() * 1000))

    async def probe(self, node_id: str) -> None:
        """Reads the node: raises when the database does not answer (the gateway asks this
        before dropping a message the database refused)."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            await uow.nodes.get(node_id)

    async def handle(self, topic: str, payload: bytes) -> IngestResult:
        """One device message (a batch of one)."""
        return (await self.handle_batch([(topic, payload)]))[0]

    async def handle_batch(self, messages: Sequence[tuple[str, bytes]]) -> list[IngestResult]:
        """Device messages (topic, payload) in arrival order; one result per message, in the
        same order, its events to publish once this returns (the changes are committed).

        - malformed input, unknown topics and unknown or inactive nodes are logged and
          dropped, never raised: the consumer must keep running whatever a device sends;
        - a payload the database could not store (U+0000, a lone surrogate, an integer
          beyond 64 bits, NaN or infinity, anywhere in it: storable.unstorable) is refused
          before it joins the batch, so it cannot fail the others' write;
        - a message already seen within the dedupe window is dropped as a duplicate;
        - a node's messages are applied in arrival order; one that changes nothing (a
          redelivery, stale connectivity) is accepted with reason "no change";
        - each reported params change is stored in the node's params history, in the same
          transaction as the node, and the history is kept bounded;
        - a node written by someone else meanwhile is read and applied again (up to
          ATTEMPTS times), so neither a user's desired params nor a report is lost.

        Raises only when the database itself keeps failing; nothing was then committed.
        """
        results: list[IngestResult | None] = [None] * len(messages)
        by_node: dict[str, list[_Pending]] = {}
        for index, (topic, payload) in enumerate(messages):
            pending = self._admit(index, topic, payload)
            if isinstance(pending, IngestResult):
                results[index] = pending
            else:
                by_node.setdefault(pending.node_id, []).append(pending)
        for attempt in range(ATTEMPTS):
            if not by_node:
                break
            try:
                by_node = await self._attempt(by_node, results, last=attempt == ATTEMPTS - 1)
            except BaseException:
                # nothing of this attempt was committed: a retry must not take these
                # messages for redeliveries
                for p in (p for pending in by_node.values() for p in pending):
                    self._digests.forget(p.key)
                raise
        return [r if r is not None else IngestResult(accepted=False, reason="not handled")
                for r in results]

    def _admit(self, index: int, topic: str, payload: bytes) -> _Pending | IngestResult:
        parsed = parse_topic(topic)
        if parsed is None:
            return self._drop(topic, "unknown topic")
        node_id, suffix = parsed
        key = f"{node_id}|{suffix}|{hashlib.sha256(payload).hexdigest()}"
        if suffix != "connection" and self._digests.seen_before(key):
            return IngestResult(accepted=False, reason="duplicate")
        try:
            body = decode_device_message(payload)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._digests.forget(key)
            return self._drop(topic, f"malformed payload: {exc}")
        problem = unstorable(body)
        if problem is not None:
            self._digests.forget(key)
            dropped = self._drop(topic, f"refused payload: {problem}")
            return IngestResult(accepted=False, reason=dropped.reason, refused=True)
        return _Pending(index, topic, node_id, suffix, body, key)

    async def _attempt(self, by_node: dict[str, list[_Pending]],
                       results: list[IngestResult | None], *, last: bool
                       ) -> dict[str, list[_Pending]]:
        """Reads the nodes, applies their messages, writes the changed ones; returns the
        nodes that lost to a concurrent writer (to be tried again)."""
        now = self._clock.now()
        async with self._uow(SYSTEM_SCOPE) as uow:
            nodes = {n.id: n for n in await uow.nodes.get_many(list(by_node))}
        applied: dict[str, _Applied] = {}
        for node_id, pending in by_node.items():
            node = nodes.get(node_id)
            if node is None or not node.active:
                for p in pending:
                    self._finish(p, self._drop(p.topic, "unknown or inactive node"))
                continue
            changed = self._apply_all(node, pending, now)
            if changed is not None:
                applied[node_id] = changed
        lost = await self._write(applied) if applied else []
        for p in (p for pending in by_node.values() for p in pending):
            if p.node_id not in lost and p.result is not None:
                results[p.index] = p.result
        retry = {node_id: by_node[node_id] for node_id in lost}
        if last:
            for p in (p for pending in retry.values() for p in pending):
                results[p.index] = self._drop(p.topic, "kept losing to concurrent writers")
                self._digests.forget(p.key)
            return {}
        for p in (p for pending in retry.values() for p in pending):
            p.result = None
        return retry

    def _apply_all(self, node: Node, pending: list[_Pending], now: datetime) -> _Applied | None:
        """Applies a node's messages in order; returns it when one of them changed it."""
        applied = _Applied(node=node, read_version=node.params_version)
        node.events = []  # only what these messages cause
        changed = False
        for p in pending:
            try:
                if not self._change(node, p.suffix, p.body, now):
                    self._finish(p, IngestResult(accepted=True, reason="no change",
                                                 said_connected=_back(node, p, now)))
                    continue
            except (ValueError, RecursionError) as exc:
                self._finish(p, self._drop(p.topic, f"malformed payload: {exc}"))
                continue
            except DomainError as exc:
                self._finish(p, self._drop(p.topic, exc.message))
                continue
            changed = True
            events, node.events = tuple(node.events), []
            p.result = IngestResult(accepted=True, events=events,
                                    said_connected=_back(node, p, now))
            if p.suffix.startswith("params/"):
                applied.history.append(ParamsHistoryEntry(
                    org_id=node.org_id, node_id=node.id, version=node.params_version, at=now,
                    params=p.body))
        return applied if changed else None

    def _finish(self, pending: _Pending, result: IngestResult) -> None:
        if not result.accepted:
            self._digests.forget(pending.key)
        pending.result = result

    async def _write(self, applied: dict[str, _Applied]) -> set[str]:
        """One transaction: every changed node (version-checked) and its history."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            lost = set(await uow.nodes.save_many_if_version(
                [(a.node, a.read_version) for a in applied.values()]))
            won = [a for node_id, a in applied.items() if node_id not in lost]
            await uow.params_history.add_many([h for a in won for h in a.history])
            prune = {a.node.id: a.node.params_version - PARAMS_HISTORY_VERSIONS + 1
                     for a in won if a.history and a.node.params_version // HISTORY_PRUNE_EVERY
                     != a.read_version // HISTORY_PRUNE_EVERY}
            if prune:
                await uow.params_history.prune(prune)
            await uow.commit()
        return lost

    def _drop(self, topic: str, reason: str) -> IngestResult:
        log.warning("dropped device message on %s: %s", topic[:200], reason)
        return IngestResult(accepted=False, reason=reason)

    def _change(self, node: Node, suffix: str, body: Any, now: datetime) -> bool:
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
