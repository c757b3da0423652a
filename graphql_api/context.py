"""Per-request context: the use cases, the caller (authenticated lazily, once per request),
the per-request DataLoaders, and the event feed subscriptions read; on a WebSocket, the live
session that keeps the caller's sign-in true while the socket is open."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from strawberry.types import Info

from domain.access.model import Caller, Principal
from domain.access.use_cases import AccessUseCases
from domain.accounts.use_cases import AccountUseCases
from domain.billing.use_cases import BillingUseCases
from domain.devices.model import NodeEvent
from domain.devices.use_cases import DeviceUseCases
from domain.errors import Forbidden, Unauthenticated
from domain.groups.use_cases import GroupUseCases
from domain.ota.use_cases import OtaUseCases
from domain.sharing.use_cases import SharingUseCases
from domain.use_cases import UseCases
from graphql_api.live import LiveSession
from graphql_api.loaders import Loaders


class EventFeed(Protocol):
    """Node events as they happen: each subscriber reads its own bounded queue."""

    def subscribe(self) -> asyncio.Queue[NodeEvent]: ...
    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None: ...


@dataclass(slots=True, kw_only=True)
class Context:
    uc: UseCases
    events: EventFeed
    token: str | None
    ip: str
    host: str | None
    # set by strawberry from a WebSocket's connection_init payload
    connection_params: dict[str, object] | None = None
    # a signed-in WebSocket's credential, checked again while the socket is open
    live: LiveSession | None = None
    loaders: Loaders = field(init=False)
    _caller: Caller | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.uc, self.caller)

    # each area's use cases, as resolvers call them: ctx.devices.nodes, ctx.sharing.groups...
    @property
    def accounts(self) -> AccountUseCases:
        return self.uc.accounts

    @property
    def access(self) -> AccessUseCases:
        return self.uc.access

    @property
    def billing(self) -> BillingUseCases:
        return self.uc.billing

    @property
    def devices(self) -> DeviceUseCases:
        return self.uc.devices

    @property
    def groups(self) -> GroupUseCases:
        return self.uc.groups

    @property
    def sharing(self) -> SharingUseCases:
        return self.uc.sharing

    @property
    def ota(self) -> OtaUseCases:
        return self.uc.ota

    def signed_in(self, principal: Principal) -> None:
        """The request's token was authenticated already (by the rate limiter)."""
        self._caller = Caller(principal=principal, ip=self.ip, host=self.host)

    async def caller(self) -> Caller:
        """The signed-in caller; raises UNAUTHENTICATED for a bad token."""
        if self._caller is None:
            principal = None
            if self.token is not None:
                if len(self.token) > 4096:
                    raise Unauthenticated("Invalid or expired token", reason="invalid_token")
                principal = await self.accounts.sessions.authenticate(self.token)
            self._caller = Caller(principal=principal, ip=self.ip, host=self.host)
        return self._caller

    async def current_caller(self) -> Caller:
        """The caller as it stands now: on a WebSocket its credential is checked again when
        the last check is older than the recheck period (the socket closes if it ended)."""
        if self.live is not None:
            await self.live.check_due()
        return await self.caller()

    async def session_lost(self, error: Unauthenticated | Forbidden) -> NoReturn:
        """A running subscription was refused: on a WebSocket the socket closes (4401 for a
        credential that stopped working, 4403 for one no longer allowed); else it raises."""
        if self.live is not None:
            await self.live.end_for(error)
        raise error

    def anonymous(self) -> Caller:
        """For sign-in and reset mutations, whose credentials are in the input."""
        return Caller(ip=self.ip, host=self.host)


Ctx = Info[Context, None]


def uses(*use_cases: Callable[..., Any]) -> dict[str, Any]:
    """Field metadata naming the use cases a resolver calls (checked by a test)."""
    return {"uses": use_cases}
