"""What user groups and admin groups have in common in GraphQL: the fields of a group and of
the inputs that create and update one, the tree fields (subGroups, parent), the paging of a
group listing and the node mutations. graphql_api/groups.py and admin_groups.py name their
own types (the schema keeps a name per kind).

No `from __future__ import annotations` here: the types and resolvers built below carry real
annotations, which strawberry reads when the schema is made."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from domain.access.model import Caller
from domain.errors import ValidationFailed
from domain.groups.model import Group
from domain.groups.tree import UNSET
from domain.paging import MAX_PAGE
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor


# A type's fields are its bases' in the order the bases are named, then its own.
@strawberry.type
class GroupFields:
    id: strawberry.ID
    name: str
    type: str
    description: str
    mutually_exclusive: bool
    custom_data: JSON | None


def group_fields(group: Group) -> dict[str, Any]:
    return {"id": strawberry.ID(group.id), "name": group.name, "type": group.type,
            "description": group.description, "mutually_exclusive": group.mutually_exclusive,
            "custom_data": group.custom_data}


@strawberry.input
class CreateFields:
    name: str
    node_ids: list[strawberry.ID] | None = None
    parent_id: strawberry.ID | None = None
    type: str | None = None
    description: str | None = None
    mutually_exclusive: bool = False
    custom_data: JSON | None = None


@strawberry.input
class UpdateHead:
    id: strawberry.ID
    name: str | None = strawberry.UNSET


@strawberry.input
class UpdateTail:
    type: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    mutually_exclusive: bool | None = strawberry.UNSET
    custom_data: JSON | None = strawberry.UNSET


def given(value: Any) -> Any:
    """An input field left out is UNSET for the use case."""
    return UNSET if value is strawberry.UNSET else value


def create_args(input: CreateFields) -> dict[str, Any]:
    """The create_group arguments of the fields both kinds of group take."""
    return {"name": input.name,
            "nodes": None if input.node_ids is None else [str(i) for i in input.node_ids],
            "parent_id": None if input.parent_id is None else str(input.parent_id),
            "type": input.type, "description": input.description,
            "mutually_exclusive": input.mutually_exclusive, "custom_data": input.custom_data}


def update_args(input: Any) -> dict[str, Any]:
    """The update_group arguments of UpdateHead and UpdateTail (left out: UNSET)."""
    return {"group_id": str(input.id), "name": given(input.name),
            "type": given(input.type), "description": given(input.description),
            "mutually_exclusive": given(input.mutually_exclusive),
            "custom_data": given(input.custom_data)}


def tree_fields(use: Callable[..., Any], type_name: str, module: str) -> tuple[Any, Any]:
    """subGroups and parent of a group type (named `type_name` in `module`), read from the
    page the group came with."""
    lazy = Annotated[type_name, strawberry.lazy(module)]

    def sub_groups(root: Any) -> list[lazy]:  # type: ignore[valid-type]
        return [type(root).of(g, root.page) for g in root.page.tree.children(root.group.id)]

    def parent(root: Any) -> lazy | None:  # type: ignore[valid-type]
        found = root.page.tree.by_id.get(root.group.parent_id or "")
        return type(root).of(found, root.page) if found is not None else None

    return (strawberry.field(resolver=sub_groups, metadata=uses(use),
                             description="Direct sub-groups, ordered by id."),
            strawberry.field(resolver=parent, metadata=uses(use),
                             description="The parent group (null at the top level)."))


def connection(node: Any, name: str) -> tuple[Any, Any]:
    """The Relay types <name>Edge and <name>Connection of `node` (with a total count)."""
    edge = strawberry.type(type(f"{name}Edge", (), {"__annotations__": {
        "cursor": str, "node": node}}))
    return edge, strawberry.type(type(f"{name}Connection", (), {"__annotations__": {
        "edges": list[edge], "page_info": PageInfo,  # type: ignore[valid-type]
        "total_count": int}}))


def payloads(name: str, group_type: Any) -> tuple[Any, Any]:
    """<name>Payload (the group) and Delete<name>Payload (the ids deleted)."""
    payload = strawberry.type(type(f"{name}Payload", (), {"__annotations__": {
        "group": group_type}}))
    deleted = strawberry.type(type(f"Delete{name}Payload", (), {
        "__annotations__": {"deleted_ids": list[strawberry.ID]},
        "deleted_ids": strawberry.field(description="The group and its sub-groups.")}))
    return payload, deleted


def nodes_input(name: str) -> Any:
    return strawberry.input(type(name, (), {"__annotations__": {
        "group_id": strawberry.ID, "node_ids": list[strawberry.ID]}}))


def id_input(name: str) -> Any:
    return strawberry.input(type(name, (), {"__annotations__": {"id": strawberry.ID}}))


@dataclass(frozen=True, slots=True)
class GroupWindow:
    """One page of a group listing for a Relay connection: list_groups pages from an
    inclusive start_id, so one more is read and the anchor dropped."""

    groups: list[Any]
    page: Any
    anchored: bool
    more: bool

    @classmethod
    async def read(cls, list_groups: Callable[..., Awaitable[Any]],
                   caller: Callable[[], Awaitable[Caller]], first: int, after: str | None,
                   **filters: Any) -> "GroupWindow":
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        extra = 1 if anchor is not None and 0 < first < MAX_PAGE else 0
        page = await list_groups(await caller(), start_id=anchor, num_records=first + extra,
                                 node_details=True, **filters)
        listed = page.groups
        if anchor is not None and listed and listed[0].id == anchor:
            listed = listed[1:]
        return cls(listed[:first], page, anchor is not None,
                   page.next_id is not None or len(listed) > first)

    def connection(self, edge: Any, connection_type: Any, present: Callable[[Any], Any]
                   ) -> Any:
        edges = [edge(cursor=encode_cursor(g.id), node=present(g)) for g in self.groups]
        return connection_type(edges=edges, total_count=self.page.total,
                               page_info=PageInfo.of([e.cursor for e in edges],
                                                     has_previous=self.anchored,
                                                     has_next=self.more))


def node_mutation(use: tuple[Callable[..., Any], ...],
                  call: Callable[[Any], Callable[..., Any]],
                  operation: str, input_type: Any, payload: Any,
                  read: Callable[[Ctx, str], Awaitable[Any]], description: str) -> Any:
    """addNodesTo… / removeNodesFrom…: update_group with the operation, then the group
    (`use`: the use cases it calls)."""

    async def resolve(info: Ctx, input: Any) -> Any:
        ctx = info.context
        await call(ctx)(await ctx.caller(), group_id=str(input.group_id),
                                operation=operation, nodes=[str(i) for i in input.node_ids])
        return await read(info, str(input.group_id))

    resolve.__annotations__ = {"info": Ctx, "input": input_type, "return": payload}
    return strawberry.mutation(resolver=resolve, metadata=uses(*use), description=description)
