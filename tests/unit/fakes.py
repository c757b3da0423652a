"""In-memory fakes of the ports, for domain tests (no database, no network, fixed time)."""

from __future__ import annotations

import copy
import hashlib
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from domain.access.model import Permission, Principal, PrincipalKind
from domain.accounts.model import (
    ApiKey,
    Organization,
    Session,
    User,
    UserQuery,
    VerificationCode,
)
from domain.devices.model import (
    PRIMARY,
    SECONDARY,
    Connectivity,
    MappingRequest,
    Node,
    NodeFilter,
    NodeMembership,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
    activity,
    strongest,
)
from domain.errors import Forbidden, Unauthenticated
from domain.groups.admin.model import AdminGroup
from domain.groups.model import NodeGroup
from domain.sharing.model import GroupShare, SharingRequest
from ports.repositories import SYSTEM_SCOPE
from ports.services import AccessClaims, OutgoingMessage
from tests.unit.fake_access import AccessState, InMemoryAccess
from tests.unit.fake_admin_groups import InMemoryAdminGroups
from tests.unit.fake_billing import BillingState, InMemoryBilling
from tests.unit.fake_groups import InMemoryGroups, InMemoryGroupShares
from tests.unit.fake_ota import InMemoryOta, OtaState


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


@dataclass
class Store:
    """The fake database: committed state shared by all units of work."""

    orgs: dict[str, Organization] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh: dict[str, tuple[str, str, datetime | None]] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    codes: dict[str, VerificationCode] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    node_secrets: dict[str, NodeSecrets] = field(default_factory=dict)
    tokens: dict[str, RegistrationToken] = field(default_factory=dict)
    memberships: dict[tuple[str, str], NodeMembership] = field(default_factory=dict)
    mapping_requests: dict[str, MappingRequest] = field(default_factory=dict)
    params_history: dict[tuple[str, int], ParamsHistoryEntry] = field(default_factory=dict)
    sharing_requests: dict[str, SharingRequest] = field(default_factory=dict)
    groups: dict[str, NodeGroup] = field(default_factory=dict)
    admin_groups: dict[str, AdminGroup] = field(default_factory=dict)
    group_shares: dict[tuple[str, str], GroupShare] = field(default_factory=dict)
    access: AccessState = field(default_factory=AccessState)
    ota: OtaState = field(default_factory=OtaState)
    billing: BillingState = field(default_factory=BillingState)


class _Repo:
    def __init__(self, state: Store, org: str) -> None:
        self.s, self.org = state, org

    def visible(self, org_id: str) -> bool:
        return self.org == SYSTEM_SCOPE or org_id == self.org


class InMemoryOrganizations(_Repo):
    async def add(self, org: Organization) -> None:
        self.s.orgs[org.id] = org

    async def get(self, org_id: str) -> Organization | None:
        org = self.s.orgs.get(org_id)
        return org if org and self.visible(org.id) else None

    async def get_by_name(self, name: str) -> Organization | None:
        return next((o for o in self.s.orgs.values() if o.name == name and self.visible(o.id)),
                    None)

    async def get_by_hostname(self, hostname: str) -> Organization | None:
        return next((o for o in self.s.orgs.values() if o.hostname == hostname), None)


class InMemoryUsers(_Repo):
    async def add(self, user: User) -> None:
        assert all(u.user_name != user.user_name for u in self.s.users.values())
        self.s.users[user.id] = copy.deepcopy(user)

    async def get(self, user_id: str) -> User | None:
        user = self.s.users.get(user_id)
        return copy.deepcopy(user) if user and self.visible(user.org_id) else None

    async def get_by_user_name(self, user_name: str) -> User | None:
        found = next((u for u in self.s.users.values() if u.user_name == user_name), None)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, user: User) -> None:
        self.s.users[user.id] = copy.deepcopy(user)

    async def delete(self, user: User) -> None:
        self.s.users.pop(user.id, None)
        for sid in [k for k, v in self.s.sessions.items() if v.user_id == user.id]:
            del self.s.sessions[sid]

    async def count(self) -> int:
        return sum(1 for u in self.s.users.values() if self.visible(u.org_id))

    async def page(self, query: UserQuery, *, start: str | None,
                   limit: int) -> tuple[Sequence[User], int]:
        def matches(u: User) -> bool:
            return self.visible(u.org_id) \
                and query.user_id in (None, u.id) \
                and u.user_name.startswith(query.name_prefix or "") \
                and (query.with_any_role is None or bool(query.with_any_role & u.roles)) \
                and (query.with_role_other_than is None
                     or bool(u.roles - {query.with_role_other_than})) \
                and not query.without_roles & u.roles

        found = sorted((u for u in self.s.users.values() if matches(u)),
                       key=lambda u: u.user_name)
        page = [u for u in found if start is None or u.user_name >= start][:limit]
        return copy.deepcopy(page), len(found)

    async def count_signed_in_since(self, since: datetime) -> int:
        return len({s.user_id for s in self.s.sessions.values()
                    if s.created_at >= since and self.visible(s.org_id)})


class InMemorySessions(_Repo):
    async def add(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str) -> Session | None:
        session = self.s.sessions.get(session_id)
        return copy.deepcopy(session) if session and self.visible(session.org_id) else None

    async def save(self, session: Session) -> None:
        self.s.sessions[session.id] = copy.deepcopy(session)

    async def revoke_all_for_user(self, user_id: str, now: datetime) -> int:
        n = 0
        for session in self.s.sessions.values():
            if session.user_id == user_id and session.revoked_at is None:
                session.revoked_at, n = now, n + 1
        return n

    async def add_refresh_token(self, session_id: str, token_hash: str, org_id: str) -> None:
        self.s.refresh[token_hash] = (session_id, org_id, None)

    async def find_refresh_token(self, token_hash: str) -> tuple[str, bool] | None:
        found = self.s.refresh.get(token_hash)
        return (found[0], found[2] is not None) if found else None

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        found = self.s.refresh.get(token_hash)
        if found is None or found[2] is not None:
            return False
        self.s.refresh[token_hash] = (found[0], found[1], now)
        return True


class InMemoryApiKeys(_Repo):
    async def add(self, key: ApiKey) -> None:
        self.s.keys[key.id] = copy.deepcopy(key)

    async def get(self, key_id: str) -> ApiKey | None:
        key = self.s.keys.get(key_id)
        return copy.deepcopy(key) if key and self.visible(key.org_id) else None

    async def save(self, key: ApiKey) -> None:
        self.s.keys[key.id] = copy.deepcopy(key)

    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKey]:
        keys = sorted((k for k in self.s.keys.values() if self.visible(k.org_id)),
                      key=lambda k: (k.created_at, k.id))
        if after is not None:
            ids = [k.id for k in keys]
            keys = keys[ids.index(after) + 1:] if after in ids else []
        return [copy.deepcopy(k) for k in keys[:limit]]


class InMemoryCodes(_Repo):
    async def add(self, code: VerificationCode) -> None:
        self.s.codes[code.id] = copy.deepcopy(code)

    async def latest(self, user_id: str, purpose: str) -> VerificationCode | None:
        found = [c for c in self.s.codes.values()
                 if c.user_id == user_id and c.purpose == purpose and not c.consumed]
        return copy.deepcopy(max(found, key=lambda c: c.expires_at)) if found else None

    async def save(self, code: VerificationCode) -> None:
        self.s.codes[code.id] = copy.deepcopy(code)

    async def invalidate(self, user_id: str, purpose: str) -> None:
        for cid in [k for k, c in self.s.codes.items()
                    if c.user_id == user_id and c.purpose == purpose]:
            del self.s.codes[cid]


class InMemoryNodes(_Repo):
    async def add(self, node: Node, secrets: NodeSecrets) -> None:
        assert node.id not in self.s.nodes
        self.s.nodes[node.id] = copy.deepcopy(node)
        self.s.node_secrets[node.id] = secrets

    async def get(self, node_id: str) -> Node | None:
        node = self.s.nodes.get(node_id)
        return copy.deepcopy(node) if node and self.visible(node.org_id) else None

    async def save(self, node: Node) -> None:
        self.s.nodes[node.id] = copy.deepcopy(node)

    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        return [copy.deepcopy(n) for i in node_ids if (n := self.s.nodes.get(i))
                and self.visible(n.org_id)]

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        stored = self.s.nodes.get(node.id)
        if stored is None or stored.params_version != expected_version:
            return False
        self.s.nodes[node.id] = copy.deepcopy(node)
        return True

    async def save_many_if_version(self, pairs: Sequence[tuple[Node, int]]) -> Sequence[str]:
        lost = []
        for node, expected in pairs:
            stored = self.s.nodes.get(node.id)
            if stored is None or stored.params_version != expected:
                lost.append(node.id)
                continue
            saved = copy.deepcopy(node)  # what devices report; the users' fields as stored
            saved.tags, saved.metadata = stored.tags, stored.metadata
            saved.desired, saved.active = stored.desired, stored.active
            self.s.nodes[node.id] = saved
        return lost

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        found = [n for n in self._scoped() if n.connectivity.connected
                 and (after_id is None or n.id > after_id)]
        return [copy.deepcopy(n) for n in found[:limit]]

    async def save_connectivity_if_unchanged(self, pairs: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        left = []
        for node, read in pairs:
            stored = self.s.nodes.get(node.id)
            if stored is None or not self.visible(stored.org_id) \
                    or stored.connectivity != read:
                left.append(node.id)
                continue
            stored.connectivity = copy.deepcopy(node.connectivity)
        return left

    async def secrets(self, node_id: str) -> NodeSecrets | None:
        found = self.s.node_secrets.get(node_id)
        return found if found and self.visible(found.org_id) else None

    def _scoped(self) -> list[Node]:
        return sorted((n for n in self.s.nodes.values() if self.visible(n.org_id)),
                      key=lambda n: n.id)

    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        found = [n for n in self._scoped() if node_filter.matches(n)]
        page = [n for n in found if start_id is None or n.id >= start_id][:limit]
        return [copy.deepcopy(n) for n in page], len(found)

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        counts = {"active": 0, "inactive": 0, "not_activated": 0}
        for node in self._scoped():
            if node_filter.matches(node):
                counts[activity(node, since_ms)] += 1
        return counts

    async def tag_values(self) -> Sequence[str]:
        return sorted({t for n in self._scoped() for t in n.tags})

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        for node in self._scoped():
            if node.id in node_ids:
                node.active = active

    async def save_tags_many(self, nodes: Sequence[Node]) -> None:
        for node in nodes:
            stored = self.s.nodes.get(node.id)
            if stored is not None and self.visible(stored.org_id):
                stored.tags = list(node.tags)


class InMemoryRegistrationTokens(_Repo):
    async def add(self, token: RegistrationToken) -> None:
        self.s.tokens[token.id] = copy.deepcopy(token)

    async def find(self, token_hash: str) -> RegistrationToken | None:
        found = next((t for t in self.s.tokens.values() if t.token_hash == token_hash), None)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        token = self.s.tokens.get(token_id)
        if token is None or token.used_at is not None:
            return False
        token.used_at, token.node_id = now, node_id
        return True


class InMemoryMemberships(_Repo):
    async def add(self, membership: NodeMembership) -> None:
        self.s.memberships[(membership.node_id, membership.user_id)] = copy.deepcopy(membership)

    def _all(self) -> list[NodeMembership]:
        """Direct memberships and those derived from group shares (the same rule as the
        SQL adapter: a member node the group's owner holds directly; primary only when
        both the share and the owner's access are)."""
        found = [copy.deepcopy(m) for m in self.s.memberships.values() if self.visible(m.org_id)]
        for (group_id, user_id), share in sorted(self.s.group_shares.items()):
            group = self.s.groups.get(group_id)
            if group is None or not self.visible(share.org_id):
                continue
            for node_id in group.nodes:
                own = self.s.memberships.get((node_id, group.owner_id))
                if own is not None:
                    role = PRIMARY if share.role == PRIMARY and own.role == PRIMARY \
                        else SECONDARY
                    found.append(NodeMembership(node_id=node_id, org_id=share.org_id,
                                                user_id=user_id, role=role, source=group_id,
                                                created_at=share.created_at))
        return sorted(found, key=lambda m: (m.node_id, m.user_id, m.source))

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        return strongest(m for m in self._all() if m.node_id == node_id
                         and m.user_id == user_id)

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None:
        found = self.s.memberships.get((node_id, user_id))
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        return [copy.deepcopy(m) for (n, _), m in self.s.memberships.items()
                if n == node_id and self.visible(m.org_id)]

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        by_node: dict[str, list[NodeMembership]] = {}
        for m in self._all():
            if m.user_id == user_id:
                by_node.setdefault(m.node_id, []).append(m)
        return [m for m in (strongest(ms) for _, ms in sorted(by_node.items()))
                if m is not None]

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        matching = [m for m in await self.for_user(user_id)
                    if not tags or set(tags).intersection(self.s.nodes[m.node_id].tags)]
        following = [m for m in matching if start_id is None or m.node_id >= start_id]
        more = following[limit:]
        return following[:limit], more[0].node_id if more else None, len(matching)

    async def remove(self, node_id: str, user_id: str) -> None:
        self.s.memberships.pop((node_id, user_id), None)

    async def remove_all(self, node_id: str) -> int:
        gone = [k for k, m in self.s.memberships.items()
                if k[0] == node_id and self.visible(m.org_id)]
        for key in gone:
            del self.s.memberships[key]
        return len(gone)

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        return [(m, self.s.users[m.user_id].user_name)
                for m in self._all() if m.node_id == node_id]

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        return [pair for node_id in sorted(set(node_ids))
                for pair in await self.members_of(node_id)]


class InMemoryMappingRequests(_Repo):
    async def add(self, request: MappingRequest) -> None:
        self.s.mapping_requests[request.id] = copy.deepcopy(request)

    async def get(self, request_id: str) -> MappingRequest | None:
        found = self.s.mapping_requests.get(request_id)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, request: MappingRequest) -> None:
        if request.id in self.s.mapping_requests and self.visible(request.org_id):
            self.s.mapping_requests[request.id] = copy.deepcopy(request)

    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        return [copy.deepcopy(r) for r in sorted(self.s.mapping_requests.values(),
                                                 key=lambda r: (r.created_at, r.id))
                if r.node_id == node_id and r.kind == kind and r.status == "requested"
                and self.visible(r.org_id)]

    async def delete_for_node(self, node_id: str) -> int:
        gone = [k for k, r in self.s.mapping_requests.items()
                if r.node_id == node_id and self.visible(r.org_id)]
        for key in gone:
            del self.s.mapping_requests[key]
        return len(gone)


class InMemorySharingRequests(_Repo):
    async def add(self, request: SharingRequest) -> None:
        self.s.sharing_requests[request.id] = copy.deepcopy(request)

    async def get(self, request_id: str) -> SharingRequest | None:
        found = self.s.sharing_requests.get(request_id)
        return copy.deepcopy(found) if found and self.visible(found.org_id) else None

    async def save(self, request: SharingRequest) -> None:
        if request.id in self.s.sharing_requests and self.visible(request.org_id):
            self.s.sharing_requests[request.id] = copy.deepcopy(request)

    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        found = [r for r in self.s.sharing_requests.values() if self.visible(r.org_id)
                 and (r.from_user_id if sent else r.to_user_id) == user_id
                 and (kind is None or r.kind == kind)
                 and (start_id is None or r.id >= start_id)]
        return [copy.deepcopy(r) for r in sorted(found, key=lambda r: r.id)[:limit]]


class InMemoryParamsHistory(_Repo):
    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None:
        for entry in entries:
            assert (entry.node_id, entry.version) not in self.s.params_history
            self.s.params_history[(entry.node_id, entry.version)] = entry

    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        found = [e for (n, _), e in self.s.params_history.items()
                 if n == node_id and self.visible(e.org_id)]
        return sorted(found, key=lambda e: -e.version)[:limit]

    async def delete_for_node(self, node_id: str) -> int:
        gone = [k for k, e in self.s.params_history.items()
                if k[0] == node_id and self.visible(e.org_id)]
        for key in gone:
            del self.s.params_history[key]
        return len(gone)

    async def prune(self, below: Mapping[str, int]) -> None:
        for key in [k for k, e in self.s.params_history.items()
                    if k[0] in below and k[1] < below[k[0]] and self.visible(e.org_id)]:
            del self.s.params_history[key]


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


class InMemoryPrincipals:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def user_principal(self, org_id: str, user_id: str, session_id: str,
                             now: datetime) -> Principal | None:
        user, session = self._store.users.get(user_id), self._store.sessions.get(session_id)
        if user is None or session is None or user.org_id != org_id \
                or session.user_id != user_id or not session.active(now):
            return None
        return Principal(kind=PrincipalKind.USER, org_id=org_id, user_id=user_id,
                         user_name=user.user_name, session_id=session_id,
                         roles=frozenset(user.roles))

    async def api_key(self, key_id: str) -> ApiKey | None:
        return self._store.keys.get(key_id)


class FakeNodeCommands:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []
        self.available = True

    async def send_params(self, node_id: str, params: dict[str, object]) -> bool:
        if self.available:
            self.sent.append((node_id, params))
        return self.available


class FakeSignatures:
    """A node 'signs' by hashing its public key with the message: enough to tell a right
    signature from a wrong one without real keys."""

    @staticmethod
    def sign(public_key: str, message: bytes) -> str:
        return hashlib.sha256(public_key.encode() + b"|" + message).hexdigest()

    def normalize_public_key(self, pem: str) -> str:
        if not isinstance(pem, str) or not pem.startswith("PUB:"):
            raise ValueError("public_key must be a PEM public key")
        return pem

    def verify(self, public_key_pem: str, message: bytes, signature_hex: str) -> bool:
        return bool(public_key_pem) and signature_hex == self.sign(public_key_pem, message)
