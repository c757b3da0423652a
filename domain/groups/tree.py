"""The group-tree service, the same for user groups and admin groups: checking the fields of
a new or updated group, the update request's shape, listings, and which groups a deletion
takes. UserGroups and AdminGroups keep only what differs (who owns the tree, which nodes a
group may hold, dynamic groups)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.errors import ValidationFailed
from domain.groups.model import (
    G,
    Group,
    GroupHierarchy,
    check_description,
    check_group_name,
    check_node_list,
    check_type,
    merge_document,
)
from domain.paging import check_page_size

UNSET: Any = object()
"""An update field left out (None means: clear it)."""
NO_GROUP = "Group does not exist"
OPERATIONS = (None, "add", "remove")


def check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} must be true or false", reason="invalid_body")
    return value


def new_fields(*, name: object, type: object, description: object,
               mutually_exclusive: object, custom_data: object) -> dict[str, Any]:
    """The checked fields of a group being created (absent ones take their defaults)."""
    return {"name": check_group_name(name),
            "type": check_type(type) if type is not None else "",
            "description": check_description(description) if description is not None else "",
            "mutually_exclusive": check_flag(mutually_exclusive, "mutually_exclusive"),
            "custom_data": merge_document(None, custom_data) or None}


def check_operation(operation: object, nodes: object, *, empty: bool, wanted: str
                    ) -> tuple[str | None, list[str]]:
    """The update's operation (add, remove or none) and its 1..100 nodes; `empty`: no other
    change was asked for, `wanted` names what an update may ask for."""
    if operation is None and empty:
        raise ValidationFailed(f"Either {wanted} or operation needs to specified",
                               reason="group_update_empty")
    op = operation.lower() if isinstance(operation, str) else operation
    if op not in OPERATIONS:
        raise ValidationFailed("Invalid operation specified.[Valid operation values are "
                               "add/remove]", reason="invalid_group_operation")
    return op, check_node_list(nodes) if op is not None else []


def update_fields(group: Group, *, name: object = UNSET, type: object = UNSET,
                  description: object = UNSET, mutually_exclusive: object = UNSET,
                  custom_data: object = UNSET) -> None:
    """Sets the fields given (UNSET: left as they are); custom_data merges (thing shadow)."""
    if name is not UNSET:
        group.name = check_group_name(name)
    if type is not UNSET:
        group.type = check_type(type if type is not None else "")
    if description is not UNSET:
        group.description = check_description(description if description is not None
                                              else "")
    if mutually_exclusive is not UNSET:
        group.mutually_exclusive = check_flag(mutually_exclusive, "mutually_exclusive")
    if custom_data is not UNSET:
        group.custom_data = merge_document(group.custom_data, custom_data)


def check_listing(group_id: object, group_name: object, num_records: object) -> int:
    """The page size of a listing that names a group by id or by name, not both."""
    if group_id is not None and group_name is not None:
        raise ValidationFailed("Specify either group_id or group_name",
                               reason="group_id_and_name")
    return check_page_size(num_records)


def page_from(ids: Sequence[str], start_id: object, size: int
              ) -> tuple[list[str], str | None]:
    """A page of ids from start_id (inclusive; none: from the first) and the next one."""
    rest = [i for i in ids if not isinstance(start_id, str) or not start_id or i >= start_id]
    return rest[:size], (rest[size] if len(rest) > size else None)


def with_subtree(tree: GroupHierarchy[G], group: G) -> list[G]:
    """The group and every group below it: what deleting it deletes."""
    return [group, *tree.descendants(group)]
