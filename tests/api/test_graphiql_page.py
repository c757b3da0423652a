"""Issue 17 item 3: GraphiQL loads only this server's own files (vendored React, GraphiQL and
its explorer plugin), under a Content-Security-Policy that allows nothing else; GET / is a
small HTML landing page, which says so when GraphiQL is off (production).
tests/browser/test_graphiql_offline.py renders the page in Chromium with the network cut."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator

import pytest

from fleetgate.settings import Settings
from tests.conftest import Env, start_env, with_settings

HTML = {"Accept": "text/html"}
ASSET = re.compile(r'(?:src|href)="(/static/graphiql/[^"?]+)\?v=([0-9a-f]+)" '
                   r'integrity="(sha384-[^"]+)"')
VENDORED = {"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js",
            "graphiql.min.css", "plugin-explorer.umd.js", "plugin-explorer.css"}


@pytest.fixture
async def prod(settings: Settings) -> AsyncIterator[Env]:
    async for e in start_env(with_settings(settings, production=True)):
        yield e


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


async def test_graphiql_page_loads_nothing_from_another_host(env: Env) -> None:
    r = await env.client.get("/graphql", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "unpkg.com" not in r.text and "https://" not in r.text and "//cdn" not in r.text
    assert "<script>" not in r.text  # no inline script: the CSP forbids them
    names = {m.group(1).rsplit("/", 1)[1] for m in ASSET.finditer(r.text)}
    assert VENDORED | {"fleetgate-graphiql.js", "fleetgate-graphiql.css"} <= names


async def test_graphiql_page_csp_allows_only_the_server_itself(env: Env) -> None:
    r = await env.client.get("/graphql", headers=HTML)
    csp = _directives(r.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    for sources in csp.values():
        assert all(s.startswith("'") or s in ("data:", "'self'") for s in sources), csp
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_every_asset_is_served_with_its_integrity_and_a_long_cache(env: Env) -> None:
    page = (await env.client.get("/graphql", headers=HTML)).text
    found = ASSET.findall(page)
    assert len(found) >= len(VENDORED)
    for path, version, integrity in found:
        r = await env.client.get(f"{path}?v={version}")
        assert r.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(r.content).digest()).decode()
        assert integrity == f"sha384-{digest}", path
        assert hashlib.sha256(r.content).hexdigest().startswith(version)
        assert "max-age=31536000" in r.headers["cache-control"]
        assert "immutable" in r.headers["cache-control"]
        kind = "text/javascript" if path.endswith(".js") else "text/css"
        assert r.headers["content-type"].startswith(kind), path


async def test_vendored_files_are_the_upstream_releases(env: Env) -> None:
    """The hashes strawberry's own page pins for the CDN copies (strawberry 0.341)."""
    upstream = {
        "react.production.min.js":
            "tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
        "graphiql.min.js": "HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
        "plugin-explorer.umd.js":
            "2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    }
    for name, digest in upstream.items():
        body = (await env.client.get(f"/static/graphiql/{name}")).content
        assert base64.b64encode(hashlib.sha384(body).digest()).decode() == digest, name


async def test_an_unchanged_asset_answers_304(env: Env) -> None:
    r = await env.client.get("/static/graphiql/plugin-explorer.css")
    again = await env.client.get("/static/graphiql/plugin-explorer.css",
                                 headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("name", ["README.md", "graphiql.html", "LICENSE.react", "nope.js",
                                  "..%2Fide.py", "%2E%2E%2F%2E%2E%2Fpyproject.toml"])
async def test_only_the_pages_scripts_and_styles_are_served(env: Env, name: str) -> None:
    r = await env.client.get(f"/static/graphiql/{name}")
    assert r.status_code == 404, r.text


async def test_the_root_is_a_landing_page_linking_graphiql_openapi_and_docs(env: Env) -> None:
    r = await env.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for link in ('href="/graphql"', 'href="/v1/openapi.json"', 'href="/healthz"'):
        assert link in r.text
    assert "docs/" in r.text and "README.md" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert (await env.client.get("/v1/openapi.json")).status_code == 200


async def test_in_production_the_landing_page_says_graphiql_is_off(prod: Env) -> None:
    r = await prod.client.get("/")
    assert r.status_code == 200
    assert "GraphiQL is off" in r.text and 'href="/graphql"' not in r.text
    assert 'href="/v1/openapi.json"' in r.text
    assert (await prod.client.get("/static/graphiql/graphiql.min.js")).status_code == 404
