"""Value objects for what sign-in hands out, and the shapes of presented keys and tokens."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from domain.accounts.model import ApiKey


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTokens:
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int


class RefreshMode(Enum):
    """How a session extension treats the refresh token it was given.

    ROTATE: the token works once and the answer carries its successor; presenting a used
    token again is a reuse and revokes the session (GraphQL, /api/v1 clients).
    KEEP: the token keeps working for its session's lifetime and the answer hands the same
    token back (RainMaker's login2: its clients keep the login's token and drop any other).
    A token that ROTATE already replaced is a reuse in either mode.
    """

    ROTATE = "rotate"
    KEEP = "keep"


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedApiKey:
    """The only moment the plain key exists outside the caller's hands."""

    key: str
    record: ApiKey


API_KEY_PREFIX = "sk_"
REFRESH_PREFIX = "rt_"


def parse_api_key(token: str) -> tuple[str, str] | None:
    """`sk_<id>_<secret>` → (id, secret), or None when it is not shaped like a key."""
    if not token.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not sep or not key_id.isalnum() or len(key_id) > 32 or not secret or len(secret) > 128:
        return None
    return key_id, secret
