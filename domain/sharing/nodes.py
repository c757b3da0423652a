"""Node sharing: a primary offers nodes to another user of the organization (as secondary,
as primary, or transferring its own ownership); the receiver accepts or declines; primaries
remove others' access and secondaries leave. Access itself stays in NodeMembership, read
from the database on every request, so unsharing takes effect on the very next call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.access.model import Caller, requires
from domain.access.permissions import NODE_SHARING, NODE_SHARING_REQUESTS
from domain.devices.model import PRIMARY, SECONDARY, NodeEvent, check_node_id
from domain.errors import Forbidden, ValidationFailed
from domain.identifiers import is_record_id
from domain.sharing.engine import (
    MAX_REQUESTS_PAGE,
    NODE_WORDS,
    RequestPage,
    SharingEngine,
    upgrade_needed,
    visible_people,
)
from domain.sharing.model import (
    DIRECT_SOURCE,
    MAX_SHARED_NODES,
    NODE_KIND,
    NodeMembership,
    SharingRequest,
    strongest_per_user,
)
from ports.reach import ReachableNodes
from ports.repositories.uow import UnitOfWork

NODE_SOURCE = DIRECT_SOURCE
SHARED_EVENT = "user_node_sharing_add"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSharingView:
    """Who shares a node, as the caller may see it (a secondary sees no other secondaries)."""

    node_id: str
    primary: list[str]
    secondary: list[str]
    sources: list[str]
    caller_role: str


def check_node_list(nodes: object) -> list[str]:
    if not isinstance(nodes, list) or not nodes:
        raise ValidationFailed("Please specify at least one node", reason="sharing_no_nodes")
    if len(nodes) > MAX_SHARED_NODES:
        raise ValidationFailed(f"Node list too long. It can have maximum of {MAX_SHARED_NODES}"
                               " nodes.", reason="sharing_too_many_nodes")
    return list(dict.fromkeys(check_node_id(n) for n in nodes))


async def _require_primary(uow: UnitOfWork, reach: ReachableNodes, node_ids: Sequence[str],
                           user_id: str) -> None:
    """Every node must be one the user reaches (else NOT_FOUND, like an unknown one) and
    the user its primary."""
    for node_id in node_ids:
        await reach.reachable_node(uow, node_id, user_id)
    for node_id in node_ids:
        # primary through a shared group does not let one share the node itself
        membership = await uow.memberships.get_direct(node_id, user_id)
        if membership is None or membership.role != PRIMARY:
            raise Forbidden("Error, User should be primary owner of all nodes in the request",
                            reason="sharing_not_primary")


async def _set_role(uow: UnitOfWork, node_id: str, org_id: str, user_id: str, role: str,
                    now: datetime) -> None:
    current = await uow.memberships.get_direct(node_id, user_id)
    if not upgrade_needed(current.role if current is not None else None, role):
        return
    if current is not None:
        await uow.memberships.remove(node_id, user_id)
    await uow.memberships.add(NodeMembership(node_id=node_id, org_id=org_id, user_id=user_id,
                                             role=role, created_at=now, source=NODE_SOURCE))


class NodeSharing(SharingEngine):
    """Sharing requests and the sharing of nodes between users of one organization."""

    kind, words = NODE_KIND, NODE_WORDS

    def __init__(self, *, reach: ReachableNodes, **engine: Any) -> None:
        super().__init__(**engine)
        self._reach = reach

    @requires(NODE_SHARING_REQUESTS, "PUT")
    async def share_nodes(self, caller: Caller, *, nodes: object, user_name: object,
                          primary: object = False, metadata: object = None,
                          transfer: object = False, new_role: object = None
                          ) -> SharingRequest:
        """Creates a pending request offering nodes to another user.

        - only a primary of every listed node may share (a node the caller does not reach is
          NOT_FOUND; one it is secondary of is FORBIDDEN); 1..100 nodes;
        - the receiver is a user of the caller's organization (else the same NOT_FOUND for an
          unknown user and a foreign one), never the caller;
        - transfer gives the receiver primary and the sender new_role (secondary or none,
          the default) on acceptance; new_role needs transfer;
        - nothing is written when any rule fails; the request expires after the TTL;
        - a receiver who already reaches every node needs no approval: the sharing (or role
          update) is applied at once and the request is returned accepted.
        """
        return await self._offer(caller, nodes, check_node_list, user_name=user_name,
                                 primary=primary, metadata=metadata, transfer=transfer,
                                 new_role=new_role)

    async def _check_offer(self, uow: UnitOfWork, item_ids: list[str], user_id: str, *,
                           transfer: bool) -> Any:
        await _require_primary(uow, self._reach, item_ids, user_id)
        return None

    async def _reached(self, uow: UnitOfWork, request: SharingRequest) -> bool:
        # RainMaker: a receiver who reaches every node already needs no approval
        return all([await uow.memberships.get(n, request.to_user_id)
                    for n in request.node_ids])

    @requires(NODE_SHARING_REQUESTS, "PUT")
    async def respond(self, caller: Caller, *, request_id: object, accept: object
                      ) -> SharingRequest:
        """The receiver accepts or declines a pending request.

        - only the receiver (anyone else: NOT_FOUND); a request no longer pending (accepted,
          declined, cancelled, expired) is VALIDATION;
        - accepting adds the receiver as secondary (or primary); never demotes a primary;
        - with transfer the receiver becomes primary and the sender keeps new_role (or
          nothing); the sender must still be primary of every node, else nothing changes;
        - user_node_sharing_add is published per node once committed.
        """
        return await self._respond(caller, request_id, accept)

    async def _announce(self, request: SharingRequest, user_name: str, now: datetime,
                        offered: Any) -> None:
        for node_id in request.node_ids:
            await self._events.publish(NodeEvent(
                kind=SHARED_EVENT, node_id=node_id, org_id=request.org_id, at=now,
                data={"user_name": user_name, "role": request.role, "request_id": request.id,
                      "transfer": request.transfer}))

    async def _apply(self, uow: UnitOfWork, request: SharingRequest, now: datetime) -> None:
        for node_id in request.node_ids:
            sender = await uow.memberships.get_direct(node_id, request.from_user_id)
            if sender is None or sender.role != PRIMARY:
                raise Forbidden("The sender is no longer primary of every node in the "
                                "request", reason="sharing_not_primary")
        for node_id in request.node_ids:
            await _set_role(uow, node_id, request.org_id, request.to_user_id, request.role,
                            now)
            if request.transfer:
                await uow.memberships.remove(node_id, request.from_user_id)
                if request.new_role == SECONDARY:
                    await _set_role(uow, node_id, request.org_id, request.from_user_id,
                                    SECONDARY, now)

    @requires(NODE_SHARING_REQUESTS, "DELETE")
    async def cancel_request(self, caller: Caller, *, request_id: object) -> SharingRequest:
        """The sender withdraws a pending request.

        - only the sender (anyone else: NOT_FOUND); a declined request cannot be removed,
          nor one accepted, cancelled or expired (VALIDATION).
        """
        return await self._cancel(caller, request_id)

    @requires(NODE_SHARING_REQUESTS, "GET")
    async def list_requests(self, caller: Caller, *, sent: bool = False,
                            request_id: object = None, start_request_id: object = None,
                            num_records: int = MAX_REQUESTS_PAGE) -> RequestPage:
        """Node sharing requests the caller sent (sent=True) or received, ordered by id, a
        page at a time (1..10), or the one request_id names (else NOT_FOUND); statuses as of
        now (a pending request past its expiry reads expired)."""
        return await self._page(caller, sent=sent, request_id=request_id,
                                start_request_id=start_request_id, num_records=num_records)

    @requires(NODE_SHARING, "DELETE")
    async def unshare_nodes(self, caller: Caller, *, nodes: object, user_name: object) -> None:
        """Removes a user's access to nodes.

        - a primary removes any other user's access; a secondary may only remove itself
          (leave), and a primary cannot remove itself here (user-node mapping does that);
        - nodes the caller does not reach are NOT_FOUND; a user without access to one of
          them is VALIDATION; nothing is removed unless every node passes;
        - effective at once: access is read from the database on every request.
        """
        principal, user_id = caller.require_user()
        node_ids = check_node_list(nodes)
        async with self._uow(principal.org_id) as uow:
            for node_id in node_ids:
                await self._reach.reachable_node(uow, node_id, user_id)
            target_id = await self._target(uow, user_name, user_id)
            for node_id in node_ids:
                await _check_removable(uow, node_id, user_id, target_id)
            for node_id in node_ids:
                await uow.memberships.remove(node_id, target_id)
                if not await uow.memberships.for_node(node_id):
                    await self._reach.forget_node_data(uow, node_id)
            await uow.commit()

    @requires(NODE_SHARING, "GET")
    async def node_sharing(self, caller: Caller, *, node_id: object = None,
                           among: Sequence[str] | None = None) -> list[NodeSharingView]:
        """Who shares the caller's nodes (or one node): primaries' and secondaries' user
        names and the sources of the caller's access.

        - a secondary sees the primaries, never the other secondaries;
        - a node the caller does not reach is NOT_FOUND; two queries for all nodes;
        - among: only these nodes (those the caller does not reach are left out), for
          batching one view per node in a single look-up.
        """
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            if node_id is not None:
                node = await self._reach.reachable_node(uow, node_id, user_id)
                node_ids = [node.id]
            elif among is not None:
                node_ids = [n for n in dict.fromkeys(among) if is_record_id(n)]
            else:
                node_ids = [m.node_id for m in await uow.memberships.for_user(user_id)]
            members = await uow.memberships.members_of_many(node_ids) if node_ids else []
        return sharing_views(members, user_id)


def sharing_views(members: Sequence[tuple[NodeMembership, str]], user_id: str
                  ) -> list[NodeSharingView]:
    """The visibility rule, on the members of the nodes the user reaches (each user counted
    once per node, with its strongest access; the caller's sources are all of its own)."""
    by_node: dict[str, list[tuple[NodeMembership, str]]] = {}
    for membership, name in members:
        by_node.setdefault(membership.node_id, []).append((membership, name))
    views = []
    for node_id in sorted(by_node):
        entries = strongest_per_user(by_node[node_id])
        mine = next((m for m, _ in entries if m.user_id == user_id), None)
        if mine is None:
            continue
        primaries, secondaries = visible_people(((m.role, name) for m, name in entries),
                                                mine.role)
        sources = sorted({m.source for m, _ in by_node[node_id] if m.user_id == user_id})
        views.append(NodeSharingView(node_id=node_id, primary=primaries,
                                     secondary=secondaries, sources=sources,
                                     caller_role=mine.role))
    return views


async def _check_removable(uow: UnitOfWork, node_id: str, user_id: str, target_id: str
                           ) -> None:
    mine = await uow.memberships.get_direct(node_id, user_id)
    if mine is None:  # reached through a shared group only
        raise ValidationFailed("Error, cannot remove nodes that were shared via groups",
                               reason="sharing_via_group")
    if target_id == user_id and mine.role == PRIMARY:
        raise ValidationFailed("Self node sharing operations [add/remove] are not allowed.",
                               reason="sharing_self")
    if target_id != user_id and mine.role != PRIMARY:
        raise Forbidden("Error, User should be primary owner of all nodes in the request",
                        reason="sharing_not_primary")
    theirs = await uow.memberships.get_direct(node_id, target_id) \
        or await uow.memberships.get(node_id, target_id)
    if theirs is None:
        raise ValidationFailed("User to node mapping does not exist",
                               reason="sharing_not_shared")
    if not theirs.direct:
        raise ValidationFailed("Error, cannot remove nodes that were shared via groups",
                               reason="sharing_via_group")
