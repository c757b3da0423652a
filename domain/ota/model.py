"""OTA firmware updates: images, jobs and each target node's status in a job (seeds/004's OTA
image and OTA job sections, reference/mqtt-topics.md otaurl/otafetch/otastatus).

Rules kept here, whatever API or adapter drives them:
- an image is a firmware binary (or package) with type, model, fw_version, size and md5; an
  archived image takes no new job; an image used by a job is deleted only with force, which
  cancels those jobs;
- a job targets up to 100 nodes and/or 10 admin groups (FFFF-FFFF: every node), or is dynamic
  (node_type/node_model/node_fw_version: it keeps picking up nodes that come to match and never
  finishes); priority 1 (highest) .. 10; it expires after its timeout or validity end;
- a node is offered one job at a time, the due job of highest priority (then oldest) first;
- a node's status only moves forward (triggered: a target → started: offered on otaurl →
  in-progress → success | failed | rejected, with delayed between; RainMaker's names); a
  report that would go backwards, or for a job the node is not in, is ignored;
- a job is finished when every target node is in a final state; it can be archived only when
  finished or cancelled;
- rollout paces dispatch (max_per_minute, max_in_flight) and abort stops a job whose failures
  cross failure_percent once min_executed nodes are done (the AWS IoT Jobs ideas).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from domain.errors import Conflict, ValidationFailed
from domain.ota import links

MAX_IMAGE_BYTES = 200 * 1024 * 1024
MAX_BASE64_IMAGE_BYTES = 5 * 1024 * 1024
MAX_JOB_NODES = 100
MAX_JOB_GROUPS = 10
ALL_NODES_GROUP = "FFFF-FFFF"
PRIORITY_HIGHEST, PRIORITY_LOWEST, DEFAULT_PRIORITY = 1, 10, 5
NAME_MAX = 256
FIELD_MAX = 128
DESCRIPTION_MAX = 1024
UPLOAD_URL_TTL = timedelta(hours=24)
DOWNLOAD_URL_TTL = timedelta(hours=1)
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ImageKind(StrEnum):
    FIRMWARE = "firmware"
    PACKAGE = "package"


@dataclass(slots=True, kw_only=True)
class OtaImage:
    id: str
    org_id: str
    name: str
    kind: ImageKind
    type: str = ""  # the device type it is for (node config info.type)
    model: str = ""
    fw_version: str = ""
    size: int = 0
    md5: str = ""
    blob_key: str = ""
    uploaded: bool = False  # the bytes are stored and confirmed
    archived: bool = False
    expected_md5: str | None = None  # from the upload request, checked on confirm
    created_by: str | None = None
    created_at: datetime
    upload_expires_at: datetime | None = None

    def archive(self, archived: bool) -> None:
        if self.archived == archived:
            raise Conflict("OTA Image is already archived" if archived
                           else "OTA Image is already unarchived",
                           reason="image_already_archived" if archived
                           else "image_already_unarchived")
        self.archived = archived

    def ensure_usable(self) -> None:
        """A new job needs an uploaded, unarchived image."""
        if not self.uploaded:
            raise ValidationFailed("OTA image with the given Id not uploaded",
                                   reason="image_not_uploaded")
        if self.archived:
            raise ValidationFailed("Error, OTA image is archived", reason="image_archived")


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """Which images GET /v1/admin/otaimage lists (every field set narrows it)."""

    image_id: str | None = None
    name: str | None = None
    name_contains: bool = False  # name is a substring to look for, not the exact name
    type: str | None = None
    model: str | None = None
    archived: bool | None = False  # None: archived or not (all=true)


@dataclass(frozen=True, slots=True)
class JobListQuery:
    job_id: str | None = None
    name: str | None = None
    name_contains: bool = False
    image_id: str | None = None
    archived: bool | None = False


def check_text(raw: object, what: str, *, required: bool, limit: int = FIELD_MAX,
               reason: str | None = None) -> str:
    if raw is None or raw == "":
        if required:
            raise ValidationFailed(f"{what} is missing", reason=reason or "invalid_body")
        return ""
    if not isinstance(raw, str) or len(raw) > limit or raw != raw.strip() \
            or any(ord(c) < 0x20 for c in raw):
        raise ValidationFailed(f"{what} must be text of at most {limit} characters, without "
                               "control characters or white space at either end",
                               reason=reason or "invalid_body")
    return raw


def check_md5(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _MD5.match(raw):
        raise ValidationFailed("md5_checksum is 32 hexadecimal digits", reason="invalid_md5")
    return raw.lower()


class JobStatus(StrEnum):
    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ABORTED = "aborted"


class NodeStatus(StrEnum):
    TRIGGERED = "triggered"  # a target, not offered yet (RainMaker's name)
    STARTED = "started"  # offered: otaurl sent (or pushed by force or a user's approval)
    DELAYED = "delayed"  # the node put it off
    IN_PROGRESS = "in-progress"
    SUCCESS = "success"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the job was cancelled or aborted before the node finished
    TIMED_OUT = "timedout"  # the job expired before the node was offered it


FINAL = frozenset({NodeStatus.SUCCESS, NodeStatus.FAILED, NodeStatus.REJECTED,
                   NodeStatus.CANCELLED, NodeStatus.TIMED_OUT})
IN_FLIGHT = frozenset({NodeStatus.STARTED, NodeStatus.DELAYED, NodeStatus.IN_PROGRESS})
REPORTABLE = frozenset({NodeStatus.IN_PROGRESS, NodeStatus.SUCCESS, NodeStatus.FAILED,
                        NodeStatus.REJECTED, NodeStatus.DELAYED})
_NEXT: dict[NodeStatus, frozenset[NodeStatus]] = {
    NodeStatus.TRIGGERED: frozenset({NodeStatus.STARTED, NodeStatus.CANCELLED,
                                   NodeStatus.TIMED_OUT}),
    NodeStatus.STARTED: frozenset(REPORTABLE | {NodeStatus.CANCELLED, NodeStatus.TIMED_OUT}),
    NodeStatus.DELAYED: frozenset(REPORTABLE | {NodeStatus.STARTED, NodeStatus.CANCELLED,
                                                NodeStatus.TIMED_OUT}),
    NodeStatus.IN_PROGRESS: frozenset({NodeStatus.IN_PROGRESS, NodeStatus.SUCCESS,
                                       NodeStatus.FAILED, NodeStatus.REJECTED,
                                       NodeStatus.CANCELLED, NodeStatus.TIMED_OUT}),
}


def can_move(current: NodeStatus, wanted: NodeStatus) -> bool:
    """Statuses only move forward; a final one never changes."""
    return wanted in _NEXT.get(current, frozenset())


@dataclass(frozen=True, slots=True)
class DownloadWindow:
    """Hours of the day (UTC) in which nodes may be offered the job; end < start wraps
    midnight."""

    start: time
    end: time

    def open_at(self, moment: datetime) -> bool:
        now = moment.time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end

    @classmethod
    def parse(cls, raw: object) -> DownloadWindow | None:
        if raw is None:
            return None
        if not isinstance(raw, dict) or set(raw) != {"start", "end"} or not all(
                isinstance(raw[k], str) and _HHMM.match(raw[k]) for k in ("start", "end")) \
                or raw["start"] == raw["end"]:
            raise ValidationFailed('download_window is {"start": "HH:MM", "end": "HH:MM"} '
                                   "(UTC, different times)", reason="invalid_download_window")
        return cls(time.fromisoformat(raw["start"]), time.fromisoformat(raw["end"]))


@dataclass(frozen=True, slots=True)
class Rollout:
    max_per_minute: int | None = None
    max_in_flight: int | None = None


@dataclass(frozen=True, slots=True)
class AbortRule:
    failure_percent: float
    min_executed: int

    def trips(self, failed: int, executed: int) -> bool:
        return executed >= self.min_executed and executed > 0 \
            and failed * 100 >= self.failure_percent * executed


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A dynamic job's rule: nodes whose type, model and firmware version equal those set."""

    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None

    def matches(self, node_type: str, model: str, fw_version: str) -> bool:
        return all(want is None or want == have for want, have in (
            (self.node_type, node_type), (self.node_model, model),
            (self.node_fw_version, fw_version)))


@dataclass(slots=True, kw_only=True)
class OtaJob:
    id: str
    org_id: str
    name: str
    image_id: str
    description: str = ""
    priority: int = DEFAULT_PRIORITY
    timeout_seconds: int | None = None
    force_push: bool = False
    user_approval: bool = False
    notify: bool = False
    nodes: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    query: JobQuery | None = None
    window: DownloadWindow | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    rollout: Rollout = field(default_factory=Rollout)
    abort: AbortRule | None = None
    metadata: dict[str, Any] | None = None
    status: JobStatus = JobStatus.ACTIVE
    status_reason: str = ""
    archived: bool = False
    created_by: str | None = None
    created_at: datetime
    ended_at: datetime | None = None

    @property
    def dynamic(self) -> bool:
        return self.query is not None

    @property
    def expires_at(self) -> datetime | None:
        ends = [t for t in (self.valid_until, self.created_at + timedelta(
            seconds=self.timeout_seconds) if self.timeout_seconds else None) if t is not None]
        return min(ends) if ends else None

    def due(self, now: datetime) -> bool:
        """May a node be offered this job now?"""
        if self.status != JobStatus.ACTIVE:
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        expires = self.expires_at
        if expires is not None and now >= expires:
            return False
        return self.window is None or self.window.open_at(now)

    def expired(self, now: datetime) -> bool:
        expires = self.expires_at
        return self.status == JobStatus.ACTIVE and expires is not None and now >= expires

    def cancel(self, now: datetime, reason: str = "cancelled") -> None:
        if self.status != JobStatus.ACTIVE:
            raise Conflict(f"OTA job is {self.status.value} already", reason="job_not_active")
        self.status, self.status_reason, self.ended_at = JobStatus.CANCELLED, reason, now

    def end(self, status: JobStatus, now: datetime, reason: str = "") -> None:
        self.status, self.status_reason, self.ended_at = status, reason, now

    def archive(self, archived: bool = True) -> None:
        if archived and self.status == JobStatus.ACTIVE:
            raise Conflict("An OTA job can be archived only when finished or cancelled",
                           reason="job_still_active")
        self.archived = archived


@dataclass(frozen=True, slots=True)
class Offer:
    """A job offered to a node on otaurl, with its signed download link's token."""

    node_id: str
    job: OtaJob
    image: OtaImage
    token: str

    def payload(self, base_url: str) -> dict[str, Any]:
        return {"ota_job_id": self.job.id, "url": base_url + links.download_path(self.token),
                "fw_version": self.image.fw_version, "filesize": self.image.size,
                "file_md5": self.image.md5}


@dataclass(slots=True, kw_only=True)
class NodeJobStatus:
    """One target node's progress in one job."""

    job_id: str
    node_id: str
    org_id: str
    status: NodeStatus = NodeStatus.TRIGGERED
    priority: int = DEFAULT_PRIORITY  # the job's, kept here so a node's queue sorts in SQL
    additional_info: str = ""
    updated_at: datetime
    triggered_at: datetime | None = None
    attempts: int = 0

    def move(self, wanted: NodeStatus, now: datetime, info: str = "") -> bool:
        """Applies a transition when it goes forward; False (nothing changed) otherwise."""
        if not can_move(self.status, wanted):
            return False
        if wanted == NodeStatus.STARTED:
            self.triggered_at = now
            self.attempts += 1
        self.status, self.updated_at = wanted, now
        if info:
            self.additional_info = info[:1024]
        return True


@dataclass(frozen=True, slots=True)
class JobSummary:
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.total > 0 and sum(self.counts.get(s.value, 0) for s in FINAL) == self.total

    @property
    def executed(self) -> int:
        return sum(self.counts.get(s.value, 0) for s in (
            NodeStatus.SUCCESS, NodeStatus.FAILED, NodeStatus.REJECTED))

    @property
    def failed(self) -> int:
        return sum(self.counts.get(s.value, 0) for s in (NodeStatus.FAILED, NodeStatus.REJECTED))

    @property
    def in_flight(self) -> int:
        return sum(self.counts.get(s.value, 0) for s in IN_FLIGHT)


def check_page(num_records: object, limit: int = 100) -> int:
    if isinstance(num_records, bool) or not isinstance(num_records, int) \
            or not 1 <= num_records <= limit:
        raise ValidationFailed(f"num_records is 1..{limit}", reason="invalid_num_records")
    return num_records


def check_priority(raw: object) -> int:
    if raw is None:
        return DEFAULT_PRIORITY
    if isinstance(raw, bool) or not isinstance(raw, int) \
            or not PRIORITY_HIGHEST <= raw <= PRIORITY_LOWEST:
        raise ValidationFailed("priority is a whole number from 1 (highest) to 10 (lowest)",
                               reason="invalid_priority")
    return raw


def check_timeout(raw: object) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 60 <= raw <= 366 * 86400:
        raise ValidationFailed("timeout is a number of seconds from 60 to one year",
                               reason="invalid_job_timeout")
    return raw


def next_job(candidates: list[tuple[OtaJob, NodeJobStatus]], now: datetime
             ) -> tuple[OtaJob, NodeJobStatus] | None:
    """The job a node is offered next: none while one is in flight; else the due, not final
    job of highest priority (lowest number), oldest first."""
    if any(st.status in IN_FLIGHT and job.due(now) for job, st in candidates):
        in_flight = [(job, st) for job, st in candidates if st.status in IN_FLIGHT and
                     job.due(now)]
        in_flight.sort(key=lambda js: (js[0].priority, js[0].created_at, js[0].id))
        return in_flight[0]
    due = [(job, st) for job, st in candidates
           if st.status == NodeStatus.TRIGGERED and job.due(now)]
    due.sort(key=lambda js: (js[0].priority, js[0].created_at, js[0].id))
    return due[0] if due else None
