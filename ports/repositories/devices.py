"""Devices: nodes, their params history, registration tokens and mapping requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from domain.devices.model import (
    Connectivity,
    MappingRequest,
    Node,
    NodeFilter,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
)


class NodeRepository(Protocol):
    """Nodes of the scoped organization, and the hashes of their device secrets."""

    async def add(self, node: Node, secrets: NodeSecrets) -> None: ...
    async def get(self, node_id: str) -> Node | None: ...
    async def save(self, node: Node) -> None: ...
    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        """The nodes among node_ids that exist in scope, in one query."""
        ...

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        """Saves only if the stored params_version is still expected_version (optimistic
        concurrency); False when another writer got there first."""
        ...

    async def save_many_if_version(self, nodes: Sequence[tuple[Node, int]]) -> Sequence[str]:
        """For many (node, expected_version) pairs at once, batched: saves what devices report
        (config and its info, reported params and params_version, connectivity) of each node
        whose stored params_version is still the expected one; tags, metadata, desired and
        active stay as stored. Returns the ids of the nodes that lost (stale or gone)."""
        ...

    async def secrets(self, node_id: str) -> NodeSecrets | None: ...

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        """Nodes marked connected, ordered by id, after after_id (None: from the first), at
        most limit."""
        ...

    async def save_connectivity_if_unchanged(self, nodes: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        """For (node, connectivity as read) pairs: writes only each node's connectivity, where
        the stored one is still as read. Returns the ids of the nodes left as they were
        (changed meanwhile, or gone)."""
        ...

    # --- an admin's view of the organization's nodes ---
    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        """The nodes matching the filter, ordered by id, from start_id on, at most limit; and
        how many match in all (whatever start_id). Two queries whatever the page size."""
        ...

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        """How many matching nodes are active, inactive and not_activated
        (domain.devices.model.activity), in one query."""
        ...

    async def tag_values(self) -> Sequence[str]:
        """The distinct "key:value" tags across the scoped nodes, sorted, in one query."""
        ...

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        """Activates or deactivates these nodes (their broker credentials) in one statement."""
        ...

    async def save_tags_many(self, nodes: Sequence[Node]) -> None:
        """Writes only the tags of these nodes (nothing else they hold), in one batch."""
        ...


class ParamsHistoryRepository(Protocol):
    """Reported params changes per node, newest version first when read."""

    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None: ...
    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        """The node's newest `limit` entries, highest version first."""
        ...

    async def delete_for_node(self, node_id: str) -> int:
        """Deletes all of the node's history; returns how many entries went."""
        ...

    async def prune(self, below: Mapping[str, int]) -> None:
        """For each node id, deletes its entries with a version lower than the given one."""
        ...


class RegistrationTokenRepository(Protocol):
    """One-time node registration tokens (stored as SHA-256 hashes)."""

    async def add(self, token: RegistrationToken) -> None: ...
    async def find(self, token_hash: str) -> RegistrationToken | None: ...
    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        """Atomically marks an unused token used by node_id; False when already used."""
        ...


class MappingRequestRepository(Protocol):
    """User-node mapping requests."""

    async def add(self, request: MappingRequest) -> None: ...
    async def get(self, request_id: str) -> MappingRequest | None: ...
    async def save(self, request: MappingRequest) -> None: ...
    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        """The node's requests of that kind still in status requested (expired included;
        the caller decides with MappingRequest.pending_at), oldest first."""
        ...

    async def delete_for_node(self, node_id: str) -> int: ...
