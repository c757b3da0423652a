"""The ASGI GraphQL endpoint: builds a fresh Context per request (nothing shared between
requests), with body-size and batching limits."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from domain.accounts.use_cases import AccountUseCases
from graphql_api.context import Context


def _token(headers: Any) -> str | None:
    value = (headers.get("authorization") or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest.strip() else value


class FleetgateGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: Any, accounts: AccountUseCases, *, production: bool,
                 allowed_origins: tuple[str, ...] = ()) -> None:
        super().__init__(schema, graphql_ide=None if production else "graphiql",
                         allow_queries_via_get=not production,
                         allowed_origins=allowed_origins)
        self._accounts = accounts

    async def get_context(self, request: Request | WebSocket,
                          response: Response | WebSocket | None) -> Context:
        host = request.headers.get("host", "")
        return Context(accounts=self._accounts, token=_token(request.headers),
                       ip=request.client.host if request.client else "unknown",
                       host=host.rsplit(":", 1)[0].lower() if host else None)
