"""The one place GraphQL maps errors: domain errors get extensions.code (and reason,
retryAfter); anything unexpected is masked as INTERNAL so no stack detail leaks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError

log = logging.getLogger("fleetgate.graphql")


def _classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code, "reason": original.reason}
        if original.retry_after:
            extensions["retryAfter"] = original.retry_after
        return GraphQLError(original.message, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            original_error=original, extensions=extensions)
    if original is None or (isinstance(original, GraphQLError) and error.path is None):
        # parse/validation errors and limiter rejections: the client's document is wrong;
        # a variable value its type refuses (an Int beyond 32 bits, a string for an Int)
        # fails in graphql-core's coercion before execution, with no path
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION"}
        return error
    log.error("unexpected error in GraphQL resolver", exc_info=original)
    return GraphQLError("Internal server error", nodes=error.nodes, path=error.path,
                        extensions={"code": "INTERNAL"})


class DomainErrors(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_classify(e) for e in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each frame of a subscription (graphql-transport-ws), before it is sent."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [e if (e.extensions or {}).get("code") else _classify(e)
                             for e in errors]
        yield
