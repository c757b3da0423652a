"""A minimal HTTP/1.1 keep-alive load generator on raw asyncio sockets.

General-purpose clients (httpx, aiohttp, requests) spend more CPU per request than a small
Starlette endpoint does, so they would measure themselves. This client pre-encodes one request,
writes it on each of C persistent connections in turn and parses only what it needs: the
status line, Content-Length (or chunked framing) and the body bytes. Every response's status
is recorded, so a non-200 answer is never counted as a success.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

_HEADER_END = b"\r\n\r\n"
_MAX_HEADER_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The server answered with framing this client does not understand."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body or self.method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    keep_alive: bool


@dataclass
class LoadResult:
    latencies_ns: list[int] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected; consume the final CRLF
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def read_response(reader: asyncio.StreamReader) -> Response:
    """Read one response: status line, headers and a Content-Length or chunked body."""
    head = await reader.readuntil(_HEADER_END)
    if len(head) > _MAX_HEADER_BYTES:
        raise ProtocolError("response header too large")
    status, headers = _parse_head(head[: -len(_HEADER_END)])
    keep_alive = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        raise ProtocolError(f"response {status} has neither Content-Length nor chunked body")
    return Response(status=status, body=body, keep_alive=keep_alive)


class _Budget:
    """Hands out request slots to workers until the fixed total is used up."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def _record(result: LoadResult, response: Response, started_ns: int) -> None:
    result.latencies_ns.append(time.perf_counter_ns() - started_ns)
    result.statuses[response.status] += 1
    if response.status != 200 and len(result.error_samples) < 5:
        result.error_samples.append(f"{response.status}: {response.body[:200]!r}")


async def _worker(host: str, port: int, payload: bytes, budget: _Budget,
                  result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget.take():
            started = time.perf_counter_ns()
            writer.write(payload)
            response = await read_response(reader)
            _record(result, response, started)
            if not response.keep_alive:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def run_load(host: str, port: int, request: Request, *, total: int,
                   concurrency: int) -> LoadResult:
    """Send `total` copies of `request` over `concurrency` keep-alive connections."""
    payload = request.encode(f"{host}:{port}")
    budget = _Budget(total)
    result = LoadResult()
    started, cpu_started = time.perf_counter(), time.process_time()
    workers = [_worker(host, port, payload, budget, result)
               for _ in range(min(concurrency, total))]
    await asyncio.gather(*workers)
    result.elapsed_s = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu_started
    return result


async def fetch(host: str, port: int, request: Request) -> Response:
    """One request on a fresh connection (setup calls: health check, login).

    Callers bound it with ``asyncio.timeout``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request.encode(f"{host}:{port}"))
        return await read_response(reader)
    finally:
        writer.close()


def percentile_ms(latencies_ns: list[int], pct: float) -> float:
    """Nearest-rank percentile of the latencies, in milliseconds."""
    if not latencies_ns:
        return float("nan")
    ordered = sorted(latencies_ns)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank] / 1e6
