"""Infrastructure ports: time, ids, secrets, tokens, mail, rate limits and authorization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.access.model import Permission, Principal
from domain.access.rbac.model import NodeReach, Rule
from domain.accounts.model import ApiKey
from domain.blobs.model import StoredBlob


class Clock(Protocol):
    """The current time, timezone-aware UTC."""

    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    """Identifiers, secrets and human-typed codes."""

    def new_id(self) -> str: ...
    def short_id(self) -> str: ...
    def secret(self) -> str: ...
    def numeric_code(self, digits: int) -> str: ...


class PasswordHasher(Protocol):
    """Slow password hashing (argon2id) with parameter upgrades."""

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessClaims:
    user_id: str
    org_id: str
    session_id: str
    expires_at: datetime


class TokenIssuer(Protocol):
    """Signed access and id tokens (JWTs) and their verification."""

    def access_token(self, *, user_id: str, org_id: str, session_id: str) -> str: ...
    def id_token(self, *, user_id: str, org_id: str, email: str, name: str) -> str: ...
    def verify_access(self, token: str) -> AccessClaims:
        """Raises domain.errors.Unauthenticated for any invalid, expired or wrong-type token."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingMessage:
    org_id: str
    to: str
    subject: str
    body: str
    kind: str


class Outbox(Protocol):
    """Delivers messages to people (verification codes, notifications)."""

    async def send(self, message: OutgoingMessage) -> None: ...


class RateLimiter(Protocol):
    """Counts hits on a key in a sliding window."""

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        """Records a hit; returns None when allowed, else seconds until the next is allowed."""
        ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int  # requests left in the window after this one (0 when refused)
    reset_seconds: int  # until the window frees a request (Retry-After when refused)


class RequestRateLimiter(Protocol):
    """Counts every API request against a key (ip, user, organization) in a window."""

    async def consume(self, key: str, *, limit: int, window_seconds: int) -> RateDecision: ...


class Authorizer(Protocol):
    """Decides whether a principal may use a permission in its organization."""

    async def authorize(self, principal: Principal, permission: Permission) -> None:
        """Raises domain.errors.Forbidden when not allowed."""
        ...

    def allowed(self, principal: Principal, permission: Permission) -> bool: ...

    def explain(self, principal: Principal, permission: Permission
                ) -> tuple[list[Rule], list[Rule], bool]:
        """(every rule that matched, the rules that decided, allowed)."""
        ...

    def node_reach(self, principal: Principal, permission: Permission
                   ) -> tuple[NodeReach, ...] | None:
        """The node filters narrowing what the permission reaches; None: every node."""
        ...


class PrincipalLookup(Protocol):
    """Loads the live state behind a credential in one query (so revocation is immediate)."""

    async def user_principal(self, org_id: str, user_id: str, session_id: str,
                             now: datetime) -> Principal | None:
        """The user behind an active session, with its roles; None when the session ended."""
        ...

    async def api_key(self, key_id: str) -> ApiKey | None:
        """An API key with its roles, whatever its organization."""
        ...


class NodeSignatures(Protocol):
    """Checks what a node signed with its own private key (challenge-response mapping,
    proxied node payloads)."""

    def normalize_public_key(self, pem: str) -> str:
        """The key as canonical PEM; raises ValueError for anything but an EC (P-256/P-384)
        or RSA (>= 2048 bit) public key."""
        ...

    def verify(self, public_key_pem: str, message: bytes, signature_hex: str) -> bool:
        """True when signature_hex (hex of an ECDSA-SHA256 DER signature, or an RSA-PSS
        SHA-256 signature) signs message under the key; False for any mismatch."""
        ...


class BlobStore(Protocol):
    """Binary objects (firmware images) under slash-separated keys, written and read as
    streams; size and MD5 are computed while writing."""

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int
                  ) -> StoredBlob:
        """Stores the stream under key, replacing any earlier content atomically. Raises
        domain.errors.ValidationFailed(reason="blob_too_large") as soon as more than
        max_bytes arrive, and reason="invalid_blob_key" for a bad key; a failed put leaves
        nothing behind (the earlier content, if any, stays)."""
        ...

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The content as a stream of chunks (``async for chunk in await store.open(key)``).
        Raises domain.errors.NotFound(reason="blob_not_found") when awaited if there is no
        such blob, so an HTTP handler can answer 404 before it starts streaming."""
        ...

    async def head(self, key: str) -> StoredBlob | None: ...

    async def delete(self, key: str) -> None:
        """Removes the blob; does nothing when it does not exist."""
        ...
