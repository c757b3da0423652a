"""Every REST route and every GraphQL field reaches only use cases that declare a permission
or are explicitly public (issue: 'a test lists every GraphQL field and every REST route')."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route

from domain.access.model import Permission, declared_access
from fleetgate.app import create_app
from fleetgate.settings import Settings
from graphql_api.schema import build_schema

# documents and probes, no data (/metrics: operator figures, behind its own bearer token;
# /: the landing page; /static/graphiql/: GraphiQL's vendored files)
UNDECLARED_OK = {"/v1/openapi.json", "/graphql", "/healthz", "/readyz", "/metrics", "/",
                 "/static/graphiql/{name}"}


def _rest_operations() -> list[Any]:
    from fleetgate.app import use_cases
    from fleetgate.container import Container
    from rest_compat.app import rest_operations

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", secret="s" * 40)
    container = Container(settings=settings)
    return rest_operations(use_cases(container), max_body=1024)


def test_every_rest_route_is_in_the_operation_registry() -> None:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", secret="s" * 40)
    app = create_app(settings)
    served = {(m, r.path) for r in app.routes if isinstance(r, Route)
              for m in (r.methods or ()) if m != "HEAD" and r.path not in UNDECLARED_OK}
    registered = {(op.method, op.path) for op in _rest_operations()}
    assert served == registered


@pytest.mark.parametrize("op", _rest_operations(), ids=lambda op: f"{op.method} {op.path}")
def test_rest_operation_declares_its_access(op: Any) -> None:
    if op.public:
        assert all(declared_access(fn) in ("public", None) for fn in op.uses)
        assert not op.auth
        return
    assert op.uses, "a protected operation must name the use cases it calls"
    for fn in op.uses:
        access = declared_access(fn)
        assert isinstance(access, Permission), f"{fn.__qualname__} declares no permission"


def _graphql_fields() -> list[tuple[str, Any]]:
    schema = build_schema(max_depth=10, max_aliases=10, max_tokens=1000, production=False)
    out = []
    for type_name in ("Query", "Mutation"):
        definition = schema.get_type_by_name(type_name)
        assert definition is not None
        for field in definition.fields:  # type: ignore[union-attr]
            out.append((f"{type_name}.{field.python_name}", field))
    return out


FIELDS = _graphql_fields()


@pytest.mark.parametrize(("name", "field"), FIELDS, ids=[n for n, _ in FIELDS])
def test_graphql_root_field_declares_its_access(name: str, field: Any) -> None:
    use_cases = field.metadata.get("uses")
    assert use_cases, f"{name} names no use case in metadata['uses']"
    for fn in use_cases:
        assert declared_access(fn) is not None, f"{name} → {fn.__qualname__} declares nothing"


def test_same_permission_governs_rest_and_graphql_profile() -> None:
    fields = dict(_graphql_fields())
    rest = {(op.method, op.path): op for op in _rest_operations()}
    gql_uses = fields["Query.me"].metadata["uses"]
    assert declared_access(gql_uses[0]) == declared_access(rest[("GET", "/v1/user2")].uses[0])
