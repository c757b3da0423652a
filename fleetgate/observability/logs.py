"""Log lines as text or JSON (FLEETGATE_LOG_FORMAT), each carrying the id of the HTTP request
it was written for: taken from a valid X-Request-ID header or generated, echoed back in the
response's X-Request-ID, and kept in a contextvar for every line written while serving it."""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

request_id: ContextVar[str | None] = ContextVar("fleetgate_request_id", default=None)


def accepted_request_id(raw: str | None) -> str:
    """The client's id when it is 1..128 characters of [A-Za-z0-9._-] (so it cannot forge
    log lines or headers), otherwise a new uuid4."""
    if raw is not None and _VALID_ID.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record as `request_id` (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and
    request_id, exc_info and stack_info when there are."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        rid = getattr(record, "request_id", None)
        if rid is not None:
            line["request_id"] = rid
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with ` request_id=<id>` appended inside a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        if rid is None:
            return text
        first, sep, rest = text.partition("\n")  # before a traceback, not after it
        return f"{first} request_id={rid}{sep}{rest}"


def formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"FLEETGATE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                         f"not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler install() adds (so a second call replaces it, and only it)."""


def install(level: str, log_format: str) -> None:
    """The root logger writes to stderr in log_format, with request ids."""
    handler = _StderrHandler()
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class RequestIdMiddleware:
    """Outermost HTTP middleware: sets the request id for everything below and adds the
    X-Request-ID response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                raw = value.decode("latin-1")
                break
        rid = accepted_request_id(raw)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        token = request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # left set on purpose: the server logs this exception right after, in this same
            # task (uvicorn runs each request in a task of its own), and that line is the
            # one most worth its request id
            raise
        request_id.reset(token)
