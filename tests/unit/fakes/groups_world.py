"""Shared by the sharing and group tests: four users (three of org-a, one of org-b), three
nodes of org-a, a recorder of the events published, and the caller of each user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.access.model import Caller, Principal, PrincipalKind
from domain.accounts.model import END_USER, User
from domain.devices.model import Node, NodeEvent
from ports.repositories.uow import UnitOfWork
from tests.unit.fakes import InMemoryUnitOfWork, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = {"alice": "org-a", "bob": "org-a", "carol": "org-a", "mallory": "org-b"}
"""Each user's organization."""


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[NodeEvent] = []

    async def publish(self, event: NodeEvent) -> None:
        self.events.append(event)


def who(uid: str) -> Caller:
    return Caller(principal=Principal(kind=PrincipalKind.USER, org_id=NAMES[uid], user_id=uid,
                                      user_name=f"{uid}@x.io", roles=frozenset({END_USER})))


def people_and_nodes() -> tuple[Store, Callable[[str], UnitOfWork]]:
    """A store holding the users of NAMES and the nodes n1..n3 of org-a (nobody holds them
    yet), and the unit of work factory over it."""
    store = Store()
    for uid, org in NAMES.items():
        store.users[uid] = User(id=uid, org_id=org, user_name=f"{uid}@x.io", password_hash="",
                                created_at=T0, confirmed=True)
    for node_id in ("n1", "n2", "n3"):
        store.nodes[node_id] = Node(id=node_id, org_id="org-a", created_at=T0)

    def uow(org_id: str) -> UnitOfWork:
        return InMemoryUnitOfWork(store, org_id)  # type: ignore[return-value]

    return store, uow
