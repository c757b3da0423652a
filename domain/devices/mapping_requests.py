"""Mapping requests, the pieces every way of mapping shares: the secret_key a handshake
carries, when a request expires, the node's pending half a user's request completes, and
confirming a request (the user becomes primary, or it is discarded)."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.devices.model import CONFIRMED, DISCARDED, NODE_HALF, MappingRequest, Node
from domain.devices.ownership import MappingExtras, grant_primary
from domain.errors import ValidationFailed
from ports.repositories.uow import UnitOfWork

DEFAULT_TTL_SECONDS = 300
MAX_SECRET_KEY = 256


def check_secret_key(secret_key: object) -> str:
    if not isinstance(secret_key, str) or not secret_key:
        raise ValidationFailed("Secret key for mapping user to node mapping is blank",
                               reason="secret_key_missing")
    if len(secret_key) > MAX_SECRET_KEY:
        raise ValidationFailed("Secret key is too long", reason="secret_key_too_long")
    return secret_key


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
