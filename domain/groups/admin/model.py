"""An organization's admin device group: like a user's group (hierarchy of at most three
levels, unique sibling names, mutual exclusion, thing-shadow custom data) but shared by every
admin of the organization. A group is either static (its nodes are listed) or dynamic: its
members are the nodes matching a GroupQuery on type, model and firmware version, computed
when it is created and again on regroup. The virtual group ALL_NODES holds every node."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domain.devices.model import Node
from domain.errors import ValidationFailed
from domain.groups.model import Group, GroupHierarchy

ALL_NODES = "FFFF-FFFF"
"""The virtual group of every node of the organization: readable, never written."""
MAX_QUERY_VALUE = 128  # the length of a node's type, model and fw_version


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

    def matches(self, node: Node) -> bool:
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
class AdminGroup(Group):
    """An organization's group: who created it, and the query of a dynamic one."""

    created_by: str | None = None
    query: GroupQuery | None = None

    @property
    def dynamic(self) -> bool:
        return self.query is not None

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
