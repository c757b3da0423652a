"""Live updates: which nodes' events a caller may receive, and a role lookup for many nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.access.model import Caller, requires
from domain.access.permissions import USER_NODES
from domain.devices.model import NodeEvent, check_node_id
from domain.errors import NotFound, ValidationFailed
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer, Clock

MAX_WATCHED = 100
RECHECK_EVERY = timedelta(seconds=15)


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchScope:
    """The nodes whose events one subscriber receives, as memberships stood at checked_at."""

    org_id: str
    requested: frozenset[str] | None  # None: every node the caller reaches
    visible: frozenset[str]
    checked_at: datetime

    def admits(self, event: NodeEvent) -> bool:
        return event.org_id == self.org_id and event.node_id in self.visible


def _check_ids(node_ids: object) -> frozenset[str] | None:
    if node_ids is None:
        return None
    if not isinstance(node_ids, list | tuple) or not node_ids or len(node_ids) > MAX_WATCHED:
        raise ValidationFailed(f"nodeIds must list 1..{MAX_WATCHED} node ids",
                               reason="invalid_node_ids")
    return frozenset(check_node_id(n) for n in node_ids)


class NodeWatch:
    """Decides whose live node events a caller receives, for as long as it listens."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, authorizer: Authorizer,
                 recheck_every: timedelta = RECHECK_EVERY) -> None:
        self._uow, self._clock, self.authorizer = uow, clock, authorizer
        self._recheck_every = recheck_every

    async def _reached(self, caller: Caller) -> tuple[str, dict[str, str]]:
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            memberships = await uow.memberships.for_user(user_id)
        return principal.org_id, {m.node_id: m.role for m in memberships}

    @requires(USER_NODES, "GET")
    async def watch_nodes(self, caller: Caller, *, node_ids: object = None) -> WatchScope:
        """The scope of a new subscription.

        - node_ids (1..100) must all be nodes the caller reaches: an unknown, foreign or
          unshared one is NOT_FOUND, as everywhere, so ids cannot be probed;
        - no node_ids watches every node the caller reaches;
        - events of other organizations and of nodes outside the scope are never admitted.
        """
        requested = _check_ids(node_ids)
        org_id, roles = await self._reached(caller)
        if requested is not None and not requested <= roles.keys():
            raise NotFound("Node does not exist or does not belong to the user",
                           reason="node_not_found")
        visible = requested if requested is not None else frozenset(roles)
        return WatchScope(org_id=org_id, requested=requested, visible=visible,
                          checked_at=self._clock.now())

    @requires(USER_NODES, "GET")
    async def refresh(self, caller: Caller, *, scope: WatchScope) -> WatchScope:
        """The scope as memberships stand now, read again at most every recheck period.

        - a node unclaimed or unshared since drops out (silently: the stream goes on);
        - a node claimed since joins a scope that watches every node the caller reaches.
        """
        now = self._clock.now()
        if now - scope.checked_at < self._recheck_every:
            return scope
        org_id, roles = await self._reached(caller)
        reached = frozenset(roles)
        visible = reached if scope.requested is None else scope.requested & reached
        return WatchScope(org_id=org_id, requested=scope.requested, visible=visible,
                          checked_at=now)

    @requires(USER_NODES, "GET")
    async def roles(self, caller: Caller, *, node_ids: Sequence[str]) -> dict[str, str]:
        """The caller's role (primary/secondary) on each of these nodes it reaches, in one
        query; nodes it does not reach are absent."""
        _, roles = await self._reached(caller)
        return {n: roles[n] for n in node_ids if n in roles}
