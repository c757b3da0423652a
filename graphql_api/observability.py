"""Reports each GraphQL operation (its name, type and the codes of its errors) to an
observer, for metrics. Listed before DomainErrors so it sees the errors as classified."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

DEFAULT_CODE = "GRAPHQL_VALIDATION"  # what the view puts on errors that arrive without one


class OperationObserver(Protocol):
    """Told about every operation once it ended: name as sent (None when anonymous), type
    (query, mutation, subscription; None when the document did not parse), and the
    extensions.code of each error in its result."""

    def operation(self, *, name: str | None, kind: str | None,
                  error_codes: list[str]) -> None: ...


class OperationMetrics(SchemaExtension):
    def __init__(self, observer: OperationObserver) -> None:
        super().__init__()
        self._observer = observer

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        try:
            yield
        except Exception as exc:  # e.g. a syntax error the parser cache raised: the view
            # answers it as an error without a code, which it reports as GRAPHQL_VALIDATION
            extensions = exc.extensions if isinstance(exc, GraphQLError) else None
            self._report([str((extensions or {}).get("code") or DEFAULT_CODE)])
            raise
        result = context.result
        errors = (result.errors if result is not None else context.pre_execution_errors) or []
        self._report([str((e.extensions or {}).get("code") or DEFAULT_CODE) for e in errors])

    def _report(self, codes: list[str]) -> None:
        context = self.execution_context
        try:
            kind: str | None = context.operation_type.value
        except Exception:  # no document (it did not parse), or no such operation in it
            kind = None
        try:
            name = context.operation_name
        except Exception:
            name = None
        self._observer.operation(name=name, kind=kind, error_codes=codes)
