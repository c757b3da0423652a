"""The device-state ingest pipeline: a bounded inbox, one consumer writing batches through
DeviceIngest with retry and split, and the events they caused published, then reacted to.

Bus → bounded inbox → one consumer that drains whatever has accumulated (up to BATCH_MAX
messages) and hands it to DeviceIngest.handle_batch, which writes all the changed nodes in one
transaction; events are published after that commit. Nothing is dropped for being too much: a
full inbox makes the bus worker wait, a waiting worker fills the bus queue, and a full bus
queue stops the bus reading from aiomqtt (the bus runs with overflow="wait"); only aiomqtt's
own buffer behind that is bounded with counted, logged drops. So one consumer keeps every
node's messages in arrival order, and under load batches grow by themselves (what arrives
while one batch is written is the next batch); a small batch waits a few ms once for company.

A batch holds every organization's reports, so one message must not fail it for all: ingest
refuses beforehand what the database cannot store, and a batch that still fails to write is
tried once more, then node by node, then (for a node that still fails) message by message in
arrival order, so a message the database refuses while it answers is dropped alone (counted
in poison_dropped). Only when the database stops answering is the rest dropped as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from adapters.events import InProcessEvents
from domain.devices.ingest import DeviceIngest, IngestResult, parse_topic
from domain.devices.reactions import Reactions
from fleetgate.queues import drain_inbox
from ports.messaging import InboundMessage

log = logging.getLogger("fleetgate.devices")

INBOX_SIZE = 10_000
BATCH_MAX = 500
BATCH_SMALL, BATCH_LINGER_SECONDS = 50, 0.005
"""A batch smaller than BATCH_SMALL waits BATCH_LINGER_SECONDS once for more messages: a
few ms of latency that saves transactions when traffic is steady but not saturating."""
BATCH_RETRIES = (0.2, 1.0, 3.0)
"""When a batch failed to write (nothing was committed): the pause before trying it whole
once more, then those between asking a database that stopped answering whether it is back,
before the rest is dropped."""
POISON_LOGGED_PER_BATCH = 5
"""Messages dropped alone that are logged one by one per batch (then one summary line)."""


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


class IngestPipeline:
    """Device state messages from the bus into DeviceIngest, in arrival order and in batches,
    with the counters the metrics and the ingest benchmark read."""

    def __init__(self, ingest: DeviceIngest, events: InProcessEvents,
                 reactions: Reactions) -> None:
        self._ingest, self._events, self._reactions = ingest, events, reactions
        self.inbox: asyncio.Queue[InboundMessage] = asyncio.Queue(maxsize=INBOX_SIZE)
        self.consumer: asyncio.Task[None] | None = None
        self.batch_retries: tuple[float, ...] = BATCH_RETRIES
        self.batch_linger_seconds = BATCH_LINGER_SECONDS
        self.batches = self.ingested = self.dropped = 0
        self.batch_observer: Callable[[float], None] | None = None  # seconds per written batch
        self.refused = 0  # refused before batching: payloads the database could not store
        self.split_batches = 0  # batches that failed whole and were written node by node
        self.poison_dropped = 0  # messages the database refused, dropped alone

    async def accept(self, message: InboundMessage) -> None:
        """Bus handler for device state topics: queue for the batch consumer, waiting (and
        so holding the bus back) while the inbox is full."""
        await self.inbox.put(message)

    def start(self) -> None:
        self.consumer = asyncio.create_task(self._consume(), name="device-ingest")

    async def drain(self, *, within: float) -> None:
        """Lets the consumer finish what is queued, for `within` seconds; counts what is
        left as dropped."""
        left = await drain_inbox(self.consumer, self.inbox, within=within)
        if left:
            self.dropped += left
            log.warning("dropped %d device messages still queued at stop", left)

    def describe(self) -> str:
        return (f"ingested {self.ingested} in {self.batches} batches, dropped {self.dropped}, "
                f"refused {self.refused}, poison dropped {self.poison_dropped}")

    async def _consume(self) -> None:
        while True:
            batch = [await self.inbox.get()]
            self._take_queued(batch)
            if len(batch) < BATCH_SMALL:  # a moment for more: fewer, fuller transactions
                await asyncio.sleep(self.batch_linger_seconds)
                self._take_queued(batch)
            try:
                await self._ingest_batch(batch)
            except asyncio.CancelledError:
                self.dropped += len(batch)
                log.warning("dropped %d device messages being ingested at stop", len(batch))
                raise
            finally:
                for _ in batch:
                    self.inbox.task_done()

    def _take_queued(self, batch: list[InboundMessage]) -> None:
        while len(batch) < BATCH_MAX and not self.inbox.empty():
            batch.append(self.inbox.get_nowait())

    async def _ingest_batch(self, batch: list[InboundMessage]) -> None:
        failure = await self._write(batch)
        if failure is None:
            return
        pause = self.batch_retries[0] if self.batch_retries else 0.0
        log.warning("ingest batch of %d failed (%s); trying again in %.1fs",
                    len(batch), _brief(failure), pause)
        await asyncio.sleep(pause)
        if await self._write(batch) is None:
            return
        self.split_batches += 1
        groups: dict[str, list[InboundMessage]] = {}
        for message in batch:  # a node's messages keep their order
            parsed = parse_topic(message.topic)
            groups.setdefault(parsed[0] if parsed else message.topic, []).append(message)
        log.warning("ingest batch of %d failed twice: writing it node by node (%d nodes)",
                    len(batch), len(groups))
        poisoned: list[str] = []
        pending = list(groups.values())
        for index, group in enumerate(pending):
            left = await self._write_node(group, poisoned)
            if left:
                left += sum(len(g) for g in pending[index + 1:])
                self.dropped += left
                log.error("dropped %d device messages: the database stopped answering "
                          "(%d dropped so far)", left, self.dropped)
                break
        if len(poisoned) > POISON_LOGGED_PER_BATCH:
            log.error("dropped %d more device messages of that batch alone (the database "
                      "refused them)", len(poisoned) - POISON_LOGGED_PER_BATCH)

    async def _write_node(self, group: list[InboundMessage], poisoned: list[str]) -> int:
        """One node's messages of a failed batch: together, else one by one in order, a
        message that fails twice while the database answers dropped alone. Returns how many
        were left unwritten because the database stopped answering (0: all handled)."""
        if len(group) > 1:
            if await self._write(group) is None:
                return 0
            if not await self._database_answers(group[0]):
                return len(group)
            for index, message in enumerate(group):
                if await self._write_node([message], poisoned):
                    return len(group) - index
            return 0
        message, failures = group[0], []
        for _ in range(2):  # once more: what failed may have been a passing hiccup
            failure = await self._write(group)
            if failure is None:
                return 0
            if not await self._database_answers(message):
                return 1
            failures.append(failure)
        failure = failures[-1]
        self.poison_dropped += 1
        poisoned.append(message.topic)
        if len(poisoned) <= POISON_LOGGED_PER_BATCH:
            log.error("dropped a device message on %s alone: the database refused it (%s); "
                      "%d dropped so far", message.topic[:200], _brief(failure),
                      self.poison_dropped, exc_info=failure)
        return 0

    async def _database_answers(self, message: InboundMessage) -> bool:
        """Whether the database answers a read of the message's node, now or after the
        pauses of batch_retries: a message fails alone only while the database answers."""
        node_id = message.topic.split("/")[1] if message.topic.count("/") >= 2 else ""
        for pause in (0.0, *self.batch_retries[1:]):
            if pause:
                log.warning("the database does not answer; asking again in %.1fs", pause)
                await asyncio.sleep(pause)
            try:
                await self._ingest.probe(node_id[:64])
                return True
            except Exception as exc:
                log.warning("the database does not answer a read: %s", _brief(exc))
        return False

    async def _write(self, batch: list[InboundMessage]) -> BaseException | None:
        """Ingests the messages and publishes what they caused; the failure, when nothing
        was committed."""
        started = asyncio.get_running_loop().time()
        try:
            results = await self._ingest.handle_batch([(m.topic, m.payload) for m in batch])
        except Exception as exc:
            return exc
        if self.batch_observer is not None:  # the ingest batch latency metric
            self.batch_observer(asyncio.get_running_loop().time() - started)
        self.batches += 1
        self.ingested += len(batch)
        self.refused += sum(1 for r in results if r.refused)
        await self._publish(results)
        return None

    async def _publish(self, results: list[IngestResult]) -> None:
        """Each message's events published, each followed by its reactions; then, when the
        message said the node is connected (also when that changed nothing), those."""
        for result in results:
            for event in result.events:
                await self._events.publish(event)
                await self._reactions.react(event)
            if result.said_connected is not None:
                await self._reactions.react(result.said_connected)
