"""Use cases for organization API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from domain.access.model import Caller, api_key_subject, requires
from domain.access.permissions import API_KEYS
from domain.accounts.model import ADMIN, ApiKey, check_api_key_name
from domain.accounts.tokens import API_KEY_PREFIX, IssuedApiKey
from domain.errors import NotFound, ValidationFailed
from domain.hashing import sha256_hex
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator
from ports.signals import SessionSignals, announce

MAX_PAGE = 100
MAX_TTL_DAYS = 3650


class ApiKeys:
    """Create, list and revoke the organization's API keys."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, signals: SessionSignals | None = None) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._signals = signals

    @requires(API_KEYS, "POST")
    async def create_api_key(self, caller: Caller, *, name: object,
                             expires_in_days: object = None) -> IssuedApiKey:
        """Creates an admin-level key for the caller's organization and returns it once.

        - only a SHA-256 of the whole key is stored; the plain key is never shown again;
        - names are 1..100 characters; an optional lifetime of 1..3650 days.
        """
        principal = caller.require_principal()
        clean = check_api_key_name(name)
        expires_at = None
        if expires_in_days is not None:
            if not isinstance(expires_in_days, int) or isinstance(expires_in_days, bool) \
                    or not 1 <= expires_in_days <= MAX_TTL_DAYS:
                raise ValidationFailed("expires_in_days must be 1..3650", reason="invalid_ttl")
            expires_at = self._clock.now() + timedelta(days=expires_in_days)
        key_id = self._ids.short_id()
        plain = f"{API_KEY_PREFIX}{key_id}_{self._ids.secret()}"
        key = ApiKey(id=key_id, org_id=principal.org_id, name=clean, secret_hash=sha256_hex(plain),
                     created_at=self._clock.now(), created_by=principal.user_id,
                     roles={ADMIN}, expires_at=expires_at)
        async with self._uow(principal.org_id) as uow:
            await uow.api_keys.add(key)
            await uow.commit()
        return IssuedApiKey(key=plain, record=key)

    @requires(API_KEYS, "GET")
    async def list_api_keys(self, caller: Caller, *, after: str | None = None,
                            limit: int = 20) -> tuple[Sequence[ApiKey], bool]:
        """A page of the organization's keys (newest last) and whether more follow."""
        principal = caller.require_principal()
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed("first must be 1..100", reason="invalid_page")
        async with self._uow(principal.org_id) as uow:
            keys = await uow.api_keys.list(after=after, limit=limit + 1)
        return keys[:limit], len(keys) > limit

    @requires(API_KEYS, "DELETE")
    async def revoke_api_key(self, caller: Caller, *, key_id: str) -> ApiKey:
        """Revokes a key of the caller's organization; it fails on its next use.

        - another organization's key id is NOT_FOUND, like an unknown one;
        - its live connections (subscriptions) are closed at once, on every replica.
        """
        principal = caller.require_principal()
        if not (key_id.isascii() and key_id.isalnum() and len(key_id) <= 32):
            raise NotFound("API key does not exist", reason="not_found")
        async with self._uow(principal.org_id) as uow:
            key = await uow.api_keys.get(key_id)
            if key is None or key.org_id != principal.org_id:
                raise NotFound("API key does not exist", reason="not_found")
            key.revoke(self._clock.now())
            await uow.api_keys.save(key)
            await uow.commit()
        await announce(self._signals, api_key_subject(key.id))
        return key
