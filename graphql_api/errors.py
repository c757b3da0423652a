"""The one place GraphQL maps and logs errors: domain errors get extensions.code (and reason,
retryAfter); anything unexpected is masked as INTERNAL so no stack detail leaks.

What the log says (one line per error, the request id appended by the log handler):

- the client's mistakes (a DomainError the client caused: wrong password, unknown node,
  forbidden, rate limit, quota...; a document that does not parse or validate; a variable
  its type refuses) at INFO, without a traceback;
- a dependency that could not answer (Unavailable, BillingUnavailable) at WARNING, without
  one: the client did nothing wrong, but there is no bug to trace either;
- anything else (a bug) at ERROR, with its traceback.

Strawberry's own logger (strawberry.execution, every error at ERROR with a traceback) is
replaced by FleetgateSchema.process_errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.http.base import HTTPException  # the class strawberry's views turn into 4xx
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

from domain.errors import BillingUnavailable, DomainError, Unavailable

log = logging.getLogger("fleetgate.graphql")

DOCUMENT_CODE = "GRAPHQL_VALIDATION"  # the client's document or variables are wrong
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
MAX_LOGGED_MESSAGE = 500


class Fault(Enum):
    CLIENT = "client"  # the client's doing: INFO
    UNAVAILABLE = "unavailable"  # a dependency did not answer: WARNING
    UNEXPECTED = "unexpected"  # a bug: ERROR with the traceback


def fault_of(error: GraphQLError) -> Fault:
    original = error.original_error
    if isinstance(original, DomainError):
        return Fault.UNAVAILABLE if isinstance(original, Unavailable | BillingUnavailable) \
            else Fault.CLIENT
    if original is None or (isinstance(original, GraphQLError) and error.path is None):
        # parse/validation errors and limiter rejections: the client's document is wrong;
        # a variable value its type refuses (an Int beyond 32 bits, a string for an Int)
        # fails in graphql-core's coercion before execution, with no path
        return Fault.CLIENT
    return Fault.UNEXPECTED


def _classify(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code, "reason": original.reason}
        if original.retry_after:
            extensions["retryAfter"] = original.retry_after
        return GraphQLError(original.message, nodes=error.nodes, source=error.source,
                            positions=error.positions, path=error.path,
                            original_error=original, extensions=extensions)
    if fault_of(error) is Fault.CLIENT:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": DOCUMENT_CODE}
        return error
    return GraphQLError("Internal server error", nodes=error.nodes, path=error.path,
                        extensions={"code": "INTERNAL"})


def one_line(text: str) -> str:
    """Client-supplied text made safe for a log line: control characters (newlines
    included) escaped, so no one can forge a line, and at most MAX_LOGGED_MESSAGE long."""
    if len(text) > MAX_LOGGED_MESSAGE:
        text = text[:MAX_LOGGED_MESSAGE] + "..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def operation_label(name: object) -> str:
    """The operation name as logged: a GraphQL name (64 characters at most), <anonymous>
    when there is none, <invalid> when the client sent something else."""
    if name is None:
        return "<anonymous>"
    return name if isinstance(name, str) and _NAME.fullmatch(name) else "<invalid>"


def log_errors(errors: list[GraphQLError], operation_name: object) -> None:
    label = operation_label(operation_name)
    for error in errors:
        fault = fault_of(error)
        where = ".".join(str(p) for p in error.path) if error.path else None
        field = f" {where}" if where else ""
        original = error.original_error
        if isinstance(original, DomainError):
            log.log(logging.INFO if fault is Fault.CLIENT else logging.WARNING,
                    "GraphQL %s%s: %s (%s): %s", label, field, original.code,
                    one_line(original.reason), one_line(original.message))
        elif fault is Fault.CLIENT:
            code = (error.extensions or {}).get("code") or DOCUMENT_CODE
            log.info("GraphQL %s%s: %s: %s", label, field, one_line(str(code)),
                     one_line(error.message))
        else:
            log.error("GraphQL %s%s: unexpected error: %s", label, field,
                      one_line(error.message), exc_info=original)


class FleetgateSchema(strawberry.Schema):
    """strawberry.Schema whose errors are logged as above (strawberry calls process_errors
    once per error, before extensions see them: queries, mutations and every subscription
    frame alike)."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        name: object = None
        if execution_context is not None:
            try:
                name = execution_context.operation_name
            except Exception:  # no usable document: logged as anonymous
                name = None
        log_errors(errors, name)


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


# --- transport errors: refused before any operation runs -------------------------------------
# /graphql answers them as GraphQL JSON ({"errors": [{"message", "extensions": {"code"}}]}),
# never as text; the codes are stable (docs/errors.md lists them).
INVALID_JSON = "INVALID_JSON"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
MISSING_QUERY = "MISSING_QUERY"
BAD_REQUEST = "BAD_REQUEST"
BATCHING_NOT_SUPPORTED = "BATCHING_NOT_SUPPORTED"
UNKNOWN_OPERATION = "UNKNOWN_OPERATION"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
_BY_STATUS = {400: BAD_REQUEST, 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
              405: METHOD_NOT_ALLOWED, 413: "VALIDATION", 415: UNSUPPORTED_MEDIA_TYPE}
# strawberry's own refusals that carry no cause to tell them apart
_BY_REASON = {"Batching is not enabled": BATCHING_NOT_SUPPORTED,
              "Too many operations": BATCHING_NOT_SUPPORTED}
_REWORDED = {"Batching is not enabled": "Batched requests (a JSON array of operations) are "
                                        "not supported: send one operation per request"}


class TransportError(HTTPException):
    """A request the endpoint refuses before any operation runs, with its stable code and
    the headers its status calls for (Allow on a 405)."""

    def __init__(self, status_code: int, code: str, reason: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, reason)
        self.code, self.headers = code, headers or {}


def transport_error(exc: HTTPException) -> TransportError:
    """What an HTTP-level refusal answers: ours as raised; strawberry's given a code from
    its cause, its reason or its status, and the status the GraphQL-over-HTTP spec wants
    (a mutation sent with GET is 405, POST only)."""
    if isinstance(exc, TransportError):
        return exc
    cause, status, reason = exc.__cause__, exc.status_code, exc.reason
    if isinstance(cause, InvalidOperationTypeError):
        return TransportError(405, METHOD_NOT_ALLOWED, f"{reason}: send them with POST",
                              {"Allow": "POST"})
    if isinstance(cause, CannotGetOperationTypeError):
        return TransportError(400, UNKNOWN_OPERATION, reason)
    if isinstance(cause, MissingQueryError):
        return TransportError(400, MISSING_QUERY,
                              f'{reason}: send {{"query": "..."}} as JSON')
    if status == 405:
        return TransportError(405, METHOD_NOT_ALLOWED,
                              "Method not allowed: /graphql answers GET and POST",
                              {"Allow": "GET, POST"})
    code = _BY_REASON.get(reason) if status == 400 else None
    return TransportError(status, code or _BY_STATUS.get(status, BAD_REQUEST),
                          _REWORDED.get(reason, reason))


def refusal_body(error: TransportError) -> dict[str, object]:
    """The answer's JSON; the refusal is logged at INFO (the client's mistake)."""
    log.info("GraphQL request refused: %s %s: %s", error.status_code, error.code,
             one_line(error.reason))
    return {"errors": [{"message": error.reason, "extensions": {"code": error.code}}]}
