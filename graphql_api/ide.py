"""GraphiQL served from the package, never from a CDN: the page and its scripts and styles
(React, GraphiQL, the explorer plugin, vendored at pinned versions under static/graphiql/;
its README names versions, sources and licences), with a Content-Security-Policy that lets
the page load nothing but this server's own files.

Asset URLs carry a digest of the file (`?v=`) and an SRI hash, so they are cached for a year
and a changed file is a new URL."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

ASSET_PATH = "/static/graphiql"
_DIR = Path(__file__).parent / "static" / "graphiql"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_PLACEHOLDER = re.compile(r"\{\{(src|href):([\w.-]+)\}\}")

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",  # the page's own script is a file too: no inline script runs
    # GraphiQL's dialogs and popovers (radix-ui) set style elements and attributes at run time
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",  # graphiql.min.css embeds its fonts as data: URLs
    "img-src 'self' data:",  # the favicon; GraphiQL's icons are inline SVG
    "connect-src 'self'",  # queries (http) and subscriptions (ws, same host and port)
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
))
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-cache"}
_ASSET_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str  # hex sha256 prefix: the URL's ?v= and the ETag
    integrity: str  # sha384-<base64>, the page's SRI attribute


@functools.cache
def assets() -> dict[str, Asset]:
    """The files the page may load, by name (only .js and .css of the vendored directory:
    nothing else there, such as the README or the page template, is served)."""
    found: dict[str, Asset] = {}
    for path in sorted(_DIR.iterdir()):
        media_type = _MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        found[path.name] = Asset(
            body=body, media_type=media_type, etag=hashlib.sha256(body).hexdigest()[:16],
            integrity="sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode())
    return found


@functools.cache
def graphiql_page() -> str:
    """static/graphiql/graphiql.html with every {{src:name}} / {{href:name}} turned into the
    asset's URL and integrity attribute; an unknown name fails here, at the first request."""
    known = assets()

    def attributes(match: re.Match[str]) -> str:
        kind, name = match.groups()
        asset = known[name]
        return (f'{kind}="{ASSET_PATH}/{name}?v={asset.etag}" '
                f'integrity="{asset.integrity}"')

    return _PLACEHOLDER.sub(attributes, (_DIR / "graphiql.html").read_text(encoding="utf-8"))


async def graphiql_asset(request: Request) -> Response:
    """GET /static/graphiql/<name>: one of the page's files, cached for a year."""
    asset = assets().get(request.path_params["name"])
    if asset is None:
        raise HTTPException(404, "No such GraphiQL asset")
    headers = {"Cache-Control": _ASSET_CACHE, "ETag": f'"{asset.etag}"',
               "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
