"""Node sharing requests: a primary user offers nodes to another user of the organization,
who accepts or declines; the sender may cancel while it is pending. Expiry is computed when
read (like MappingRequest.status_at), so no sweeper is needed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.devices.model import PRIMARY
from domain.errors import ValidationFailed

SHARING_STATUSES = ("pending", "accepted", "declined", "cancelled", "expired")
PENDING, ACCEPTED, DECLINED, CANCELLED, EXPIRED = SHARING_STATUSES
NEW_ROLES = ("secondary", "none")
"""What a sender keeps after a transfer: a secondary membership, or nothing."""
MAX_SHARED_NODES = 100
MAX_SHARED_GROUPS = 10
NODE_KIND, GROUP_KIND = "node", "group"
"""What a sharing request offers: nodes, or groups (with every node in them)."""
DEFAULT_SHARING_TTL_SECONDS = 7 * 24 * 3600


@dataclass(slots=True, kw_only=True)
class SharingRequest:
    """A pending (or settled) offer of nodes from one user to another."""

    id: str
    org_id: str
    from_user_id: str
    to_user_id: str
    node_ids: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    primary: bool = False
    transfer: bool = False
    new_role: str | None = None
    metadata: dict[str, Any] | None = None
    status: str = PENDING
    settled_at: datetime | None = None
    kind: str = NODE_KIND
    group_ids: list[str] = field(default_factory=list)
    # user names, filled by the use case when it reads requests for display
    from_user_name: str = field(default="", compare=False)
    to_user_name: str = field(default="", compare=False)

    @property
    def role(self) -> str:
        """The receiver's role once accepted."""
        return "primary" if self.primary or self.transfer else "secondary"

    def status_at(self, now: datetime) -> str:
        if self.status == PENDING and self.expires_at is not None and now >= self.expires_at:
            return EXPIRED
        return self.status

    def settle(self, status: str, now: datetime) -> None:
        """Accepts, declines or cancels a pending request; anything else is VALIDATION
        (accepting twice, an expired or a cancelled request)."""
        current = self.status_at(now)
        prefix = "group_" if self.kind == GROUP_KIND else ""
        if current != PENDING:
            raise ValidationFailed(f"Error getting request. The request is {current}, not "
                                   "pending", reason=f"{prefix}sharing_request_{current}")
        self.status, self.settled_at = status, now


@dataclass(slots=True, kw_only=True)
class GroupShare:
    """A user's access to a group shared with them (and so to its sub-groups and, while
    the group's owner holds them, to its nodes): primary or secondary."""

    group_id: str
    org_id: str
    user_id: str
    role: str
    created_at: datetime
    metadata: dict[str, Any] | None = None
    owner: bool = False
    """True for the group's owner, listed beside the shares as a primary (never stored)."""


# --- who holds a node: memberships, direct or through a shared group --------------------

@dataclass(slots=True, kw_only=True)
class NodeMembership:
    """A user's access to a node: primary (owner) or secondary, through the node itself
    ("NODE") or through a group (its id)."""

    node_id: str
    org_id: str
    user_id: str
    role: str
    created_at: datetime
    source: str = "NODE"

    @property
    def direct(self) -> bool:
        """Granted on the node itself (mapping, node sharing), not through a shared group."""
        return self.source == DIRECT_SOURCE


DIRECT_SOURCE = "NODE"


def strongest(memberships: Iterable[NodeMembership]) -> NodeMembership | None:
    """The access that decides what a user may do with a node when it comes from several
    sources: primary over secondary, and on a tie the direct one (then the oldest group)."""
    ranked = sorted(memberships, key=lambda m: (m.role != PRIMARY, not m.direct, m.source))
    return ranked[0] if ranked else None


def strongest_per_user(members: Iterable[tuple[NodeMembership, str]]
                       ) -> list[tuple[NodeMembership, str]]:
    """One entry per (node, user): the strongest of its direct and group-derived access."""
    grouped: dict[tuple[str, str], list[tuple[NodeMembership, str]]] = {}
    for membership, name in members:
        grouped.setdefault((membership.node_id, membership.user_id), []).append(
            (membership, name))
    found = []
    for entries in grouped.values():
        best = strongest(m for m, _ in entries)
        found += [(m, n) for m, n in entries if m is best][:1]
    return found
