"""Rate limits on every HTTP request: per client IP, per signed-in user or API key, and per
organization (the organization's limit comes from its billing plan)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.access.model import REQUEST_PRINCIPAL
from domain.errors import RateLimited
from ports.services import RateDecision, RequestRateLimiter
from rest_compat.errors import error_response

log = logging.getLogger("fleetgate.ratelimit")

MAX_TOKEN_CHARS = 4096
ORG_LIMIT_TTL = 30.0  # seconds an organization's limit is cached
MAX_CACHED_ORGS = 10_000

_SCOPES = {"ip": "per IP address", "user": "per user", "org": "per organization"}


@dataclass(frozen=True)
class Identity:
    subject: str  # "user:<id>" or "key:<id>"
    org_id: str
    principal: object = None  # kept on the request (PRINCIPAL_KEY): the route need not
    # authenticate the same token again


class RateLimitMiddleware:
    """Pure ASGI middleware limiting http requests; websocket and lifespan pass through.

    Limits are consumed in order ip, user, organization; the first refusal answers 429 at
    once (the remaining limits are not consumed). Allowed responses carry the
    X-RateLimit-* headers of the limit with the fewest requests remaining.
    """

    def __init__(self, app: ASGIApp, *, limiter: RequestRateLimiter, per_ip: int, per_user: int,
                 identify: Callable[[str], Awaitable[Identity | None]],
                 org_limit: Callable[[str], Awaitable[int]], window_seconds: int = 60,
                 on_request: Callable[[str], None] | None = None, exempt: tuple[str, ...] = (),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.app, self.limiter = app, limiter
        self.per_ip, self.per_user, self.window_seconds = per_ip, per_user, window_seconds
        self.identify, self.org_limit, self.on_request = identify, org_limit, on_request
        self.exempt = exempt
        self._now = monotonic
        self._org_limits: OrderedDict[str, tuple[float, int]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or (self.exempt and path.startswith(self.exempt)):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = client[0] if client else "unknown"
        decisions: list[RateDecision] = []
        decision = await self._consume(f"ip:{host}", self.per_ip)
        if not decision.allowed:
            await self._refuse(scope, receive, send, "ip", decision)
            return
        decisions.append(decision)
        identity = await self._identity(scope)
        if identity is not None:
            decision = await self._consume(f"user:{identity.subject}", self.per_user)
            if not decision.allowed:
                await self._refuse(scope, receive, send, "user", decision)
                return
            decisions.append(decision)
            org_limit = await self._org_limit(identity.org_id)
            if org_limit is not None:
                decision = await self._consume(f"org:{identity.org_id}", org_limit)
                if not decision.allowed:
                    await self._refuse(scope, receive, send, "org", decision)
                    return
                decisions.append(decision)
            if self.on_request is not None:
                try:
                    self.on_request(identity.org_id)
                except Exception:
                    log.warning("on_request failed for organization %s", identity.org_id,
                                exc_info=True)
        tightest = min(decisions, key=lambda d: (d.remaining, d.limit))
        extra = [(name.encode(), value.encode()) for name, value in _headers(tightest).items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _consume(self, key: str, limit: int) -> RateDecision:
        return await self.limiter.consume(key, limit=limit, window_seconds=self.window_seconds)

    async def _identity(self, scope: Scope) -> Identity | None:
        token = _token(scope)
        if token is None:
            return None
        try:
            identity = await self.identify(token)
        except Exception:
            log.warning("identify failed; only the IP limit applies", exc_info=True)
            return None
        if identity is not None and identity.principal is not None:
            scope[REQUEST_PRINCIPAL] = (token, identity.principal)
        return identity

    async def _org_limit(self, org_id: str) -> int | None:
        """The organization's limit, cached ORG_LIMIT_TTL seconds; None when it cannot be
        read (the organization limit is then skipped for this request)."""
        now = self._now()
        cached = self._org_limits.get(org_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            limit = await self.org_limit(org_id)
        except Exception:
            log.warning("org_limit failed for organization %s", org_id, exc_info=True)
            return None
        self._org_limits[org_id] = (now + ORG_LIMIT_TTL, limit)
        self._org_limits.move_to_end(org_id)
        while len(self._org_limits) > MAX_CACHED_ORGS:
            self._org_limits.popitem(last=False)
        return limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, which: str,
                      decision: RateDecision) -> None:
        retry = max(1, decision.reset_seconds)
        message = (f"Too many requests {_SCOPES[which]}: at most {decision.limit} per "
                   f"{self.window_seconds} s; retry in {retry} s")
        path: str = scope.get("path", "")
        if path.startswith("/v1"):
            response = error_response(RateLimited(message, reason="rate_limited",
                                                  retry_after=retry))
        elif path.startswith("/graphql"):
            response = JSONResponse({"errors": [{"message": message,
                                                 "extensions": {"code": "RATE_LIMITED"}}]},
                                    status_code=429)
        else:
            response = JSONResponse({"error": message, "code": "RATE_LIMITED", "status": 429},
                                    status_code=429)
        response.headers.update({"Retry-After": str(retry), **_headers(decision)})
        await response(scope, receive, send)


RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def _headers(decision: RateDecision) -> dict[str, str]:
    return dict(zip(RATE_LIMIT_HEADERS, (str(decision.limit), str(decision.remaining),
                                         str(decision.reset_seconds)), strict=True))


def _token(scope: Scope) -> str | None:
    """The Authorization header's token (``Bearer <t>`` or a raw token, as RainMaker clients
    send it); None when absent, empty or over MAX_TOKEN_CHARS."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            if len(value) > MAX_TOKEN_CHARS:
                return None
            token = value.decode("latin-1").strip()
            if token[:7].lower() == "bearer ":
                token = token[7:].strip()
            return token or None
    return None
