"""Persistence ports: repositories and the unit of work that is the only transaction boundary."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol

from domain.access.rbac.model import AuditEntry, Policy, Role, Rule
from domain.accounts.model import (
    ApiKey,
    Organization,
    Session,
    User,
    UserQuery,
    VerificationCode,
)
from domain.billing.model import Subscription, Usage
from domain.devices.model import (
    Connectivity,
    MappingRequest,
    Node,
    NodeFilter,
    NodeMembership,
    NodeSecrets,
    ParamsHistoryEntry,
    RegistrationToken,
)
from domain.groups.admin.model import AdminGroup, GroupQuery
from domain.groups.model import NodeGroup
from domain.ota.model import (
    ImageQuery,
    JobListQuery,
    JobSummary,
    NodeJobStatus,
    OtaImage,
    OtaJob,
)
from domain.sharing.model import GroupShare, SharingRequest

SYSTEM_SCOPE = "*"
"""Org scope for the few look-ups that precede knowing the tenant (sign-in by user name)."""


class OrganizationRepository(Protocol):
    """Organizations by id, name or host name."""

    async def add(self, org: Organization) -> None: ...
    async def get(self, org_id: str) -> Organization | None: ...
    async def get_by_name(self, name: str) -> Organization | None: ...
    async def get_by_hostname(self, hostname: str) -> Organization | None: ...


class UserRepository(Protocol):
    """Users of the scoped organization (user names are unique in the deployment)."""

    async def add(self, user: User) -> None: ...
    async def get(self, user_id: str) -> User | None: ...
    async def get_by_user_name(self, user_name: str) -> User | None: ...
    async def save(self, user: User) -> None: ...
    async def delete(self, user: User) -> None: ...
    async def count(self) -> int: ...
    async def page(self, query: UserQuery, *, start: str | None,
                   limit: int) -> tuple[Sequence[User], int]:
        """Users matching `query` whose user name is >= `start`, by user name, at most
        `limit`; and how many match `query` in all (ignoring `start`)."""
        ...

    async def count_signed_in_since(self, since: datetime) -> int:
        """Distinct users with a session created at or after `since`."""
        ...


class SessionRepository(Protocol):
    """Sign-in sessions and their refresh tokens (stored as SHA-256 hashes)."""

    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: str) -> Session | None: ...
    async def save(self, session: Session) -> None: ...
    async def revoke_all_for_user(self, user_id: str, now: datetime) -> int: ...
    async def add_refresh_token(self, session_id: str, token_hash: str, org_id: str) -> None: ...
    async def find_refresh_token(self, token_hash: str) -> tuple[str, bool] | None:
        """(session id, already used) of a refresh token, or None when unknown."""
        ...

    async def claim_refresh_token(self, token_hash: str, now: datetime) -> bool:
        """Atomically marks an unused token used; False when it was already used."""
        ...


class ApiKeyRepository(Protocol):
    """Organization API keys."""

    async def add(self, key: ApiKey) -> None: ...
    async def get(self, key_id: str) -> ApiKey | None: ...
    async def save(self, key: ApiKey) -> None: ...
    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKey]:
        """Keys ordered by (created_at, id), those strictly after the key id `after`."""
        ...


class VerificationCodeRepository(Protocol):
    """One-time codes (hashes) for sign-up, password reset and account deletion."""

    async def add(self, code: VerificationCode) -> None: ...
    async def latest(self, user_id: str, purpose: str) -> VerificationCode | None: ...
    async def save(self, code: VerificationCode) -> None: ...
    async def invalidate(self, user_id: str, purpose: str) -> None: ...


class NodeRepository(Protocol):
    """Nodes of the scoped organization, and the hashes of their device secrets."""

    async def add(self, node: Node, secrets: NodeSecrets) -> None: ...
    async def get(self, node_id: str) -> Node | None: ...
    async def save(self, node: Node) -> None: ...
    async def get_many(self, node_ids: Sequence[str]) -> Sequence[Node]:
        """The nodes among node_ids that exist in scope, in one query."""
        ...

    async def save_if_version(self, node: Node, expected_version: int) -> bool:
        """Saves only if the stored params_version is still expected_version (optimistic
        concurrency); False when another writer got there first."""
        ...

    async def save_many_if_version(self, nodes: Sequence[tuple[Node, int]]) -> Sequence[str]:
        """For many (node, expected_version) pairs at once, batched: saves what devices report
        (config and its info, reported params and params_version, connectivity) of each node
        whose stored params_version is still the expected one; tags, metadata, desired and
        active stay as stored. Returns the ids of the nodes that lost (stale or gone)."""
        ...

    async def secrets(self, node_id: str) -> NodeSecrets | None: ...

    async def connected_page(self, *, after_id: str | None, limit: int) -> Sequence[Node]:
        """Nodes marked connected, ordered by id, after after_id (None: from the first), at
        most limit."""
        ...

    async def save_connectivity_if_unchanged(self, nodes: Sequence[tuple[Node, Connectivity]]
                                             ) -> Sequence[str]:
        """For (node, connectivity as read) pairs: writes only each node's connectivity, where
        the stored one is still as read. Returns the ids of the nodes left as they were
        (changed meanwhile, or gone)."""
        ...

    # --- an admin's view of the organization's nodes ---
    async def search(self, node_filter: NodeFilter, *, start_id: str | None, limit: int
                     ) -> tuple[Sequence[Node], int]:
        """The nodes matching the filter, ordered by id, from start_id on, at most limit; and
        how many match in all (whatever start_id). Two queries whatever the page size."""
        ...

    async def activity_counts(self, node_filter: NodeFilter, since_ms: int) -> Mapping[str, int]:
        """How many matching nodes are active, inactive and not_activated
        (domain.devices.model.activity), in one query."""
        ...

    async def tag_values(self) -> Sequence[str]:
        """The distinct "key:value" tags across the scoped nodes, sorted, in one query."""
        ...

    async def set_active_many(self, node_ids: Sequence[str], active: bool) -> None:
        """Activates or deactivates these nodes (their broker credentials) in one statement."""
        ...

    async def save_tags_many(self, nodes: Sequence[Node]) -> None:
        """Writes only the tags of these nodes (nothing else they hold), in one batch."""
        ...


class ParamsHistoryRepository(Protocol):
    """Reported params changes per node, newest version first when read."""

    async def add_many(self, entries: Sequence[ParamsHistoryEntry]) -> None: ...
    async def for_node(self, node_id: str, *, limit: int) -> Sequence[ParamsHistoryEntry]:
        """The node's newest `limit` entries, highest version first."""
        ...

    async def delete_for_node(self, node_id: str) -> int:
        """Deletes all of the node's history; returns how many entries went."""
        ...

    async def prune(self, below: Mapping[str, int]) -> None:
        """For each node id, deletes its entries with a version lower than the given one."""
        ...


class RegistrationTokenRepository(Protocol):
    """One-time node registration tokens (stored as SHA-256 hashes)."""

    async def add(self, token: RegistrationToken) -> None: ...
    async def find(self, token_hash: str) -> RegistrationToken | None: ...
    async def claim(self, token_id: str, node_id: str, now: datetime) -> bool:
        """Atomically marks an unused token used by node_id; False when already used."""
        ...


class MembershipRepository(Protocol):
    """Who may reach which node, and as what: directly (source "NODE": mapping, node
    sharing; stored) or through a group shared with the user (source: the group id; derived
    on every read from the group's members and shares, while the group's owner holds the
    node directly; primary only when both the share and the owner's access are)."""

    async def add(self, membership: NodeMembership) -> None:
        """Adds a direct membership."""
        ...

    async def get(self, node_id: str, user_id: str) -> NodeMembership | None:
        """The user's effective access to the node (domain.devices.model.strongest of its
        direct and group-derived memberships), in one query."""
        ...

    async def get_direct(self, node_id: str, user_id: str) -> NodeMembership | None: ...
    async def for_node(self, node_id: str) -> Sequence[NodeMembership]:
        """The node's direct memberships."""
        ...

    async def for_user(self, user_id: str) -> Sequence[NodeMembership]:
        """The user's effective access, one membership per node (the strongest), ordered
        by node id, in one query whatever the number of groups and nodes."""
        ...

    async def page_for_user(self, user_id: str, *, start_id: str | None, limit: int,
                            tags: Collection[str] = ()
                            ) -> tuple[Sequence[NodeMembership], str | None, int]:
        """A page of for_user: at most limit memberships from node id start_id on, only of
        nodes having any of tags (when given); with the id the next page starts at (None on
        the last page) and how many match in all. Costs the same whatever the number of
        nodes the user reaches (ids compared byte-wise, like Python's sorted())."""
        ...

    async def remove(self, node_id: str, user_id: str) -> None:
        """Removes a direct membership (access through groups is left as it is)."""
        ...
    async def remove_all(self, node_id: str) -> int:
        """Drops every user's access to the node; returns how many there were."""
        ...

    async def members_of(self, node_id: str) -> Sequence[tuple[NodeMembership, str]]:
        """The node's memberships, direct and through groups (a user may appear once per
        source), each with its user's user_name, ordered by user id, then source."""
        ...

    async def members_of_many(self, node_ids: Sequence[str]
                              ) -> Sequence[tuple[NodeMembership, str]]:
        """members_of for many nodes in one query, ordered by node id, then user id."""
        ...


class MappingRequestRepository(Protocol):
    """User-node mapping requests."""

    async def add(self, request: MappingRequest) -> None: ...
    async def get(self, request_id: str) -> MappingRequest | None: ...
    async def save(self, request: MappingRequest) -> None: ...
    async def pending_for_node(self, node_id: str, kind: str) -> Sequence[MappingRequest]:
        """The node's requests of that kind still in status requested (expired included;
        the caller decides with MappingRequest.pending_at), oldest first."""
        ...

    async def delete_for_node(self, node_id: str) -> int: ...


class SharingRequestRepository(Protocol):
    """Node sharing requests."""

    async def add(self, request: SharingRequest) -> None: ...
    async def get(self, request_id: str) -> SharingRequest | None: ...
    async def save(self, request: SharingRequest) -> None: ...
    async def page(self, user_id: str, *, sent: bool, start_id: str | None,
                   limit: int, kind: str | None = None) -> Sequence[SharingRequest]:
        """Requests the user sent (or received), of one kind (node or group; None: both),
        ordered by id, from start_id on (inclusive), at most limit."""
        ...


class GroupRepository(Protocol):
    """Users' device groups with their member node ids (in the order they were added)."""

    async def add(self, group: NodeGroup) -> None: ...
    async def get(self, group_id: str) -> NodeGroup | None: ...
    async def get_many(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        """The groups among group_ids that exist in scope, with their nodes, by id."""
        ...

    async def subtrees(self, group_ids: Sequence[str]) -> Sequence[NodeGroup]:
        """These groups and all their sub-groups, with their nodes, ordered by id (one
        query per hierarchy level plus one for the members)."""
        ...

    async def for_owner(self, owner_id: str) -> Sequence[NodeGroup]:
        """All of the owner's groups with their nodes, ordered by id, in two queries."""
        ...

    async def save(self, group: NodeGroup) -> None:
        """Writes the group's fields (its owner included) and makes its members exactly
        group.nodes."""
        ...

    async def delete_many(self, group_ids: Sequence[str]) -> None: ...
    async def remove_node_everywhere(self, node_id: str) -> None:
        """Drops the node from every group in scope (its last user mapping is gone)."""
        ...


class AdminGroupRepository(Protocol):
    """The organization's admin device groups with their member node ids (in the order they
    were added), and the node look-ups their rules need. Every method is a constant number of
    statements, whatever the number of groups and nodes."""

    async def add(self, group: AdminGroup) -> None: ...
    async def all(self) -> Sequence[AdminGroup]:
        """Every admin group of the scoped organization with its nodes, ordered by id."""
        ...

    async def save_many(self, groups: Sequence[AdminGroup]) -> None:
        """Writes these groups' fields and makes each one's members exactly group.nodes."""
        ...

    async def delete_many(self, group_ids: Sequence[str]) -> None: ...
    async def matching_node_ids(self, query: GroupQuery) -> Sequence[str]:
        """Ids of the scoped nodes the query matches (exact type/model/fw_version), sorted."""
        ...

    async def all_node_ids(self) -> Sequence[str]:
        """Ids of every node of the scoped organization, sorted."""
        ...

    async def member_ids(self, group_ids: Sequence[str]) -> Sequence[str]:
        """The distinct node ids in any of these groups, sorted."""
        ...


class GroupShareRepository(Protocol):
    """Who a group is shared with, and as what (stored per group shared; sub-groups are
    reached through their ancestors' shares)."""

    async def add(self, share: GroupShare) -> None: ...
    async def get(self, group_id: str, user_id: str) -> GroupShare | None: ...
    async def for_user(self, user_id: str) -> Sequence[GroupShare]:
        """The groups shared with the user (not the ones it owns), ordered by group id."""
        ...

    async def people(self, group_ids: Sequence[str]) -> Sequence[tuple[GroupShare, str]]:
        """Everyone with a role on these groups: each owner (owner=True, primary) and each
        share, with the user's user_name, ordered by group id, then user id; one query."""
        ...

    async def remove(self, group_id: str, user_id: str) -> None: ...


class AccessRepository(Protocol):
    """The organization's own policies and roles, the rules compiled from them, who holds
    which role, and the audit trail of their changes."""

    async def lock(self) -> None:
        """Serializes changes to the organization's access (held until commit)."""
        ...

    async def get_policy(self, name: str) -> Policy | None: ...
    async def list_policies(self) -> Sequence[Policy]: ...
    async def add_policy(self, policy: Policy) -> None: ...
    async def save_policy(self, policy: Policy) -> None: ...
    async def delete_policy(self, name: str) -> None: ...
    async def get_role(self, name: str) -> Role | None: ...
    async def list_roles(self) -> Sequence[Role]: ...
    async def add_role(self, role: Role) -> None: ...
    async def save_role(self, role: Role) -> None: ...
    async def delete_role(self, name: str) -> None: ...
    async def holders(self, role_name: str) -> Sequence[tuple[str, str]]:
        """(user id, user name) of the users holding the role, by user name."""
        ...

    async def replace_rules(self, rules: Sequence[Rule]) -> None:
        """The organization's compiled rules become exactly these (built-in ones untouched)."""
        ...

    async def add_audit(self, entry: AuditEntry) -> None: ...
    async def audit(self, *, after: str | None, limit: int) -> Sequence[AuditEntry]:
        """Entries newest first, those strictly older than the entry id `after`."""
        ...


class OtaRepository(Protocol):
    """OTA images, jobs and the per-node status of each job, of the scoped organization."""

    async def add_image(self, image: OtaImage) -> None: ...
    async def get_image(self, image_id: str) -> OtaImage | None: ...
    async def save_image(self, image: OtaImage) -> None: ...
    async def delete_image(self, image_id: str) -> None: ...
    async def list_images(self, query: ImageQuery, *, start_id: str | None, limit: int
                          ) -> tuple[Sequence[OtaImage], int]:
        """Images matching the query ordered by id from start_id on, at most limit; and how
        many match in all."""
        ...

    async def jobs_using_image(self, image_id: str) -> Sequence[OtaJob]: ...

    async def add_job(self, job: OtaJob, targets: Sequence[NodeJobStatus]) -> None:
        """The job and one "triggered" status per target node (batched)."""
        ...

    async def get_job(self, job_id: str) -> OtaJob | None: ...
    async def get_job_by_name(self, name: str) -> OtaJob | None: ...
    async def save_job(self, job: OtaJob) -> None: ...
    async def list_jobs(self, query: JobListQuery, *, start_id: str | None, limit: int
                        ) -> tuple[Sequence[OtaJob], int]: ...
    async def active_dynamic_jobs(self) -> Sequence[OtaJob]: ...

    async def add_targets(self, targets: Sequence[NodeJobStatus]) -> int:
        """Adds statuses for (job, node) pairs not there yet (a dynamic job picking up a
        node); returns how many were new."""
        ...

    async def node_status(self, job_id: str, node_id: str) -> NodeJobStatus | None: ...
    async def node_statuses(self, job_id: str, *, start_id: str | None, limit: int
                            ) -> Sequence[NodeJobStatus]:
        """A job's target statuses ordered by node id, from start_id on."""
        ...

    async def statuses_changed(self, job_id: str, *, after: tuple[datetime, str] | None,
                               limit: int) -> Sequence[NodeJobStatus]:
        """A job's target statuses ordered by (updated_at, node_id), strictly after that
        pair when given: what changed since a reader last looked."""
        ...

    async def statuses_of_node(self, node_id: str) -> Sequence[tuple[OtaJob, NodeJobStatus]]:
        """Every job the node is a target of (not archived), with its status there."""
        ...

    async def save_statuses(self, statuses: Sequence[NodeJobStatus]) -> None:
        """Writes status, additional_info, updated_at, triggered_at and attempts (batched)."""
        ...

    async def summary(self, job_id: str) -> JobSummary:
        """How many targets are in each status (one query)."""
        ...

    async def summaries(self, job_ids: Sequence[str]) -> dict[str, JobSummary]:
        """summary() of several jobs in one query (every id gets one, empty if unknown)."""
        ...

    async def waiting_targets(self, job_id: str, limit: int, *, after: str | None = None
                              ) -> Sequence[NodeJobStatus]:
        """Targets not offered yet (status "triggered"), by node id, those strictly after
        the node id `after` (for dispatch)."""
        ...

    async def busy_nodes(self, node_ids: Sequence[str], *, before_priority: int
                         ) -> set[str]:
        """The nodes among these that must not be offered a job of that priority now: one
        with a job in flight (started, delayed or in-progress in an active job), or a job of
        a strictly higher priority (lower number) still waiting; in one query."""
        ...


class BillingRepository(Protocol):
    """Subscriptions, what the organization uses, the provider's events processed, and the
    organization's API request counts."""

    async def get_subscription(self, org_id: str) -> Subscription | None: ...
    async def by_customer(self, customer_id: str) -> Subscription | None:
        """The subscription of the provider's customer, whatever the organization (webhooks
        run in SYSTEM_SCOPE)."""
        ...

    async def save_subscription(self, subscription: Subscription) -> None:
        """Inserts or replaces the organization's subscription row."""
        ...

    async def usage(self, org_id: str, month_start: datetime, *, lock: bool = False) -> Usage:
        """What the organization has and did, in one query: active nodes, bytes of OTA images
        stored, users, API requests since month_start. lock=True first locks the
        organization's row (PostgreSQL: SELECT ... FOR UPDATE) so concurrent quota-checked
        writes of one organization take turns."""
        ...

    async def event_seen(self, event_id: str) -> bool: ...
    async def record_event(self, event_id: str, type: str, created: int, org_id: str | None,
                           at: datetime) -> bool:
        """Records a provider event as processed; False when it was recorded already (also
        by a concurrent transaction): the caller must then change nothing."""
        ...

    async def add_api_requests(self, counts: dict[tuple[str, datetime], int]) -> None:
        """Adds request counts per (organization, month start)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the repositories, scoped to one organization (or SYSTEM_SCOPE).

    Leaving the block without commit() rolls everything back.
    """

    organizations: OrganizationRepository
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    codes: VerificationCodeRepository
    nodes: NodeRepository
    registration_tokens: RegistrationTokenRepository
    memberships: MembershipRepository
    mapping_requests: MappingRequestRepository
    params_history: ParamsHistoryRepository
    groups: GroupRepository
    group_shares: GroupShareRepository
    admin_groups: AdminGroupRepository
    sharing_requests: SharingRequestRepository
    access: AccessRepository
    ota: OtaRepository
    billing: BillingRepository

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work for an organization id, or SYSTEM_SCOPE."""

    def __call__(self, org_id: str) -> UnitOfWork: ...
