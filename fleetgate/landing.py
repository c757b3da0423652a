"""GET /: a small HTML page saying what this server is and where its APIs are (GraphiQL, the
OpenAPI document, health, the docs), instead of a JSON 404 for someone who opens the URL."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;"
          "padding:0 1rem;line-height:1.5;color:#222}code{background:#f3f3f3;padding:0 .2em}"
          "li{margin:.3rem 0}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
HEADERS = {"Content-Security-Policy": f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                                      "base-uri 'none'; form-action 'none'; "
                                      "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

_GRAPHIQL_ON = ('<li><a href="/graphql">GraphiQL</a>: the GraphQL API in your browser '
                '(queries, mutations, live subscriptions; sign in with the '
                '<code>login</code> mutation and put the token in the Headers tab).</li>')
_GRAPHIQL_OFF = ("<li>GraphiQL is off: this server runs in production "
                 "(<code>FLEETGATE_ENV=production</code>). The GraphQL API still answers "
                 "<code>POST /graphql</code>.</li>")


def landing_page(*, version: str, production: bool) -> str:
    graphiql = _GRAPHIQL_OFF if production else _GRAPHIQL_ON
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Fleetgate</title><style>{_STYLE}</style></head>
<body>
<h1>Fleetgate {escape(version)}</h1>
<p>A self-hostable device cloud: a GraphQL API and an ESP RainMaker compatible REST API
for your nodes, their params, sharing, groups and OTA updates.</p>
<ul>
{graphiql}
<li><a href="/v1/openapi.json">/v1/openapi.json</a>: the OpenAPI document of the REST API
(RainMaker's <code>/v1</code> dialect).</li>
<li><a href="/healthz">/healthz</a> (liveness) and <a href="/readyz">/readyz</a>
(readiness).</li>
<li>Documentation: <code>README.md</code> and the <code>docs/</code> folder of the Fleetgate
repository or source distribution (one page per topic); this server does not serve them.</li>
</ul>
</body>
</html>
"""


def landing(*, version: str, production: bool) -> Callable[[Request], Awaitable[Response]]:
    """The route handler for GET /, its page rendered once."""
    page = landing_page(version=version, production=production)

    async def handler(_request: Request) -> Response:
        return HTMLResponse(page, headers=HEADERS)

    return handler
