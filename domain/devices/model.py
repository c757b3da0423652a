"""Nodes (RainMaker's devices): config, a versioned params shadow, tags, metadata and
connectivity. The entity enforces the rules; it records events for the EventPublisher."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.access.rbac.model import NodeReach
from domain.devices.params_rules import check_desired
from domain.errors import Conflict, ValidationFailed
from domain.jsonshape import strings_in
from domain.shadow import merge_shadow

NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TAG = re.compile(r"^[^:\s\x00-\x1f][^:\x00-\x1f]{0,63}:[^:\x00-\x1f]{0,128}\Z")
"""key:value; no control characters (PostgreSQL json cannot give NUL back as text)."""
MAX_TAGS = 64
MAX_PARAMS_BYTES = 64 * 1024


def check_node_id(value: object) -> str:
    if not isinstance(value, str) or not NODE_ID.match(value):
        raise ValidationFailed("Invalid node_id", reason="invalid_node_id")
    return value


def check_tags(tags: object) -> list[str]:
    """RainMaker tags are "key:value" strings."""
    if not isinstance(tags, list) or not all(isinstance(t, str) and TAG.match(t) for t in tags):
        raise ValidationFailed("Tags must be a list of key:value strings", reason="invalid_tags")
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise ValidationFailed(f"At most {MAX_TAGS} tags per node", reason="too_many_tags")
    return unique


def contains_nul(value: object) -> bool:
    """True when some string (key or value) in decoded JSON holds U+0000: PostgreSQL's json
    keeps it but cannot give it back as text, so one such node would break every query of
    its organization that reads that field as text."""
    return any("\x00" in text for text in strings_in(value))


def _check_params(params: object) -> dict[str, dict[str, Any]]:
    """{"<Device>": {"<param>": value}}: objects of objects, as RainMaker nodes send them."""
    if not isinstance(params, dict) or not params:
        raise ValidationFailed("params must be a non-empty object of devices",
                               reason="invalid_params")
    for device, values in params.items():
        if not isinstance(device, str) or not device or not isinstance(values, dict):
            raise ValidationFailed("params must map device names to objects",
                                   reason="invalid_params")
    return params


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeEvent:
    kind: str  # node_connected | node_disconnected | node_params_changed | node_config_changed
    node_id: str
    org_id: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


PARAMS_HISTORY_VERSIONS = 1000
"""History kept per node: the entries of its last this-many params versions (desired changes
bump the version too, so a node keeps at most this many entries). Older ones are pruned as
the node reports; all of a node's history goes when its last user mapping is removed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ParamsHistoryEntry:
    """One reported params change of a node: what the device sent and the version it made."""

    org_id: str
    node_id: str
    version: int
    at: datetime
    params: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class Connectivity:
    connected: bool = False
    timestamp_ms: int = 0


@dataclass(slots=True, kw_only=True)
class Node:
    id: str
    org_id: str
    created_at: datetime
    name: str = ""
    type: str = ""
    model: str = ""
    fw_version: str = ""
    config: dict[str, Any] | None = None
    config_version: str = ""
    reported: dict[str, dict[str, Any]] = field(default_factory=dict)
    desired: dict[str, dict[str, Any]] = field(default_factory=dict)
    params_version: int = 0
    connectivity: Connectivity = field(default_factory=Connectivity)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    active: bool = True
    events: list[NodeEvent] = field(default_factory=list, repr=False)

    def _record(self, kind: str, at: datetime, **data: Any) -> None:
        self.events.append(NodeEvent(kind=kind, node_id=self.id, org_id=self.org_id, at=at,
                                     data=data))

    def apply_config(self, config: object, at: datetime) -> bool:
        """Stores the node's config; info (name, type, model, fw_version) becomes queryable.
        Returns False (and records nothing) when the config is the one already stored."""
        if not isinstance(config, dict):
            raise ValidationFailed("config must be an object", reason="invalid_config")
        info = config.get("info") if isinstance(config.get("info"), dict) else {}
        if config.get("node_id") not in (None, self.id):
            raise ValidationFailed("config is for another node", reason="invalid_config")
        if contains_nul(config):
            raise ValidationFailed("config must not contain U+0000", reason="invalid_config")
        if config == self.config:
            return False
        self.config = config
        self.config_version = str(config.get("config_version", ""))[:64]
        for attr in ("name", "type", "model", "fw_version"):
            value = info.get(attr) if isinstance(info, dict) else None
            if isinstance(value, str):
                setattr(self, attr, value[:128])
        self._record("node_config_changed", at, config_version=self.config_version)
        return True

    def apply_reported(self, params: object, at: datetime, *, full: bool = False) -> bool:
        """Merges reported params (or replaces them, for params/local/init).

        - the version goes up only when the state really changes, so a duplicated or
          redelivered message changes nothing twice;
        - a device's params merge key by key; other devices are untouched.
        """
        checked = _check_params(params)
        if full:
            merged = {device: dict(values) for device, values in checked.items()}
        else:
            merged = {device: dict(values) for device, values in self.reported.items()}
            for device, values in checked.items():
                merged.setdefault(device, {}).update(values)
        if merged == self.reported:
            return False
        self.reported = merged
        self.params_version += 1
        self._record("node_params_changed", at, version=self.params_version, params=checked)
        return True

    def set_desired(self, params: object, at: datetime, *, expected_version: int | None = None
                    ) -> dict[str, dict[str, Any]]:
        """Records desired params to send on params/remote.

        - params must be what the node's reported config declares (params_rules: the
          device and param, writable, data_type, bounds); a node that has reported no
          config yet takes them unchecked;
        - a writer that read version N and sends it gets CONFLICT when the shadow moved on;
        - desired state is kept while the node is offline and delivered when it reconnects.
        """
        checked = check_desired(self.config, _check_params(params))
        if expected_version is not None and expected_version != self.params_version:
            raise Conflict(f"params changed since version {expected_version} "
                           f"(now {self.params_version})", reason="stale_version")
        for device, values in checked.items():
            self.desired.setdefault(device, {}).update(values)
        self.params_version += 1
        self._record("node_params_changed", at, version=self.params_version, desired=checked)
        return checked

    def pending_desired(self) -> dict[str, dict[str, Any]]:
        """Desired params the node has not reported back yet (re-sent when it reconnects)."""
        pending: dict[str, dict[str, Any]] = {}
        for device, values in self.desired.items():
            reported = self.reported.get(device, {})
            differing = {k: v for k, v in values.items() if reported.get(k) != v}
            if differing:
                pending[device] = differing
        return pending

    def apply_connection(self, connected: bool, timestamp_ms: int, at: datetime) -> bool:
        """Connectivity from the connection topic or the last will.

        - an event older than the state we hold is stale and ignored, so a late will
          cannot mark a reconnected node offline.
        """
        if timestamp_ms < self.connectivity.timestamp_ms:
            return False
        if connected == self.connectivity.connected and \
                timestamp_ms == self.connectivity.timestamp_ms:
            return False
        changed = connected != self.connectivity.connected
        self.connectivity = Connectivity(connected=connected, timestamp_ms=timestamp_ms)
        if changed:
            self._record("node_connected" if connected else "node_disconnected", at,
                         timestamp=timestamp_ms)
        return True

    def add_tags(self, tags: object) -> None:
        self.tags = check_tags(self.tags + check_tags(tags))

    def remove_tags(self, tags: object) -> None:
        gone = set(check_tags(tags))
        self.tags = [t for t in self.tags if t not in gone]

    def update_metadata(self, patch: object) -> None:
        self.metadata = merge_shadow(self.metadata, patch)

    def info_field(self, name: str) -> str:
        """A text field of the reported config's info (subtype, project_name...), or ""."""
        info = (self.config or {}).get("info")
        value = info.get(name) if isinstance(info, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def node_status(self) -> str:
        """RainMaker's node_status: deactivated (credentials refused) first, then
        not_activated (never connected), online, offline."""
        if not self.active:
            return DEACTIVATED
        if self.connectivity.connected:
            return ONLINE
        return OFFLINE if self.connectivity.timestamp_ms > 0 else NOT_ACTIVATED


REGISTRATION_TTL_MINUTES_MAX = 7 * 24 * 60


@dataclass(slots=True, kw_only=True)
class RegistrationToken:
    """A one-time token an admin hands to a device, exchanged for the device's identity."""

    id: str
    org_id: str
    node_name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    created_by: str | None = None
    used_at: datetime | None = None
    node_id: str | None = None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


@dataclass(slots=True, kw_only=True)
class NodeSecrets:
    """Hashes of what a device proves itself with: its broker password and the secret_key
    a user claims it with. The plain values are shown once, at provisioning."""

    node_id: str
    org_id: str
    mqtt_password_hash: str
    secret_key_hash: str
    public_key: str = ""
    """PEM of the node's own public key (EC or RSA), when it gave one at provisioning: it
    verifies challenge-response mapping and proxied, signed node payloads."""


def check_node_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128 \
            or any(ord(c) < 32 for c in name):
        raise ValidationFailed("node_name must be 1..128 printable characters",
                               reason="invalid_node_name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed("node_name must be text", reason="invalid_node_name") from exc
    return name.strip()


PRIMARY, SECONDARY = "primary", "secondary"
"""The two roles a user holds a node in (memberships: domain/sharing/model.py)."""




MAPPING_STATUSES = ("requested", "confirmed", "timedout", "discarded")
REQUESTED, CONFIRMED, TIMED_OUT, DISCARDED = MAPPING_STATUSES
# how a mapping request is proven: the secret_key issued at provisioning (confirmed at once),
# the two-sided handshake (the node publishes the same secret_key on node/<id>/user/mapping),
# a challenge the node signs, or the node's own half of the handshake
BY_PROVISIONED_KEY, BY_HANDSHAKE, BY_CHALLENGE, NODE_HALF = (
    "provisioned", "handshake", "challenge", "node")


@dataclass(slots=True, kw_only=True)
class MappingRequest:
    """A user's request to add or remove a user-node mapping, and where it stands.

    A request still `requested` after expires_at has timed out (computed when read, so no
    sweeper is needed); expires_at None never expires.
    """

    id: str
    org_id: str
    user_id: str
    node_id: str
    operation: str
    status: str
    created_at: datetime
    kind: str = BY_PROVISIONED_KEY
    secret_hash: str = ""
    challenge: str = ""
    expires_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    reset: bool = False
    group_id: str | None = None
    """A group of the user's own that the node joins once the mapping is confirmed."""

    def status_at(self, now: datetime) -> str:
        if self.status == REQUESTED and self.expires_at is not None and now >= self.expires_at:
            return TIMED_OUT
        return self.status

    def pending_at(self, now: datetime) -> bool:
        return self.status_at(now) == REQUESTED


NODE_STATUSES = ("online", "offline", "deactivated", "not_activated")
ONLINE, OFFLINE, DEACTIVATED, NOT_ACTIVATED = NODE_STATUSES
ACTIVITY_STATUSES = ("active", "inactive")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeFilter:
    """Which of an organization's nodes an admin lists (every field set narrows it).

    - tags "key:value": any of them (OR) unless tags_all (AND);
    - status: one of NODE_STATUSES, or "active"/"inactive": connected at or after
      active_since_ms (epoch ms) or not (never-connected nodes are neither);
    - reach: the node filters of the caller's role (any of them), from its policies.
    """

    type: str | None = None
    model: str | None = None
    fw_version: str | None = None
    subtype: str | None = None
    project_name: str | None = None
    tags: tuple[str, ...] = ()
    tags_all: bool = False
    status: str | None = None
    active_since_ms: int = 0
    reach: tuple[NodeReach, ...] | None = None  # a role's node filters; None: every node

    def within_reach(self, node: Node) -> bool:
        return self.reach is None or any(r.matches(node.tags, node.type) for r in self.reach)

    def matches(self, node: Node) -> bool:
        """The filter as a rule on one node (the SQL adapter states it as a query)."""
        if not self.within_reach(node):
            return False
        for attr in ("type", "model", "fw_version"):
            wanted = getattr(self, attr)
            if wanted is not None and getattr(node, attr) != wanted:
                return False
        for attr in ("subtype", "project_name"):
            wanted = getattr(self, attr)
            if wanted is not None and node.info_field(attr) != wanted:
                return False
        if self.tags:
            have = set(node.tags)
            hits = [t in have for t in self.tags]
            if not (all(hits) if self.tags_all else any(hits)):
                return False
        if self.status in NODE_STATUSES:
            return node.node_status == self.status
        if self.status in ACTIVITY_STATUSES:
            return activity(node, self.active_since_ms) == self.status
        return True


def activity(node: Node, since_ms: int) -> str:
    """active (connected now, or a connection event at or after since_ms), inactive
    (connected once, not since), or not_activated (never connected)."""
    state = node.connectivity
    if not state.connected and state.timestamp_ms == 0:
        return NOT_ACTIVATED
    return "active" if state.connected or state.timestamp_ms >= since_ms else "inactive"
