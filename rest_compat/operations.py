"""The registry of REST compat operations: each route, the use cases it calls (whose declared
permissions the authorization guard checks), and the schemas its OpenAPI entry shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    uses: tuple[Callable[..., Any], ...] = ()
    public: bool = False
    auth: bool = True
    extra_statuses: tuple[int, ...] = ()  # failures beyond the common ones (401 on public ops)
    optional_auth: bool = False  # anonymous allowed, but credentials sent must be valid (401)
    deprecated: bool = False
    request_body: dict[str, Any] | None = None
    body_required: bool = True
    query: tuple[dict[str, Any], ...] = ()
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)

    def alias(self, path: str, operation_id: str) -> Operation:
        """The same operation under a deprecated path RainMaker still documents."""
        return Operation(**{**{f: getattr(self, f) for f in self.__dataclass_fields__},
                            "path": path, "operation_id": operation_id, "deprecated": True,
                            "summary": f"[deprecated alias] {self.summary}"})
