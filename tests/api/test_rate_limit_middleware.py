"""RateLimitMiddleware around a small app: per IP, per user, per organization, dialects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from adapters.ratelimit.windows import MemoryRequestLimiter
from fleetgate.rate_limits import Identity, RateLimitMiddleware

IDENTITIES = {"alice": Identity("user:a", "org-1"), "bob": Identity("user:b", "org-1"),
              "carol": Identity("user:c", "org-2")}


class Ticks:
    def __init__(self) -> None:
        self.t = 6000.0

    def __call__(self) -> float:
        return self.t


class Harness:
    """The middleware's callbacks, recording how they were called."""

    def __init__(self, org_limits: dict[str, int] | None = None) -> None:
        self.org_limits = org_limits or {"org-1": 1000, "org-2": 1000}
        self.org_limit_calls: list[str] = []
        self.identified: list[str] = []
        self.requests: list[str] = []
        self.ticks = Ticks()

    async def identify(self, token: str) -> Identity | None:
        self.identified.append(token)
        if token == "boom":
            raise RuntimeError("token store down")
        return IDENTITIES.get(token)

    async def org_limit(self, org_id: str) -> int:
        self.org_limit_calls.append(org_id)
        return self.org_limits[org_id]

    def app(self, *, per_ip: int = 1000, per_user: int = 1000) -> RateLimitMiddleware:
        async def ok(_request: Request) -> Response:
            return JSONResponse({"ok": True})

        inner = Starlette(routes=[Route(p, ok, methods=["GET", "POST"])
                                  for p in ("/v1/x", "/api/v1/x", "/graphql", "/health")])
        return RateLimitMiddleware(
            inner, limiter=MemoryRequestLimiter(monotonic=self.ticks), per_ip=per_ip,
            per_user=per_user, identify=self.identify, org_limit=self.org_limit,
            on_request=self.requests.append, exempt=("/health",), monotonic=self.ticks)


def client(app: Any, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 5000)),
                             base_url="http://testserver")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_limit_headers(response: httpx.Response, limit: int, remaining: int) -> None:
    assert response.headers["X-RateLimit-Limit"] == str(limit)
    assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    assert int(response.headers["X-RateLimit-Reset"]) >= 1


@pytest.mark.parametrize(("path", "body_check"), [
    ("/v1/x", lambda b: b["status"] == "failure" and b["error_code"] == 101057
     and "per IP address" in b["description"]),
    ("/api/v1/x", lambda b: b["code"] == "RATE_LIMITED" and b["status"] == 429
     and "per IP address" in b["error"]),
    ("/graphql", lambda b: b["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
     and "per IP address" in b["errors"][0]["message"]),
])
async def test_per_ip_limit_answers_429_in_the_path_dialect(
        path: str, body_check: Callable[[Any], bool]) -> None:
    harness = Harness()
    async with client(harness.app(per_ip=2)) as http:
        first, second = await http.get(path), await http.get(path)
        refused = await http.get(path)
    assert first.status_code == second.status_code == 200
    assert refused.status_code == 429
    assert body_check(refused.json()), refused.json()
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"]
    assert_limit_headers(refused, 2, 0)
    assert "retry in" in refused.text


async def test_another_ip_has_its_own_budget() -> None:
    harness = Harness()
    app = harness.app(per_ip=1)
    async with client(app) as a, client(app, ip="198.51.100.1") as b:
        assert (await a.get("/v1/x")).status_code == 200
        assert (await a.get("/v1/x")).status_code == 429
        assert (await b.get("/v1/x")).status_code == 200


async def test_allowed_responses_carry_decreasing_remaining() -> None:
    harness = Harness()
    async with client(harness.app(per_ip=5)) as http:
        responses = [await http.get("/api/v1/x") for _ in range(3)]
    for response, remaining in zip(responses, (4, 3, 2), strict=True):
        assert response.status_code == 200 and response.json() == {"ok": True}
        assert_limit_headers(response, 5, remaining)


async def test_headers_show_the_tightest_limit() -> None:
    harness = Harness()
    async with client(harness.app(per_ip=100, per_user=3)) as http:
        response = await http.get("/api/v1/x", headers=auth("alice"))
    assert_limit_headers(response, 3, 2)


async def test_per_user_limit_is_independent_of_the_ip() -> None:
    harness = Harness()
    app = harness.app(per_ip=100, per_user=2)
    async with client(app) as a, client(app, ip="198.51.100.1") as b:
        assert (await a.get("/v1/x", headers=auth("alice"))).status_code == 200
        assert (await b.get("/v1/x", headers=auth("alice"))).status_code == 200
        refused = await b.get("/v1/x", headers={"Authorization": "alice"})  # raw token
        assert refused.status_code == 429 and "per user" in refused.json()["description"]
        assert_limit_headers(refused, 2, 0)
        assert (await b.get("/v1/x", headers=auth("bob"))).status_code == 200
        assert (await b.get("/v1/x")).status_code == 200  # anonymous: only the IP limit


async def test_org_limit_is_shared_by_its_members_and_cached() -> None:
    harness = Harness({"org-1": 3, "org-2": 1000})
    app = harness.app(per_ip=100, per_user=100)
    async with client(app) as http:
        statuses = [(await http.get("/api/v1/x", headers=auth(who))).status_code
                    for who in ("alice", "bob", "alice")]
        assert statuses == [200, 200, 200]
        refused = await http.get("/api/v1/x", headers=auth("bob"))
        assert refused.status_code == 429 and "per organization" in refused.json()["error"]
        assert_limit_headers(refused, 3, 0)
        assert (await http.get("/api/v1/x", headers=auth("carol"))).status_code == 200
        assert harness.org_limit_calls == ["org-1", "org-2"]  # cached per organization
        harness.ticks.t += 31  # the cache expired: asked again
        await http.get("/api/v1/x", headers=auth("carol"))
    assert harness.org_limit_calls == ["org-1", "org-2", "org-2"]


async def test_first_refusal_does_not_consume_the_other_limits() -> None:
    harness = Harness({"org-1": 2, "org-2": 1000})
    app = harness.app(per_ip=100, per_user=1)
    async with client(app) as http:
        assert (await http.get("/v1/x", headers=auth("alice"))).status_code == 200
        for _ in range(3):  # refused per user: the organization's budget is untouched
            assert (await http.get("/v1/x", headers=auth("alice"))).status_code == 429
        response = await http.get("/v1/x", headers=auth("bob"))
    assert response.status_code == 200
    assert_limit_headers(response, 1, 0)


async def test_exempt_paths_are_never_limited() -> None:
    harness = Harness()
    async with client(harness.app(per_ip=1)) as http:
        responses = [await http.get("/health", headers=auth("alice")) for _ in range(5)]
    assert all(r.status_code == 200 for r in responses)
    assert "X-RateLimit-Limit" not in responses[0].headers
    assert harness.identified == [] and harness.requests == []


async def test_invalid_token_only_gets_the_ip_limit() -> None:
    harness = Harness()
    async with client(harness.app(per_ip=2, per_user=1)) as http:
        statuses = [(await http.get("/graphql", headers=auth("mallory"))).status_code
                    for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert harness.requests == [] and harness.org_limit_calls == []


async def test_oversized_token_is_not_identified() -> None:
    harness = Harness()
    async with client(harness.app()) as http:
        response = await http.get("/v1/x", headers=auth("a" * 5000))
    assert response.status_code == 200 and harness.identified == []


async def test_identify_raising_still_serves_the_request() -> None:
    harness = Harness()
    async with client(harness.app(per_ip=1)) as http:
        served = await http.get("/v1/x", headers=auth("boom"))
        refused = await http.get("/v1/x", headers=auth("boom"))
    assert served.status_code == 200 and served.json() == {"ok": True}
    assert refused.status_code == 429


async def test_on_request_counts_allowed_identified_requests() -> None:
    harness = Harness({"org-1": 2, "org-2": 1000})
    async with client(harness.app()) as http:
        for who in ("alice", "bob", "alice", "carol"):
            await http.post("/graphql", headers=auth(who))
        await http.get("/v1/x")  # anonymous: not counted
    assert harness.requests == ["org-1", "org-1", "org-2"]


async def test_websocket_scope_passes_through_untouched() -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    harness = Harness()
    middleware = RateLimitMiddleware(inner, limiter=MemoryRequestLimiter(), per_ip=0,
                                     per_user=0, identify=harness.identify,
                                     org_limit=harness.org_limit)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(_message: Message) -> None:
        raise AssertionError("the middleware must not answer a websocket")

    scope: Scope = {"type": "websocket", "path": "/graphql", "client": ("203.0.113.7", 1),
                    "headers": [(b"authorization", b"Bearer alice")]}
    await middleware(scope, receive, send)
    assert seen == [(scope, receive, send)]
    assert harness.identified == []
