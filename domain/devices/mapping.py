"""User-node mapping (claiming) beyond the provisioned secret_key: the two-sided handshake
RainMaker firmware does, and challenge-response mapping with the node's own key.

Handshake: the user's PUT /v1/user/nodes/mapping {node_id, secret_key} and the node's
publish on node/<node_id>/user/mapping {node_id, user_id, secret_key, reset} must carry the
same secret_key; whichever half arrives first waits (status requested) until the other comes
or the request times out. Challenge: the user gets a random challenge, the node signs it
with its private key (relayed locally by the phone), and the signature is verified against
the public key the node registered at provisioning.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.access.model import Caller, requires
from domain.devices.model import (
    BY_CHALLENGE,
    BY_HANDSHAKE,
    CONFIRMED,
    DISCARDED,
    NODE_HALF,
    PRIMARY,
    REQUESTED,
    TIMED_OUT,
    MappingRequest,
    Node,
    NodeMembership,
    check_node_id,
    check_tags,
)
from domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from domain.groups.model import MAX_DEPTH, GroupTree
from domain.hashing import sha256_hex
from domain.identifiers import is_record_id
from domain.jsonshape import nesting_exceeds
from domain.shadow import merge_shadow
from ports.repositories import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator, NodeSignatures

log = logging.getLogger("fleetgate.mapping")

DEFAULT_TTL_SECONDS = 300
MAX_TIMEOUT_SECONDS = 100 * 365 * 24 * 3600  # RainMaker: "MAX timeout is 100 years"
MAX_SECRET_KEY = 256
MAX_NODE_HALVES = 20
"""Pending node halves kept per node: a device repeating itself cannot grow the table."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MappingExtras:
    """What a mapping request may set on the node once confirmed."""

    tags: list[str]
    metadata: dict[str, Any] | None
    group_id: str | None = None


def check_extras(tags: object = None, metadata: object = None,
                 group_id: object = None) -> MappingExtras:
    checked_tags = check_tags(tags) if tags is not None else []
    if group_id is not None and (not isinstance(group_id, str) or not is_record_id(group_id)):
        raise ValidationFailed("Invalid group id", reason="invalid_body")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValidationFailed("metadata must be a JSON object", reason="invalid_body")
    if metadata is not None and nesting_exceeds(metadata, 8):
        raise ValidationFailed("metadata nests too deep", reason="invalid_body")
    return MappingExtras(tags=checked_tags, metadata=metadata,
                         group_id=group_id if isinstance(group_id, str) else None)


async def check_own_group(uow: UnitOfWork, extras: MappingExtras, user_id: str) -> None:
    """A group named by a mapping request is one of the user's own (else NOT_FOUND, as for
    anyone else's group): the group passes the node on to those it is shared with."""
    if extras.group_id is not None:
        group = await uow.groups.get(extras.group_id)
        if group is None or group.owner_id != user_id:
            raise NotFound("Group does not exist", reason="group_not_found")


async def join_group(uow: UnitOfWork, node_id: str, user_id: str, group_id: str) -> bool:
    """Puts a newly mapped node in one of the user's groups and in the groups above it (a
    sub-group holds only its parent's nodes). False, and nothing written, when the group is
    gone or mutual exclusion forbids it: the mapping itself stands."""
    group = await uow.groups.get(group_id)
    if group is None or group.owner_id != user_id:
        return False
    tree = GroupTree(await uow.groups.for_owner(user_id))
    chain = [tree.by_id[group.id]]
    while chain[-1].parent_id in tree.by_id and len(chain) < MAX_DEPTH:
        chain.append(tree.by_id[chain[-1].parent_id or ""])
    changed = [g for g in chain if g.add_nodes([node_id])]
    try:
        for member in changed:
            tree.check_exclusive(member)
    except Conflict:
        return False
    for member in changed:
        await uow.groups.save(member)
    return True


def check_secret_key(secret_key: object) -> str:
    if not isinstance(secret_key, str) or not secret_key:
        raise ValidationFailed("Secret key for mapping user to node mapping is blank",
                               reason="secret_key_missing")
    if len(secret_key) > MAX_SECRET_KEY:
        raise ValidationFailed("Secret key is too long", reason="secret_key_too_long")
    return secret_key


async def forget_node_data(uow: UnitOfWork, node_id: str) -> None:
    """What goes with the last mapping (or a reset): the node's stored params history, and
    its place in users' device groups."""
    await uow.params_history.delete_for_node(node_id)
    await uow.groups.remove_node_everywhere(node_id)


async def grant_primary(uow: UnitOfWork, node: Node, user_id: str, now: datetime, *,
                        reset: bool = False, extras: MappingExtras | None = None) -> bool:
    """Makes user_id the node's primary. False (nothing written) when another user is
    primary and this is no reset; with reset every earlier mapping and the node's history
    go first. Mapping the owner again changes nothing but the extras."""
    members = await uow.memberships.for_node(node.id)
    owner = next((m for m in members if m.role == PRIMARY), None)
    if reset:
        if members:
            await uow.memberships.remove_all(node.id)
        await forget_node_data(uow, node.id)
        owner = None
    elif owner is not None and owner.user_id != user_id:
        return False
    if owner is None:
        await uow.memberships.remove(node.id, user_id)  # a secondary becoming primary
        await uow.memberships.add(NodeMembership(node_id=node.id, org_id=node.org_id,
                                                 user_id=user_id, role=PRIMARY, created_at=now))
    if extras is not None and extras.group_id is not None:
        await join_group(uow, node.id, user_id, extras.group_id)
    if extras is not None and (extras.tags or extras.metadata is not None):
        if extras.tags:
            node.add_tags(extras.tags)
        if extras.metadata is not None:
            node.metadata = merge_shadow(node.metadata, extras.metadata)
        await uow.nodes.save(node)
    return True


async def confirm(uow: UnitOfWork, request: MappingRequest, node: Node, now: datetime, *,
                  reset: bool) -> bool:
    """Confirms a pending request (discarded when the node has another owner); True when
    the user now owns the node."""
    extras = MappingExtras(tags=request.tags, metadata=request.metadata,
                           group_id=request.group_id)
    granted = await grant_primary(uow, node, request.user_id, now, reset=reset, extras=extras)
    request.status = CONFIRMED if granted else DISCARDED
    await uow.mapping_requests.save(request)
    return granted


def expiry(now: datetime, seconds: int) -> datetime | None:
    return None if seconds == 0 else now + timedelta(seconds=seconds)


async def pending_node_half(uow: UnitOfWork, node_id: str, user_id: str, secret_hash: str,
                            now: datetime) -> MappingRequest | None:
    """The node's pending half of the handshake that a user's request with this secret
    completes (the node named this user, or nobody)."""
    for half in await uow.mapping_requests.pending_for_node(node_id, NODE_HALF):
        if half.pending_at(now) and half.secret_hash == secret_hash \
                and half.user_id in ("", user_id):
            return half
    return None


class NodeMapping:
    """Challenge-response mapping (users) and the node's half of the handshake (devices)."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, signatures: NodeSignatures,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._signatures, self._ttl = signatures, ttl_seconds

    @requires("/v1/user/nodes/mapping/initiate", "POST")
    async def initiate_challenge(self, caller: Caller, *, timeout_seconds: object = None
                                 ) -> MappingRequest:
        """A challenge for the caller to have a node sign.

        - timeout: seconds the request stays open; 0 never expires; default the mapping
          timeout; negative or over 100 years is VALIDATION.
        """
        principal, user_id = caller.require_user()
        timeout = timeout_seconds
        if timeout is None:
            seconds = self._ttl
        elif isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or timeout != timeout or not 0 <= timeout <= MAX_TIMEOUT_SECONDS:
            raise ValidationFailed("Invalid request, out of range value for timeout. Negative "
                                   "value is not allowed. Explicit MAX timeout is 100 years "
                                   "or use 0 for indefinite", reason="invalid_timeout")
        else:
            seconds = int(timeout)
        now = self._clock.now()
        request = MappingRequest(id=self._ids.new_id(), org_id=principal.org_id,
                                 user_id=user_id, node_id="", operation="add",
                                 status=REQUESTED, created_at=now, kind=BY_CHALLENGE,
                                 challenge=self._ids.secret()[:64],
                                 expires_at=expiry(now, seconds))
        async with self._uow(principal.org_id) as uow:
            await uow.mapping_requests.add(request)
            await uow.commit()
        return request

    @requires("/v1/user/nodes/mapping/verify", "POST")
    async def verify_challenge(self, caller: Caller, *, request_id: object, node_id: object,
                               challenge_response: object, tags: object = None,
                               metadata: object = None, group_id: object = None
                               ) -> MappingRequest:
        """Confirms a challenge request when challenge_response is the challenge signed by
        the node's key; the caller becomes the node's primary.

        - another user's request, or an unknown one: NOT_FOUND; an unknown node or one of
          another organization: NOT_FOUND;
        - a wrong signature, a confirmed, timed-out or discarded request: VALIDATION with
          its own reason; the request stays usable after a wrong signature until it expires;
        - the node owned by someone else: CONFLICT.
        """
        principal, user_id = caller.require_user()
        if not isinstance(request_id, str) or not request_id or len(request_id) > 64:
            raise ValidationFailed("RequestId is missing", reason="request_id_missing")
        checked = check_node_id(node_id)
        if not isinstance(challenge_response, str) or not challenge_response:
            raise ValidationFailed("Invalid challenge response for node mapping confirmation "
                                   "request", reason="invalid_challenge_response")
        extras = check_extras(tags, metadata, group_id)
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            request = await uow.mapping_requests.get(request_id) \
                if is_record_id(request_id) else None
            if request is None or request.user_id != user_id or request.kind != BY_CHALLENGE:
                raise NotFound("User node mapping request not found", reason="mapping_not_found")
            status = request.status_at(now)
            if status == CONFIRMED:
                raise ValidationFailed("Request is already confirmed",
                                       reason="mapping_already_confirmed")
            if status == TIMED_OUT:
                raise ValidationFailed("User node mapping request has timed out",
                                       reason="mapping_timed_out")
            if status != REQUESTED:
                raise ValidationFailed("Node mapping can not be confirmed as the request is in "
                                       "failed/timed out/discarded status",
                                       reason="mapping_not_pending")
            node = await uow.nodes.get(checked)
            secrets = await uow.nodes.secrets(checked)
            if node is None or secrets is None:
                raise NotFound("Nodes do not exist", reason="node_not_found")
            if not self._signatures.verify(secrets.public_key, request.challenge.encode(),
                                           challenge_response):
                raise ValidationFailed("Invalid challenge response for node mapping "
                                       "confirmation request",
                                       reason="invalid_challenge_response")
            await check_own_group(uow, extras, user_id)
            request.node_id, request.tags, request.metadata = checked, extras.tags, \
                extras.metadata
            request.group_id = extras.group_id
            if not await confirm(uow, request, node, now, reset=False):
                raise Conflict("Node is already mapped to another user",
                               reason="node_already_mapped")
            await uow.commit()
        return request

    async def node_half(self, node_id: str, payload: bytes) -> str:
        """The node's half of the handshake (node/<node_id>/user/mapping). Never raises:
        returns what happened (confirmed, discarded, waiting, duplicate, or why it was
        dropped) so the consumer keeps running whatever a device sends."""
        try:
            body = json.loads(payload.decode("utf-8")) if len(payload) <= 4096 else None
            if not isinstance(body, dict):
                raise ValueError("payload must be a JSON object")
            secret = check_secret_key(body.get("secret_key"))
            if body.get("node_id") not in (None, node_id):
                raise ValueError("payload is for another node")
            wanted_user = body.get("user_id") or ""
            reset = body.get("reset", False)
            if not isinstance(wanted_user, str) or len(wanted_user) > 64 \
                    or not isinstance(reset, bool):
                raise ValueError("user_id must be a string and reset a boolean")
            return await self._node_half(check_node_id(node_id), sha256_hex(secret),
                                         wanted_user, reset)
        except (ValueError, UnicodeDecodeError, RecursionError, DomainError) as exc:
            message = exc.message if isinstance(exc, DomainError) else str(exc)
            log.warning("dropped mapping message of node %s: %s", node_id[:64], message)
            return f"dropped: {message}"

    async def _node_half(self, node_id: str, secret_hash: str, wanted_user: str,
                         reset: bool) -> str:
        now = self._clock.now()
        async with self._uow(SYSTEM_SCOPE) as uow:
            node = await uow.nodes.get(node_id)
            if node is None or not node.active:
                return "dropped: unknown or inactive node"
            for request in reversed(await uow.mapping_requests.pending_for_node(
                    node_id, BY_HANDSHAKE)):
                if request.pending_at(now) and request.secret_hash == secret_hash \
                        and wanted_user in ("", request.user_id):
                    outcome = CONFIRMED if await confirm(uow, request, node, now,
                                                         reset=reset) else DISCARDED
                    await uow.commit()
                    return outcome
            halves = [h for h in await uow.mapping_requests.pending_for_node(node_id, NODE_HALF)
                      if h.pending_at(now)]
            if any(h.secret_hash == secret_hash and h.user_id == wanted_user for h in halves):
                return "duplicate"
            if len(halves) >= MAX_NODE_HALVES:
                return "dropped: too many pending mapping messages"
            await uow.mapping_requests.add(MappingRequest(
                id=self._ids.new_id(), org_id=node.org_id, user_id=wanted_user,
                node_id=node_id, operation="add", status=REQUESTED, created_at=now,
                kind=NODE_HALF, secret_hash=secret_hash, reset=reset,
                expires_at=expiry(now, self._ttl)))
            await uow.commit()
        return "waiting"

