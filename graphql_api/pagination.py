"""The connection kit every paginated GraphQL list uses: opaque cursors and PageInfo."""

from __future__ import annotations

import base64

import strawberry

from domain.errors import ValidationFailed


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(f"k:{value}".encode()).decode()


def decode_cursor(cursor: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return raw[2:] if raw.startswith("k:") and 0 < len(raw) <= 66 else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next: bool, has_previous: bool) -> PageInfo:
        """The page info of a page whose edges carry these cursors, in order."""
        return cls(has_next_page=has_next, has_previous_page=has_previous,
                   start_cursor=cursors[0] if cursors else None,
                   end_cursor=cursors[-1] if cursors else None)


def after_anchor(after: str | None) -> str | None:
    """The id a page starts after (None: the first page); a bad cursor is refused."""
    if after is None:
        return None
    anchor = decode_cursor(after)
    if anchor is None:
        raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
    return anchor
