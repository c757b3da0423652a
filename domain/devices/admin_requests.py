"""What an admin's node requests may say (the tag filter grammar, node id lists, pages of
ids, optional texts) and the values the admin node use cases answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from domain.devices.model import PRIMARY, SECONDARY, Node, check_node_id, check_tags
from domain.errors import DomainError, ValidationFailed
from domain.sharing.model import NodeMembership

MAX_BATCH = 25
MAX_TAG_FILTER = 4096
ROLES = (PRIMARY, SECONDARY)
NO_NODES = "Nodes do not exist"
NO_USER = "User does not exist"
# what str.isspace() calls white space, spelled so Python and ECMA-262 regexes agree
_WHITESPACE = (r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
               r"\u3000")

# A tag filter is "k:v", or several joined by " AND " or by " OR " (one operator per filter).
# A tag in it cannot contain an operator, so splitting on the operator is exact; the REST
# schema publishes the same pattern.
_NOT_OPERATOR = "(?! (?:AND|OR) )"
_TAG_TERM = (f"[^:{_WHITESPACE}](?:{_NOT_OPERATOR}[^:]){{0,63}}:"
             f"(?:{_NOT_OPERATOR}[^:]){{0,128}}")
TAG_FILTER_PATTERN = (f"^(?:{_TAG_TERM}(?: AND {_TAG_TERM})*|{_TAG_TERM}(?: OR {_TAG_TERM})*)$")
_ALL_OF = re.compile(f"{_TAG_TERM}(?: AND {_TAG_TERM})*")
_ANY_OF = re.compile(f"{_TAG_TERM}(?: OR {_TAG_TERM})*")


def parse_tag_filter(raw: str) -> tuple[tuple[str, ...], bool]:
    """The tags of a filter expression and whether all of them must match (AND)."""
    if _ALL_OF.fullmatch(raw):
        return tuple(dict.fromkeys(raw.split(" AND "))), True
    if _ANY_OF.fullmatch(raw):
        return tuple(dict.fromkeys(raw.split(" OR "))), False
    if " AND " in raw and " OR " in raw:
        raise ValidationFailed("Error, only one type of logical operator (either of 'AND', "
                               "'OR') is supported in a request", reason="mixed_tag_operators")
    raise ValidationFailed("tags must be key:value pairs joined by AND or OR",
                           reason="invalid_tags")


def page_of(ids: list[str], start_id: str | None, size: int) -> tuple[list[str], str | None]:
    """ids (sorted) from start_id on, at most size; and the next page's first id."""
    rest = [i for i in ids if start_id is None or i >= start_id]
    return rest[:size], (rest[size] if len(rest) > size else None)


def optional_text(value: object, name: str, limit: int = 128) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(f"{name} must be text of at most {limit} characters",
                               reason="invalid_body")
    return value


def check_node_ids(node_ids: object) -> list[str]:
    """RainMaker's node_id list: comma-separated, 1..25 ids (duplicates count once)."""
    if node_ids is None or node_ids == "" or node_ids == []:
        raise ValidationFailed("NodeId is missing", reason="admin_node_id_missing")
    raw = node_ids.split(",") if isinstance(node_ids, str) else node_ids
    if not isinstance(raw, list):
        raise ValidationFailed("Invalid node_id", reason="invalid_node_id")
    ids = list(dict.fromkeys(check_node_id(i) for i in raw))
    if len(ids) > MAX_BATCH:
        raise ValidationFailed("Invalid number of nodes specified, Maximum limit is 25.",
                               reason="too_many_nodes")
    return ids


def tags_to_change(tags: object) -> list[str]:
    if isinstance(tags, list) and not tags:
        raise ValidationFailed("Please specify atleast one tag", reason="no_tags")
    try:
        return check_tags(tags)
    except ValidationFailed as exc:
        raise ValidationFailed("Some tags are invalid. Valid tag should be of type key:value",
                               reason="invalid_node_tags") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminNodePage:
    nodes: list[Node]
    next_id: str | None
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivitySummary:
    active_count: int
    inactive_count: int
    not_activated_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeOutcome:
    """One node's result in a batch operation: error is None when it succeeded."""

    node_id: str
    error: DomainError | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NamePage:
    """Tag names (or one tag's values), sorted, a page at a time."""

    items: list[str]
    next_id: str | None
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Association:
    """Who is mapped to what, by role: node ids of a user, or (user id, user name) of a node.
    totals count every entry of each role; the lists hold this page's."""

    by_role: dict[str, list[str] | list[tuple[str, str]]]
    totals: dict[str, int]
    next_id: str | None
    details: list[Node] = field(default_factory=list)
    mappings: dict[str, NodeMembership] = field(default_factory=dict)
