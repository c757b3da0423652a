"""Use cases for signing in and out, and for turning a presented credential into a Principal."""

from __future__ import annotations

import hmac
from datetime import timedelta

from domain.access.model import Caller, Principal, PrincipalKind, public, requires, user_subject
from domain.access.permissions import LOGOUT
from domain.accounts.model import SESSION_TTL, Session, User, normalize_user_name
from domain.accounts.probing import Limits, throttle
from domain.accounts.tokens import REFRESH_PREFIX, RefreshMode, SessionTokens, parse_api_key
from domain.errors import Unauthenticated, ValidationFailed
from domain.hashing import sha256_hex
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import (
    Authorizer,
    Clock,
    IdGenerator,
    PasswordHasher,
    PrincipalLookup,
    RateLimiter,
    TokenIssuer,
)
from ports.signals import SessionSignals, announce

ACCESS_TTL_SECONDS = 3600
_BAD_LOGIN = "Incorrect user name or password"


class Sessions:
    """Login, session extension (rotating or kept refresh tokens), logout, authentication."""

    def __init__(self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, tokens: TokenIssuer,
                 ids: IdGenerator, clock: Clock, limiter: RateLimiter, authorizer: Authorizer,
                 principals: PrincipalLookup, limits: Limits | None = None,
                 signals: SessionSignals | None = None) -> None:
        self._uow, self._hasher, self._tokens, self._ids = uow, hasher, tokens, ids
        self._signals = signals
        self._clock, self._limiter, self.authorizer = clock, limiter, authorizer
        self._principals, self._limits = principals, limits or Limits()
        # Verifying against a real hash when the user does not exist keeps response times
        # alike, so user names cannot be probed by timing.
        self._dummy_hash = hasher.hash("Dummy-password-0")

    async def _open_session(self, uow: UnitOfWork, user: User) -> SessionTokens:
        now = self._clock.now()
        session = Session(id=self._ids.new_id(), org_id=user.org_id, user_id=user.id,
                          created_at=now, expires_at=now + SESSION_TTL)
        await uow.sessions.add(session)
        return await self._tokens_for(uow, user, session)

    async def _tokens_for(self, uow: UnitOfWork, user: User, session: Session,
                          kept_refresh: str | None = None) -> SessionTokens:
        refresh = kept_refresh
        if refresh is None:
            refresh = f"{REFRESH_PREFIX}{self._ids.secret()}"
            await uow.sessions.add_refresh_token(session.id, sha256_hex(refresh), user.org_id)
        return SessionTokens(
            access_token=self._tokens.access_token(user_id=user.id, org_id=user.org_id,
                                                   session_id=session.id),
            id_token=self._tokens.id_token(user_id=user.id, org_id=user.org_id,
                                           email=user.user_name, name=user.name),
            refresh_token=refresh,
            expires_in=ACCESS_TTL_SECONDS,
        )

    @public
    async def login(self, caller: Caller, *, user_name: object, password: object) -> SessionTokens:
        """Signs a confirmed user in with a password and opens a new session.

        - every attempt counts against per-IP and per-user-name limits (429 beyond them);
        - unknown user and wrong password give the same answer;
        - an unconfirmed account is told so only after the right password;
        - a hash made with weaker argon2 parameters is upgraded on success.
        """
        normalized = normalize_user_name(user_name)
        await throttle(self._limiter, "login", caller, normalized, self._limits)
        if not isinstance(password, str) or not password:
            raise ValidationFailed("Password is missing", reason="password_missing")
        async with self._uow(SYSTEM_SCOPE) as uow:
            user = await uow.users.get_by_user_name(normalized)
            if user is None:
                self._hasher.verify(self._dummy_hash, password)
                raise Unauthenticated(_BAD_LOGIN, reason="bad_credentials")
            if not self._hasher.verify(user.password_hash, password):
                raise Unauthenticated(_BAD_LOGIN, reason="bad_credentials")
            if not user.confirmed:
                raise Unauthenticated("Account is not verified", reason="not_verified")
            if self._hasher.needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
                await uow.users.save(user)
            tokens = await self._open_session(uow, user)
            await uow.commit()
        return tokens

    @public
    async def refresh(self, caller: Caller, *, refresh_token: object,
                      user_name: object = None,
                      mode: RefreshMode = RefreshMode.ROTATE) -> SessionTokens:
        """Extends a session: new access and id tokens, and the refresh token to use next.

        - ROTATE (the default): each refresh token works once and the answer carries a new
          one; presenting a used one revokes its whole session (every token of that family),
          because it means the token was stolen or replayed; two concurrent refreshes with
          one token: one wins, the other is a reuse;
        - KEEP (RainMaker's login2): the token is not used up; it keeps extending its session
          until the session ends (30 days after login, logout, password change), and the
          answer hands it back unchanged;
        - in both modes a token that a rotation already replaced is a reuse and revokes the
          session, so a kept token that was also rotated elsewhere is still caught;
        - a user_name, when given, must be the session's user.
        """
        if not isinstance(refresh_token, str) or not refresh_token.startswith(REFRESH_PREFIX):
            raise Unauthenticated("Refresh token failed", reason="refresh_failed")
        token_hash = sha256_hex(refresh_token)
        now = self._clock.now()
        async with self._uow(SYSTEM_SCOPE) as uow:
            found = await uow.sessions.find_refresh_token(token_hash)
            if found is None:
                raise Unauthenticated("Refresh token failed", reason="refresh_failed")
            session_id, used = found
            session = await uow.sessions.get(session_id)
            if session is None or not session.active(now):
                raise Unauthenticated("Refresh token failed", reason="refresh_failed")
            if used or (mode is RefreshMode.ROTATE
                        and not await uow.sessions.claim_refresh_token(token_hash, now)):
                session.revoke(now)
                await uow.sessions.save(session)
                await uow.commit()
                await announce(self._signals, user_subject(session.user_id))
                raise Unauthenticated("Refresh token reused; session revoked",
                                      reason="refresh_reused")
            user = await uow.users.get(session.user_id)
            if user is None:
                raise Unauthenticated("Refresh token failed", reason="refresh_failed")
            if user_name not in (None, "") and normalize_user_name(user_name) != user.user_name:
                raise Unauthenticated("Refresh token failed", reason="refresh_failed")
            kept = refresh_token if mode is RefreshMode.KEEP else None
            tokens = await self._tokens_for(uow, user, session, kept_refresh=kept)
            await uow.commit()
        return tokens

    @requires(LOGOUT, "POST")
    async def logout(self, caller: Caller, *, logout_all: bool = False,
                     refresh_token: object = None) -> None:
        """Ends the caller's session, or every session of the user with logout_all.

        - access tokens of an ended session stop working on the next request, and its live
          connections (subscriptions) are closed at once, on every replica;
        - a refresh token given in the body must belong to the caller, else it is ignored.
        """
        principal = caller.require_principal()
        if principal.user_id is None:
            raise ValidationFailed("API keys have no session to end", reason="not_a_user")
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            if logout_all:
                await uow.sessions.revoke_all_for_user(principal.user_id, now)
            else:
                ids = {principal.session_id}
                if isinstance(refresh_token, str) and refresh_token:
                    found = await uow.sessions.find_refresh_token(sha256_hex(refresh_token))
                    if found is not None:
                        ids.add(found[0])
                for session_id in ids:
                    session = await uow.sessions.get(session_id) if session_id else None
                    if session is not None and session.user_id == principal.user_id:
                        session.revoke(now)
                        await uow.sessions.save(session)
            await uow.commit()
        await announce(self._signals, user_subject(principal.user_id))

    async def authenticate(self, token: str) -> Principal:
        """Turns a bearer credential (JWT access token or sk_ API key) into a Principal.

        - the session behind a JWT must still be active and the user must still exist, so
          logout, password change and deletion take effect on the next request;
        - API keys are compared in constant time against their stored SHA-256;
        - any failure is UNAUTHENTICATED with no hint of which part was wrong.
        """
        now = self._clock.now()
        parsed = parse_api_key(token)
        if parsed is not None:
            key_id, _secret = parsed
            api_key = await self._principals.api_key(key_id)
            # compare_digest runs even when the key is unknown, so timing tells nothing
            stored = api_key.secret_hash if api_key is not None else "0" * 64
            if not hmac.compare_digest(stored, sha256_hex(token)) or api_key is None \
                    or not api_key.usable(now):
                raise Unauthenticated("Invalid API key", reason="invalid_token")
            return Principal(kind=PrincipalKind.API_KEY, org_id=api_key.org_id,
                             roles=frozenset(api_key.roles), api_key_id=api_key.id)
        claims = self._tokens.verify_access(token)
        principal = await self._principals.user_principal(claims.org_id, claims.user_id,
                                                          claims.session_id, now)
        if principal is None:
            raise Unauthenticated("You were logged out, please login again",
                                  reason="session_ended")
        return principal

    async def remaining(self, token: str) -> timedelta | None:
        """How long an authenticated credential keeps working by itself from now: until a
        JWT's exp (its verification leeway not counted) or an API key's expiry; None when it
        has no end. A connection that outlives its request ends there."""
        now = self._clock.now()
        parsed = parse_api_key(token)
        if parsed is not None:
            api_key = await self._principals.api_key(parsed[0])
            if api_key is None:
                return timedelta(0)
            return None if api_key.expires_at is None else api_key.expires_at - now
        return self._tokens.verify_access(token).expires_at - now
