"""Value objects for what sign-in hands out, and the shapes of presented keys and tokens."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts.model import ApiKey


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTokens:
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int


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
