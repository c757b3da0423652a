"""Test fakes of the ports, one module per area (accounts, access, billing, devices, groups,
sharing, ota; store: the fake database; *_world: ready-made scenes for an area's tests); here
what every area's tests share: clock, ids, hasher, tokens, outbox, rate limiter, authorizer,
and the in-memory unit of work over store.Store."""

from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from domain.access.model import Permission, Principal
from domain.errors import Forbidden, Unauthenticated
from ports.services import AccessClaims, OutgoingMessage
from tests.unit.fakes.access import InMemoryAccess
from tests.unit.fakes.accounts import (
    InMemoryApiKeys,
    InMemoryCodes,
    InMemoryOrganizations,
    InMemorySessions,
    InMemoryUsers,
)
from tests.unit.fakes.billing import InMemoryBilling
from tests.unit.fakes.devices import (
    InMemoryMappingRequests,
    InMemoryNodes,
    InMemoryParamsHistory,
    InMemoryRegistrationTokens,
)
from tests.unit.fakes.groups import InMemoryAdminGroups, InMemoryGroups, InMemoryGroupShares
from tests.unit.fakes.ota import InMemoryOta
from tests.unit.fakes.sharing import InMemoryMemberships, InMemorySharingRequests
from tests.unit.fakes.store import Store


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self) -> None:
        self._n = itertools.count(1)

    def new_id(self) -> str:
        return f"id-{next(self._n)}"

    def short_id(self) -> str:
        return f"k{next(self._n):06d}"

    def secret(self) -> str:
        return f"secret{next(self._n)}"

    def numeric_code(self, digits: int) -> str:
        return str(next(self._n)).zfill(digits)[-digits:]


class FakeHasher:
    """Reversible stand-in for argon2: 'v1$<sha256>' (version bumps trigger rehash)."""

    version = "v1"

    def hash(self, password: str) -> str:
        return f"{self.version}${hashlib.sha256(password.encode()).hexdigest()}"

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash.split("$", 1)[1] == hashlib.sha256(password.encode()).hexdigest()

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"{self.version}$")


class FakeTokens:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def access_token(self, *, user_id: str, org_id: str, session_id: str) -> str:
        return f"access|{user_id}|{org_id}|{session_id}"

    def id_token(self, *, user_id: str, org_id: str, email: str, name: str) -> str:
        return f"id|{user_id}|{email}"

    def verify_access(self, token: str) -> AccessClaims:
        parts = token.split("|")
        if len(parts) != 4 or parts[0] != "access":
            raise Unauthenticated("bad token", reason="invalid_token")
        return AccessClaims(user_id=parts[1], org_id=parts[2], session_id=parts[3],
                            expires_at=self._clock.now() + timedelta(hours=1))


@dataclass
class FakeOutbox:
    sent: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> None:
        self.sent.append(message)

    def last_code(self, to: str) -> str:
        body = [m for m in self.sent if m.to == to][-1].body
        return body.split("code is ")[1][:6]


class FakeRateLimiter:
    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.counts: dict[str, int] = {}

    async def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        self.counts[key] = self.counts.get(key, 0) + 1
        effective = self.limit if self.limit is not None else limit
        return 60 if self.counts[key] > effective else None


class AllowAll:
    """Authorizer fake: allows everything except resources listed in `denied`."""

    def __init__(self) -> None:
        self.checked: list[tuple[Principal, Permission]] = []
        self.denied: set[str] = set()
        self.reach: dict[str, Any] = {}  # resource -> node filters (None: every node)

    async def authorize(self, principal: Principal, permission: Permission) -> None:
        self.checked.append((principal, permission))
        if permission.resource in self.denied:
            raise Forbidden("denied", reason="forbidden")

    def allowed(self, principal: Principal, permission: Permission) -> bool:
        return permission.resource not in self.denied

    def explain(self, principal: Principal, permission: Permission
                ) -> tuple[list[Any], list[Any], bool]:
        return [], [], self.allowed(principal, permission)

    def node_reach(self, principal: Principal, permission: Permission) -> Any:
        return self.reach.get(permission.resource) if hasattr(self, "reach") else None


class InMemoryUnitOfWork:
    """Works on a copy of the store; commit() publishes it, leaving without commit drops it."""

    def __init__(self, store: Store, org_id: str) -> None:
        self._store, self._org = store, org_id
        self.committed = False

    async def __aenter__(self) -> InMemoryUnitOfWork:
        self._work = copy.deepcopy(self._store)
        self.organizations = InMemoryOrganizations(self._work, self._org)
        self.users = InMemoryUsers(self._work, self._org)
        self.sessions = InMemorySessions(self._work, self._org)
        self.api_keys = InMemoryApiKeys(self._work, self._org)
        self.codes = InMemoryCodes(self._work, self._org)
        self.nodes = InMemoryNodes(self._work, self._org)
        self.registration_tokens = InMemoryRegistrationTokens(self._work, self._org)
        self.memberships = InMemoryMemberships(self._work, self._org)
        self.mapping_requests = InMemoryMappingRequests(self._work, self._org)
        self.params_history = InMemoryParamsHistory(self._work, self._org)
        self.sharing_requests = InMemorySharingRequests(self._work, self._org)
        self.groups = InMemoryGroups(self._work, self._org)
        self.admin_groups = InMemoryAdminGroups(self._work, self._org)
        self.group_shares = InMemoryGroupShares(self._work, self._org)
        self.access = InMemoryAccess(self._work, self._org)
        self.ota = InMemoryOta(self._work, self._org)
        self.billing = InMemoryBilling(self._work, self._org)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        pass

    async def commit(self) -> None:
        self._store.__dict__.update(copy.deepcopy(self._work).__dict__)
        self.committed = True
