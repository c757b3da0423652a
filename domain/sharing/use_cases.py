"""The sharing use cases the APIs call (nodes and groups, one engine), bundled so both APIs
receive the same instances."""

from __future__ import annotations

from dataclasses import dataclass

from domain.sharing.groups import GroupSharing
from domain.sharing.nodes import NodeSharing


@dataclass(frozen=True, slots=True, kw_only=True)
class SharingUseCases:
    nodes: NodeSharing
    groups: GroupSharing
