"""The API catalogue policy authors write against: every REST path with its methods (GET
/v1/admin/api_paths_methods) and every permission a use case declares (what a policy can
grant; a resource matching none of them is refused). Filled once the routes are built."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from domain.access.model import Permission, declared_access


class ApiCatalogue:
    def __init__(self) -> None:
        self._paths: list[tuple[str, list[str]]] = []
        self._permissions: frozenset[Permission] = frozenset()

    def load(self, operations: Iterable[Any], graphql_uses: Iterable[Any] = ()) -> None:
        paths: dict[str, set[str]] = {}
        permissions: set[Permission] = set()
        for op in operations:
            paths.setdefault(op.path, set()).add(op.method)
            permissions.add(Permission(op.path, op.method))
            for fn in op.uses:
                access = declared_access(fn)
                if isinstance(access, Permission):
                    permissions.add(access)
        for fn in graphql_uses:
            access = declared_access(fn)
            if isinstance(access, Permission):
                permissions.add(access)
        self._paths = [(p, sorted(m)) for p, m in sorted(paths.items())]
        self._permissions = frozenset(permissions)

    def paths(self) -> Sequence[tuple[str, Sequence[str]]]:
        return self._paths

    def permissions(self) -> frozenset[Permission]:
        return self._permissions


def graphql_uses(schema: Any) -> list[Any]:
    """The use cases every GraphQL root field names in metadata["uses"]."""
    out: list[Any] = []
    for type_name in ("Query", "Mutation", "Subscription"):
        definition = schema.get_type_by_name(type_name)
        for field in getattr(definition, "fields", ()) or ():
            out.extend(field.metadata.get("uses", ()))
    return out
