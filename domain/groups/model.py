"""A device group: a named set of nodes with an optional parent (at most three levels), a
type, and custom data merged by thing-shadow rules. Group holds what user groups (NodeGroup,
here) and admin groups (admin/model.py) share; the rules that span a set of groups (unique
sibling names, hierarchy depth, no cycles, mutual exclusion) live in GroupHierarchy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from domain.devices.model import PRIMARY
from domain.errors import Conflict, ValidationFailed
from domain.jsonshape import nesting_exceeds
from domain.shadow import merge_shadow
from domain.sharing.model import GroupShare

MAX_DEPTH = 3
MAX_SUB_GROUPS = 100
MAX_NODES_PER_CALL = 100
MAX_NAME = 256
MAX_DESCRIPTION = 500
MAX_TYPE = 256
NAME_FORBIDDEN = frozenset("\\#$|")


def check_group_name(value: object) -> str:
    """1..256 characters, no #, $, \\ or |, no control characters, no white space around."""
    if value is None or value == "":
        raise ValidationFailed("Group name is missing", reason="group_name_missing")
    if not isinstance(value, str) or len(value) > MAX_NAME or value != value.strip() \
            or any(c in NAME_FORBIDDEN or ord(c) < 32 for c in value):
        raise ValidationFailed("Invalid group name. Group name must be 1 to 256 characters "
                               "long and \\#$| are not allowed.", reason="invalid_group_name")
    return value


def check_description(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise ValidationFailed("The length of group description must be less than 500 "
                               "characters", reason="invalid_group_description")
    return value


def check_type(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_TYPE:
        raise ValidationFailed("type must be text of at most 256 characters",
                               reason="invalid_body")
    return value


def check_node_list(nodes: object) -> list[str]:
    """1..100 node ids in one call (duplicates count once)."""
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes) \
            or not 1 <= len(nodes) <= MAX_NODES_PER_CALL:
        raise ValidationFailed("Number of nodes specified should be between 1 and 100",
                               reason="invalid_group_nodes")
    return list(dict.fromkeys(nodes))


def merge_document(current: dict[str, Any] | None, patch: object) -> dict[str, Any] | None:
    """Thing-shadow merge of custom_data / group_metadata, with a bound on nesting."""
    merged = merge_shadow(current, patch)
    if merged is not None and nesting_exceeds(merged, 16):
        raise ValidationFailed("custom data nests too deep", reason="invalid_body")
    return merged


@dataclass(slots=True, kw_only=True)
class Group:
    """What user groups and admin groups have in common, and what the hierarchy rules read."""

    id: str
    org_id: str
    name: str
    created_at: datetime
    parent_id: str | None = None
    type: str = ""
    description: str = ""
    mutually_exclusive: bool = False
    custom_data: dict[str, Any] | None = None
    nodes: list[str] = field(default_factory=list)

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


@dataclass(slots=True, kw_only=True)
class NodeGroup(Group):
    """A user's group: its owner, and RainMaker's deprecated group_metadata."""

    owner_id: str
    metadata: dict[str, Any] | None = None


G = TypeVar("G", bound=Group)


class GroupHierarchy(Generic[G]):
    """A set of groups, for the rules that span them."""

    def __init__(self, groups: Iterable[G]) -> None:
        self.by_id = {g.id: g for g in groups}

    def children(self, group_id: str | None) -> list[G]:
        return sorted((g for g in self.by_id.values() if g.parent_id == group_id),
                      key=lambda g: g.id)

    def depth(self, group: G) -> int:
        """1 for a top-level group, 2 for its sub-groups..."""
        level, seen, current = 1, {group.id}, group
        while current.parent_id is not None and current.parent_id in self.by_id:
            current = self.by_id[current.parent_id]
            if current.id in seen:
                break
            seen.add(current.id)
            level += 1
        return level

    def height(self, group: G) -> int:
        """Levels in the group's subtree, the group included (1 for a leaf)."""
        kids = self.children(group.id)
        return 1 + max((self.height(k) for k in kids), default=0)

    def root(self, group: G) -> G:
        """The top-level group above this one (itself when it is top-level)."""
        current, seen = group, {group.id}
        while current.parent_id in self.by_id and current.parent_id not in seen:
            current = self.by_id[current.parent_id]
            seen.add(current.id)
        return current

    def descendants(self, group: G) -> list[G]:
        found: list[G] = []
        for kid in self.children(group.id):
            found += [kid, *self.descendants(kid)]
        return found

    def check_parent(self, group: G, parent: G | None) -> None:
        """The group may sit under parent: no cycle, at most three levels, 100 sub-groups."""
        if parent is None:
            return
        if parent.id == group.id or parent.id in {d.id for d in self.descendants(group)}:
            raise ValidationFailed("Invalid group parent id: a group cannot sit under itself "
                                   "or its own sub-group", reason="group_parent_cycle")
        if self.depth(parent) + self.height(group) > MAX_DEPTH:
            raise ValidationFailed("Sub group can not be created: the group hierarchy has at "
                                   "most three levels", reason="group_too_deep")
        if len([g for g in self.children(parent.id) if g.id != group.id]) >= MAX_SUB_GROUPS:
            raise ValidationFailed("A group can have maximum of 100 sub-groups only",
                                   reason="too_many_sub_groups")

    def check_name(self, group: G) -> None:
        """Sibling groups (same parent, top level included) have different names."""
        if any(g.id != group.id and g.parent_id == group.parent_id and g.name == group.name
               for g in self.by_id.values()):
            raise Conflict("Group name already exists", reason="group_name_exists")

    def check_exclusive(self, group: G) -> None:
        """A node of a mutually exclusive group is in no other mutually exclusive group of
        the same type and parent (top-level groups share the 'no parent' parent)."""
        if not group.mutually_exclusive:
            return
        mine = set(group.nodes)
        for other in sorted(self.by_id.values(), key=lambda g: g.id):
            if other.id == group.id or not other.mutually_exclusive \
                    or other.type != group.type or other.parent_id != group.parent_id:
                continue
            clash = next((n for n in other.nodes if n in mine), None)
            if clash is not None:
                raise Conflict(f"Node {clash} is already in mutually exclusive group "
                               f"'{other.name}' ({other.id}) of the same type and parent",
                               reason="group_mutually_exclusive")

    def check_in_parent(self, group: G, node_ids: Iterable[str]) -> None:
        """A sub-group holds only nodes of its parent group."""
        parent = self.by_id.get(group.parent_id) if group.parent_id else None
        if parent is not None and not set(node_ids) <= set(parent.nodes):
            raise ValidationFailed("Some of the nodes are not present in parent group",
                                   reason="nodes_not_in_parent_group")


class GroupTree(GroupHierarchy[NodeGroup]):
    """One owner's groups, for the rules that span them."""


# --- who reaches a user group (the values; domain/groups/access.py computes them) ---------

NO_GROUP = "Group does not exist"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupAccess:
    group: NodeGroup
    role: str
    via: str | None
    """The group whose share grants the access (the group itself or an ancestor); None for
    the owner."""

    @property
    def owner(self) -> bool:
        return self.via is None


def check_group_id(group_id: object) -> str:
    if not isinstance(group_id, str) or not group_id:
        raise ValidationFailed("Group id is missing", reason="group_id_missing")
    return group_id


def best_share(shares: Sequence[GroupShare]) -> GroupShare | None:
    ranked = sorted(shares, key=lambda s: (s.role != PRIMARY, s.group_id))
    return ranked[0] if ranked else None


@dataclass(frozen=True, slots=True, kw_only=True)
class VisibleGroups:
    """Every group a user reaches (owned, shared, and the sub-groups of shared ones), with
    the user's role on each and the share that grants it."""

    tree: GroupTree
    roles: dict[str, str]
    via: dict[str, str | None]
    shares: dict[str, GroupShare]

    def roots(self) -> list[NodeGroup]:
        """The groups the user reaches whose parent it does not reach."""
        return [g for g in sorted(self.tree.by_id.values(), key=lambda g: g.id)
                if g.parent_id is None or g.parent_id not in self.tree.by_id]
