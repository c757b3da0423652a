"""Node proxy: a node's report relayed by the user's phone (when the node cannot reach the
broker), signed with the node's private key, applied as if the node had published it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from domain.access.model import Caller, requires
from domain.access.permissions import NODE_PROXY
from domain.devices.ingest import DeviceIngest, RecentDigests
from domain.devices.reach import reachable_node
from domain.errors import Conflict, ValidationFailed
from ports.events import EventPublisher
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer, Clock, NodeSignatures

TOPIC_FOR_ACTION = {"params": "params/local", "initparams": "params/local/init",
                    "config": "config"}
MAX_AGE_SECONDS, MAX_SKEW_SECONDS = 300, 5
MAX_PAYLOAD = 64 * 1024


class NodeProxy:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, authorizer: Authorizer,
                 signatures: NodeSignatures, ingest: DeviceIngest, events: EventPublisher,
                 seen: RecentDigests | None = None,
                 wall_seconds: Callable[[datetime], float] = datetime.timestamp) -> None:
        self._uow, self._clock, self.authorizer = uow, clock, authorizer
        self._signatures, self._ingest, self._events = signatures, ingest, events
        # signatures accepted inside the timestamp window: a captured payload cannot be
        # replayed to roll a node's state back (per process; the window bounds the memory)
        self._seen = seen or RecentDigests(size=100_000,
                                           window_seconds=MAX_AGE_SECONDS + MAX_SKEW_SECONDS)
        self._seconds = wall_seconds

    @requires(NODE_PROXY, "POST")
    async def relay(self, caller: Caller, *, node_id: object, action: object,
                    node_payload: object, signature: object) -> None:
        """Applies a signed node report: action params (params/local), initparams
        (params/local/init) or config.

        - the caller must reach the node (primary or secondary), else NOT_FOUND;
        - node_payload is the JSON string {"data": ..., "timestamp": <epoch s>} the node
          signed; the signature (hex) must verify under the node's registered public key;
        - the timestamp must be within 5 minutes in the past or 5 seconds in the future;
        - the same signature twice inside that window is CONFLICT (replay);
        - data is checked and applied exactly as the MQTT topic's payload would be.
        """
        principal, user_id = caller.require_user()
        topic_suffix = TOPIC_FOR_ACTION.get(action) if isinstance(action, str) else None
        if topic_suffix is None:
            raise ValidationFailed("Error, unsupported action", reason="unsupported_action")
        if not isinstance(signature, str) or not signature:
            raise ValidationFailed("Error, signature is missing", reason="signature_missing")
        if not isinstance(node_payload, str) or len(node_payload) > MAX_PAYLOAD:
            raise ValidationFailed("Invalid request body", reason="invalid_body")
        async with self._uow(principal.org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
            secrets = await uow.nodes.secrets(node.id)
        public_key = secrets.public_key if secrets is not None else ""
        if not self._signatures.verify(public_key, node_payload.encode("utf-8"), signature):
            raise ValidationFailed("Error, signature is incorrect", reason="signature_incorrect")
        try:
            document = json.loads(node_payload)
        except (ValueError, RecursionError) as exc:
            raise ValidationFailed("Invalid request body", reason="invalid_body") from exc
        if not isinstance(document, dict) or "data" not in document:
            raise ValidationFailed("Error, data field is missing from the payload",
                                   reason="proxy_data_missing")
        stamp = document.get("timestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            raise ValidationFailed("Error, timestamp is missing from the payload",
                                   reason="proxy_timestamp_missing")
        now = self._seconds(self._clock.now())
        if not now - MAX_AGE_SECONDS <= stamp <= now + MAX_SKEW_SECONDS:
            raise ValidationFailed("Error, the timestamp in the payload is outside the allowed "
                                   "time window (within 5 minutes in the past or 5 seconds in "
                                   "the future)", reason="proxy_timestamp_window")
        if self._seen.seen_before(signature.lower()):
            raise Conflict("This signed payload was already applied", reason="proxy_replayed")
        data = json.dumps(document["data"], separators=(",", ":")).encode()
        result = await self._ingest.handle(f"node/{node.id}/{topic_suffix}", data)
        if not result.accepted and result.reason not in ("no change", "duplicate"):
            raise ValidationFailed(f"Invalid node payload: {result.reason}",
                                   reason="invalid_body")
        for event in result.events:
            await self._events.publish(event)
