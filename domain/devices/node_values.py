"""The values the user node use cases take and answer: pages of nodes, batched params
writes and their outcomes, connectivity."""

from __future__ import annotations

from dataclasses import dataclass

from domain.devices.model import Node
from domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from domain.sharing.model import NodeMembership

MAX_PAGE = 100
MAX_PARAMS_BATCH = 25
"""Nodes one set_params_many writes (RainMaker's multi-node PUT /v1/user/nodes/params)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NodePage:
    entries: list[tuple[Node, NodeMembership]]
    next_id: str | None
    total: int


def parse_tag_filter(tags: object) -> set[str] | None:
    if tags is None:
        return None
    if not isinstance(tags, str) or not tags.strip():
        raise ValidationFailed("tags must be comma-separated key:value pairs",
                               reason="invalid_tags")
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    if not wanted or any(":" not in t for t in wanted):
        raise ValidationFailed("tags must be comma-separated key:value pairs",
                               reason="invalid_tags")
    return wanted


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamsWrite:
    """Desired params for one node of a batch; expected_version as set_params takes it."""

    node_id: object
    params: object
    expected_version: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamsOutcome:
    """What became of one write of a batch: the new shadow version, or the node's own error."""

    node_id: object
    params_version: int | None = None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None




@dataclass(frozen=True, slots=True, kw_only=True)
class NodeStatus:
    connected: bool
    timestamp_ms: int


BATCH_NODE_FAILURES = (NotFound, Conflict, ValidationFailed)
"""A node's own failure in a batch (unknown or unreached, invalid params, a stale version):
its outcome; anything else fails the whole batch, which then writes nothing."""
