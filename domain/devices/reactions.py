"""What follows a device event: a table of event kind → reactions, the seam features that
act after a device reports (OTA offers, time series, automations, alerts) register on.

Ingest returns the events a batch caused once it is committed; the gateway publishes each
one, then runs its reactions in registration order. A reaction that fails is logged and
never stops ingest nor the reactions after it; one that is slow is the registrant's to put
in the background (the gateway does for what it registers).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from domain.devices.model import NodeEvent
from ports.commands import NodeCommands
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory

log = logging.getLogger("fleetgate.reactions")

NODE_CONNECTED = "node_connected"
NODE_DISCONNECTED = "node_disconnected"
NODE_CONFIG_CHANGED = "node_config_changed"
NODE_PARAMS_CHANGED = "node_params_changed"
"""Reported params changed the node (params/local, params/local/init)."""
NODE_SAID_CONNECTED = "node_said_connected"
"""Not published: an accepted connection message saying connected, also when it changed
nothing (the node was still marked connected: it came back before its last will, or across
a gateway restart). What must follow a node being back reacts to this one."""
KINDS = (NODE_CONNECTED, NODE_DISCONNECTED, NODE_CONFIG_CHANGED, NODE_PARAMS_CHANGED,
         NODE_SAID_CONNECTED)

Reaction = Callable[[NodeEvent], Awaitable[None]]


class Reactions:
    """Event kind → the reactions registered for it, run in registration order."""

    def __init__(self) -> None:
        self._table: dict[str, list[Reaction]] = {}

    def on(self, kind: str, reaction: Reaction) -> None:
        """Registers `reaction` for the events of `kind` (one of KINDS)."""
        if kind not in KINDS:
            raise ValueError(f"no device event {kind!r}")
        self._table.setdefault(kind, []).append(reaction)

    def of(self, kind: str) -> tuple[Reaction, ...]:
        return tuple(self._table.get(kind, ()))

    async def react(self, event: NodeEvent) -> int:
        """Runs the reactions to `event`; a failure is logged, the others still run.
        Returns how many failed."""
        failed = 0
        for reaction in self._table.get(event.kind, ()):
            try:
                await reaction(event)
            except Exception:  # one reaction's failure is not ingest's
                failed += 1
                log.exception("reaction %s to %s of node %s failed",
                              getattr(reaction, "__qualname__", reaction), event.kind,
                              event.node_id[:64])
        return failed


class PendingParams:
    """Desired params set while a node was away, delivered when it is back."""

    def __init__(self, *, uow: UnitOfWorkFactory, commands: NodeCommands) -> None:
        self._uow, self._commands = uow, commands

    async def resend(self, event: NodeEvent) -> None:
        """On node_connected: sends the node the desired params it has not reported yet.

        - nothing is sent when none is pending (or the node is gone);
        - a send that fails is not retried here: the node re-reports, the user may set
          again."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            node = await uow.nodes.get(event.node_id)
        pending = node.pending_desired() if node is not None else {}
        if pending:
            await self._commands.send_params(event.node_id, pending)
