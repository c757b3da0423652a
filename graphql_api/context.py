"""Per-request context: the use cases, the caller (authenticated lazily, once per request)."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.access.model import Caller
from domain.accounts.use_cases import AccountUseCases
from domain.devices.use_cases import DeviceUseCases
from domain.errors import Unauthenticated


@dataclass(slots=True, kw_only=True)
class Context:
    accounts: AccountUseCases
    devices: DeviceUseCases
    token: str | None
    ip: str
    host: str | None
    _caller: Caller | None = field(default=None, init=False)

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

    def anonymous(self) -> Caller:
        """For sign-in and reset mutations, whose credentials are in the input."""
        return Caller(ip=self.ip, host=self.host)
