"""The fake database (Store: committed state shared by every unit of work) and the base of
the in-memory repositories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.accounts.model import (
    ApiKey,
    Organization,
    Session,
    User,
    VerificationCode,
)
from domain.devices.model import (
    MappingRequest,
    Node,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
)
from domain.groups.admin.model import AdminGroup
from domain.groups.model import NodeGroup
from domain.sharing.model import GroupShare, NodeMembership, SharingRequest
from ports.repositories.uow import SYSTEM_SCOPE
from tests.unit.fakes.access import AccessState
from tests.unit.fakes.billing import BillingState
from tests.unit.fakes.ota import OtaState


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
