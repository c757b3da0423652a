"""Shape limits for JSON that arrives from outside (request bodies, device payloads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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


def strings_in(value: Any) -> Iterator[str]:
    """Every string of decoded JSON, object keys included, however deep (iterative)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


MAX_DEVICE_MESSAGE_BYTES = 64 * 1024
MAX_DEVICE_MESSAGE_DEPTH = 16


def decode_device_message(payload: bytes) -> Any:
    """A device's JSON message (any topic), or raises ValueError for oversize, undecodable
    or too deep documents."""
    if len(payload) > MAX_DEVICE_MESSAGE_BYTES:
        raise ValueError("payload too large")
    value = json.loads(payload.decode("utf-8"))
    if nesting_exceeds(value, MAX_DEVICE_MESSAGE_DEPTH):
        raise ValueError("payload nested too deep")
    return value
