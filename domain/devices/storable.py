"""What a device may put in a stored document: decoded JSON that every database we run on
stores and gives back as it came, checked before a message joins an ingest batch, so one
device cannot make a batch (with every organization's reports in it) fail to write."""

from __future__ import annotations

import math
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "U+0000 in a string"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate in a string"
    return None


def unstorable(value: Any) -> str | None:
    """Why decoded device JSON cannot be stored, or None when it can.

    - U+0000 in any string, object keys included, however deep: jsonb refuses it and json
      keeps it but cannot give it back as text (every query reading the field would fail);
    - a lone surrogate (U+D800..U+DFFF outside a pair, from a \\uXXXX escape): not UTF-8,
      refused by text, json and jsonb alike;
    - an integer outside the signed 64-bit range: beyond the BIGINT columns (connectivity
      timestamps) and what JSON readers hold exactly;
    - NaN or an infinity (what 1e999 decodes to): not JSON, so json and jsonb refuse it.

    Iterative, so no nesting can exhaust the stack.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return problem
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return "an integer beyond 64 bits"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "a number that is NaN or infinite"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
