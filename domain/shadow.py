"""Thing-shadow JSON merge, the rule RainMaker uses for node metadata and group custom_data:

1. the whole document `null` deletes it;
2. `{}` changes nothing;
3. keys of an object are added or replaced, nested objects merge key by key;
4. a key set to `null` is deleted;
5. arrays (and every non-object value) replace what was there.
"""

from __future__ import annotations

from typing import Any

from domain.errors import ValidationFailed

MAX_DEPTH = 8


def merge_shadow(current: dict[str, Any] | None, patch: object) -> dict[str, Any] | None:
    """The document after applying `patch` to `current` (neither is modified)."""
    if patch is None:
        return None
    if not isinstance(patch, dict):
        raise ValidationFailed("metadata must be a JSON object or null", reason="invalid_body")
    return _merge(dict(current or {}), patch, 1)


def _merge(base: dict[str, Any], patch: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"metadata nests deeper than {MAX_DEPTH} levels",
                               reason="invalid_body")
    for key, value in patch.items():
        if not isinstance(key, str):
            raise ValidationFailed("metadata keys must be strings", reason="invalid_body")
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(dict(base[key]), value, depth + 1)
        elif isinstance(value, dict):
            base[key] = _merge({}, value, depth + 1)
        else:
            base[key] = value
    return base
