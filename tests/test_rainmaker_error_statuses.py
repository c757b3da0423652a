"""The /v1 dialect answers every error_code with the status Espressif's spec lists for it.

The spec (tests/reference/rainmaker/Rainmaker_Swagger.yaml) documents failures as
"<status>: <br>100010- Node does not belong to user ...". Walking every operation's responses
gives, for each error_code, the statuses it is listed under. Fleetgate's mapping (one table:
rest_compat/errors.py with rest_compat/error_codes/*) must then answer 400 for any code the
spec lists under 400, and the spec's own status for a code it lists only under another 4xx
(404 for 101025, for instance). The few deliberate exceptions are listed here and in
docs/rainmaker-errors.md, each with its reason.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
import yaml

from rest_compat.errors import BY_CODE, BY_REASON

SPEC = Path(__file__).parent / "reference" / "rainmaker" / "Rainmaker_Swagger.yaml"
DOCS = Path(__file__).parent.parent / "docs" / "rainmaker-errors.md"
METHODS = {"get", "put", "post", "delete", "patch"}
LISTED_CODE = re.compile(r"(\d{6})\s*-")

# (mapping key -> status) answered differently from the spec on purpose; see docs/
DEVIATIONS: dict[str, int] = {
    # a missing, invalid or expired credential: clients drop or extend their session on 401
    "UNAUTHENTICATED": 401, "missing_token": 401, "invalid_token": 401, "session_ended": 401,
    # HTTP transport refusals, answered before any RainMaker operation runs
    "body_too_large": 413, "unsupported_media_type": 415, "blob_too_large": 413,
    # back off and retry after Retry-After, not fix the request
    "RATE_LIMITED": 429,
    # a dependency is down: a server-side failure, not the client's
    "UNAVAILABLE": 503,
}


@cache
def statuses_by_code() -> dict[int, frozenset[int]]:
    """error_code -> every HTTP status the spec lists it under, across all operations."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    found: dict[int, set[int]] = defaultdict(set)
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, response in operation.get("responses", {}).items():
                for code in LISTED_CODE.findall(str(response.get("description", ""))):
                    found[int(code)].add(int(status))
    return {code: frozenset(statuses) for code, statuses in found.items()}


def answers() -> list[tuple[str, int, int]]:
    """(mapping key, status, error_code) for everything the /v1 dialect can answer."""
    return [(key, status, code) for table in (BY_CODE, BY_REASON)
            for key, (status, code) in table.items()]


def test_the_spec_lists_hundreds_of_codes_under_400() -> None:
    listed = statuses_by_code()
    assert sum(400 in statuses for statuses in listed.values()) > 400
    assert listed[100010] == {400} and 404 in listed[101025]


def test_error_codes_are_integers() -> None:
    assert all(isinstance(code, int) and not isinstance(code, bool) for _, _, code in answers())


def listed_under_400() -> list[tuple[str, int, int]]:
    return [a for a in answers() if 400 in statuses_by_code().get(a[2], ())]


def listed_only_under_another_4xx() -> list[tuple[str, int, int]]:
    def other(code: int) -> set[int]:
        return {s for s in statuses_by_code().get(code, ()) if 400 <= s < 500}
    return [a for a in answers() if other(a[2]) and 400 not in other(a[2])]


@pytest.mark.parametrize(("key", "status", "code"), listed_under_400(), ids=str)
def test_every_code_the_spec_lists_under_400_is_answered_400(key: str, status: int,
                                                             code: int) -> None:
    listed = sorted(statuses_by_code()[code])
    assert status == DEVIATIONS.get(key, 400), (
        f"{key} answers {status} with {code}, which the spec lists under {listed}")


@pytest.mark.parametrize(("key", "status", "code"), listed_only_under_another_4xx(), ids=str)
def test_a_code_listed_only_under_another_4xx_keeps_that_status(key: str, status: int,
                                                                code: int) -> None:
    listed = sorted(statuses_by_code()[code])
    assert status in listed, f"{key} answers {status}; the spec lists {code} under {listed}"


def test_the_walk_covers_most_of_what_fleetgate_answers() -> None:
    assert len(listed_under_400()) > 200 and len(listed_only_under_another_4xx()) >= 10


def test_the_deviations_are_real_and_documented() -> None:
    mapped = {key: status for key, status, _ in answers()}
    assert {key: mapped.get(key) for key in DEVIATIONS} == DEVIATIONS
    text = DOCS.read_text(encoding="utf-8")
    for key in DEVIATIONS:
        assert f"`{key}`" in text, f"docs/rainmaker-errors.md does not explain {key}"
