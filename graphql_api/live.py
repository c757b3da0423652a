"""A WebSocket's sign-in, kept true for as long as the socket is open.

A subscription outlives the request that authenticated it, so its credential is checked
again: when a session signal names its subject (logout, logout everywhere, password change,
account deletion, roles changed, API key revoked: sent by the use case after its commit, to
every replica), whenever a subscription re-reads memberships (at most every RECHECK_EVERY),
and when the credential expires (a timer at the JWT's exp or the API key's expiry). When it
no longer holds, the socket is closed:

- 4401 "Session ended": the credential stopped working (logged out, password changed,
  account deleted, key revoked, token expired); a client signs in again and reconnects;
- 4403 "Forbidden": still signed in, but no longer allowed what the subscription needs (a
  role or policy was taken away); reconnecting will not help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import NoReturn, Protocol

from domain.access.model import Principal
from domain.devices.watch import RECHECK_EVERY
from domain.errors import DomainError, Unauthenticated

SESSION_ENDED = 4401
FORBIDDEN = 4403

Verdict = tuple[int, str]
Closer = Callable[[int, str], Awaitable[None]]


class SessionFeed(Protocol):
    """Wakes the connections of a subject when its credentials change (any replica)."""

    def watch(self, subject: str) -> asyncio.Event: ...
    def unwatch(self, subject: str, event: asyncio.Event) -> None: ...


def verdict_for(error: DomainError) -> Verdict:
    if isinstance(error, Unauthenticated):
        return SESSION_ENDED, "Session ended"
    return FORBIDDEN, "Forbidden"


class LiveSession:
    """One socket's credential (token and the principal it stood for at the last check)."""

    def __init__(self, *, token: str, principal: Principal, remaining: timedelta | None,
                 authenticate: Callable[[str], Awaitable[Principal]], feed: SessionFeed,
                 renewed: Callable[[Principal], None],
                 recheck_every: timedelta = RECHECK_EVERY) -> None:
        self._token, self.principal, self._remaining = token, principal, remaining
        self._authenticate, self._feed, self._renewed = authenticate, feed, renewed
        self._recheck = recheck_every.total_seconds()
        loop = asyncio.get_running_loop()
        self._checked = loop.time()
        self._verdict: asyncio.Future[Verdict] = loop.create_future()
        self._guarding = False

    async def guard(self, close: Closer) -> None:
        """Runs while the socket is open; closes it with the verdict when the sign-in ends."""
        loop = asyncio.get_running_loop()
        deadline = None if self._remaining is None else \
            loop.time() + max(0.0, self._remaining.total_seconds())
        subject = self.principal.subject
        wake = self._feed.watch(subject)
        self._guarding = True
        try:
            while True:
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                woken = asyncio.ensure_future(wake.wait())
                done, _ = await asyncio.wait({woken, self._verdict}, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                verdict: Verdict | None
                if self._verdict.done():
                    verdict = self._verdict.result()
                elif not done:
                    verdict = (SESSION_ENDED, "Session expired")
                else:
                    wake.clear()  # a signal during the check below wakes us again
                    verdict = await self._check()
                if verdict is not None:
                    await close(*verdict)
                    return
        finally:
            self._guarding = False
            self._feed.unwatch(subject, wake)

    async def check_due(self) -> None:
        """Checks the credential again when the last check is older than the recheck period
        (a subscription calls it before it re-reads memberships); ends the socket when the
        credential no longer holds."""
        if asyncio.get_running_loop().time() - self._checked < self._recheck:
            return
        verdict = await self._check()
        if verdict is not None:
            await self.end(*verdict)

    async def end_for(self, error: DomainError) -> NoReturn:
        await self.end(*verdict_for(error), error=error)

    async def end(self, code: int, reason: str, *, error: DomainError | None = None
                  ) -> NoReturn:
        """Has the guard close the socket, which cancels the calling operation; without a
        guard (the socket is closing already) the error is raised."""
        if not self._guarding:
            raise error or Unauthenticated(reason, reason="session_ended")
        if not self._verdict.done():
            self._verdict.set_result((code, reason))
        await asyncio.Event().wait()  # cancelled when the guard closes the socket
        raise AssertionError("unreachable")

    async def _check(self) -> Verdict | None:
        try:
            principal = await self._authenticate(self._token)
        except DomainError as exc:
            return verdict_for(exc)
        if (principal.subject, principal.org_id) != (self.principal.subject,
                                                     self.principal.org_id):
            return FORBIDDEN, "Forbidden"
        self.principal = principal
        self._checked = asyncio.get_running_loop().time()
        self._renewed(principal)
        return None
