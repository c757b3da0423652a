"""An organization's admin device group: like a user's group (hierarchy of at most three
levels, unique sibling names, mutual exclusion, thing-shadow custom data) but shared by every
admin of the organization. A group is either static (its nodes are listed) or dynamic: its
members are the nodes matching a GroupQuery on type, model and firmware version, computed
when it is created and again on regroup. The virtual group ALL_NODES holds every node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from domain.errors import ValidationFailed
from domain.groups.model import GroupHierarchy

ALL_NODES = "FFFF-FFFF"
"""The virtual group of every node of the organization: readable, never written."""
MAX_QUERY_VALUE = 128  # the length of a node's type, model and fw_version


class Describable(Protocol):
    """What a query reads of a node."""

    @property
    def type(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def fw_version(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupQuery:
    """A dynamic group's rule: nodes whose type, model and firmware version equal those set
    (at least one is set; each is text of at most 128 characters)."""

    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None

    def __post_init__(self) -> None:
        values = (self.node_type, self.node_model, self.node_fw_version)
        if all(v is None for v in values):
            raise ValidationFailed("A group query needs node_type, node_model or "
                                   "node_fw_version", reason="invalid_body")
        for value in values:
            if value is not None and (not isinstance(value, str) or not value
                                      or len(value) > MAX_QUERY_VALUE):
                raise ValidationFailed("node_type, node_model and node_fw_version must be "
                                       "text of 1 to 128 characters", reason="invalid_body")

    def matches(self, node: Describable) -> bool:
        return all(wanted is None or have == wanted for wanted, have in (
            (self.node_type, node.type), (self.node_model, node.model),
            (self.node_fw_version, node.fw_version)))

    def narrows_to(self, node_type: str | None, node_model: str | None,
                   node_fw_version: str | None) -> bool:
        """The query has every one of the values given (a listing filter)."""
        return all(wanted is None or have == wanted for wanted, have in (
            (node_type, self.node_type), (node_model, self.node_model),
            (node_fw_version, self.node_fw_version)))

    def describe(self) -> str:
        """RainMaker's group_query text: "node_type: x && node_model: y"."""
        parts = [(name, value) for name, value in (
            ("node_type", self.node_type), ("node_model", self.node_model),
            ("node_fw_version", self.node_fw_version)) if value is not None]
        return " && ".join(f"{name}: {value}" for name, value in parts)


@dataclass(slots=True, kw_only=True)
class AdminGroup:
    id: str
    org_id: str
    name: str
    created_at: datetime
    created_by: str | None = None
    parent_id: str | None = None
    type: str = ""
    description: str = ""
    mutually_exclusive: bool = False
    custom_data: dict[str, Any] | None = None
    query: GroupQuery | None = None
    nodes: list[str] = field(default_factory=list)

    @property
    def dynamic(self) -> bool:
        return self.query is not None

    def add_nodes(self, node_ids: Iterable[str]) -> list[str]:
        """Adds the nodes not in the group yet; returns those it added."""
        have = set(self.nodes)
        added = [n for n in dict.fromkeys(node_ids) if n not in have]
        self.nodes.extend(added)
        return added

    def remove_nodes(self, node_ids: Iterable[str]) -> list[str]:
        """Removes the nodes it holds; returns those it removed."""
        gone = set(node_ids)
        removed = [n for n in self.nodes if n in gone]
        self.nodes = [n for n in self.nodes if n not in gone]
        return removed

    def regroup(self, matching: Iterable[str]) -> bool:
        """A dynamic group's members become the nodes matching its query now (members that
        still match keep their place); True when that changed anything."""
        wanted = list(dict.fromkeys(matching))
        keep = set(wanted)
        before = list(self.nodes)
        self.nodes = [n for n in self.nodes if n in keep]
        self.add_nodes(wanted)
        return self.nodes != before


class AdminGroupTree(GroupHierarchy[AdminGroup]):
    """An organization's admin groups, for the rules that span them."""

    def ancestors(self, group: AdminGroup) -> list[AdminGroup]:
        """The groups above this one, nearest first."""
        found: list[AdminGroup] = []
        current, seen = group, {group.id}
        while current.parent_id in self.by_id and current.parent_id not in seen:
            current = self.by_id[current.parent_id]
            seen.add(current.id)
            found.append(current)
        return found

    def top_level(self) -> list[AdminGroup]:
        return self.children(None)
