"""O1 (SECURITY.md): the REST OpenAPI document and the GraphQL SDL as served are committed
under tests/snapshots/, so every change to the API surface shows up in review as a diff of
those files. A mismatch fails with the first differing lines; after checking the change,
FLEETGATE_UPDATE_SNAPSHOTS=1 pytest tests/test_api_snapshots.py rewrites them."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from tests.conftest import Env

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("FLEETGATE_UPDATE_SNAPSHOTS") == "1"


def _compare(name: str, served: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(served, encoding="utf-8")
        return
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if served != committed:
        diff = "".join(list(difflib.unified_diff(
            committed.splitlines(keepends=True), served.splitlines(keepends=True),
            fromfile=f"committed {name}", tofile=f"served {name}"))[:80])
        raise AssertionError(f"the API surface changed; review the diff, then run with "
                             f"FLEETGATE_UPDATE_SNAPSHOTS=1 to accept it:\n{diff}")


async def test_the_openapi_document_matches_its_snapshot(env: Env) -> None:
    r = await env.client.get("/v1/openapi.json")
    assert r.status_code == 200
    _compare("openapi.json", json.dumps(r.json(), indent=1, sort_keys=True,
                                        ensure_ascii=False) + "\n")


async def test_the_graphql_sdl_matches_its_snapshot(env: Env) -> None:
    schema = env.app.state.graphql_schema
    _compare("schema.graphql", schema.as_str() + "\n")
