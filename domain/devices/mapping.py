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

from domain.access.model import Caller, requires
from domain.access.permissions import NODE_MAPPING_INITIATE, NODE_MAPPING_VERIFY
from domain.devices.mapping_requests import (
    DEFAULT_TTL_SECONDS,
    check_secret_key,
    confirm,
    expiry,
)
from domain.devices.model import (
    BY_CHALLENGE,
    BY_HANDSHAKE,
    CONFIRMED,
    DISCARDED,
    NODE_HALF,
    REQUESTED,
    TIMED_OUT,
    MappingRequest,
    check_node_id,
)
from domain.devices.ownership import check_extras, check_own_group
from domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from domain.hashing import sha256_hex
from domain.identifiers import is_record_id
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator, NodeSignatures

log = logging.getLogger("fleetgate.mapping")

MAX_TIMEOUT_SECONDS = 100 * 365 * 24 * 3600  # RainMaker: "MAX timeout is 100 years"
MAX_NODE_HALVES = 20
"""Pending node halves kept per node: a device repeating itself cannot grow the table."""


class NodeMapping:
    """Challenge-response mapping (users) and the node's half of the handshake (devices)."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, signatures: NodeSignatures,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._signatures, self._ttl = signatures, ttl_seconds

    @requires(NODE_MAPPING_INITIATE, "POST")
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

    @requires(NODE_MAPPING_VERIFY, "POST")
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

