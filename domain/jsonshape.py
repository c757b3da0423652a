"""Shape limits for JSON that arrives from outside (request bodies, device payloads)."""

from __future__ import annotations

from typing import Any


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when objects/arrays nest deeper than `limit` (iterative: no recursion to blow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False
