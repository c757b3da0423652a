"""Admin use cases on OTA jobs: create (targets, priority, expiry, window, rollout, abort),
list, cancel/archive, per-node status, summary and progress, retrigger. Offers and reports
are domain/ota/delivery.py's, user-approved updates domain/ota/user_updates.py's; rules live
in domain/ota/model.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.access.model import Caller, requires
from domain.access.permissions import OTA_JOBS
from domain.devices.model import NodeFilter, check_node_id
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.ota.delivery import OtaDelivery, close_targets
from domain.ota.model import (
    ALL_NODES_GROUP,
    DESCRIPTION_MAX,
    FINAL,
    MAX_JOB_GROUPS,
    MAX_JOB_NODES,
    NAME_MAX,
    AbortRule,
    DownloadWindow,
    JobListQuery,
    JobQuery,
    JobStatus,
    JobSummary,
    NodeJobStatus,
    NodeStatus,
    OtaJob,
    Rollout,
    check_page,
    check_priority,
    check_text,
    check_timeout,
)
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator

MAX_PAGE = 100
DYNAMIC_SCAN = 100_000  # nodes a dynamic job's query may match at creation


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[tuple[OtaJob, JobSummary]]
    total: int
    next_id: str | None


async def group_node_ids(uow: UnitOfWork, group_ids: Sequence[str]) -> list[str]:
    """The member node ids of these admin groups (ALL_NODES_GROUP: every node of the
    organization), in one query whatever the number of groups; unknown groups add none."""
    if ALL_NODES_GROUP in group_ids:
        return list(await uow.admin_groups.all_node_ids())
    return list(await uow.admin_groups.member_ids(list(dict.fromkeys(group_ids))))


async def job_of(uow: UnitOfWork, job_id: object) -> OtaJob:
    """The scoped organization's job, or ValidationFailed / NotFound."""
    if not isinstance(job_id, str) or not job_id:
        raise ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
    job = await uow.ota.get_job(job_id)
    if job is None:
        raise NotFound("OTA job not found", reason="job_not_found")
    return job


def _strings(raw: object, what: str, limit: int) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > limit or not all(
            isinstance(x, str) and 0 < len(x) <= 128 for x in raw):
        raise ValidationFailed(f"{what}: at most {limit} ids", reason=f"invalid_job_{what}")
    return list(dict.fromkeys(raw))


def _validity(raw: object) -> tuple[datetime | None, datetime | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or not set(raw) <= {"start", "end"} or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 10**11
            for v in raw.values()):
        raise ValidationFailed('validity is {"start": <epoch s>, "end": <epoch s>}',
                               reason="invalid_validity")
    start = datetime.fromtimestamp(raw["start"], tz=UTC) if "start" in raw else None
    end = datetime.fromtimestamp(raw["end"], tz=UTC) if "end" in raw else None
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("validity ends after it starts", reason="invalid_validity")
    return start, end


def _rollout(raw: object) -> tuple[Rollout, AbortRule | None]:
    """rollout {max_per_minute, max_in_flight} and abort {failure_percent, min_executed}."""
    if raw is None:
        return Rollout(), None
    if not isinstance(raw, dict) or not set(raw) <= {"rollout", "abort"}:
        raise ValidationFailed("rollout is {max_per_minute, max_in_flight}; abort is "
                               "{failure_percent, min_executed}", reason="invalid_rollout")

    def count(value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**6:
            raise ValidationFailed("rollout limits are whole numbers from 1",
                                   reason="invalid_rollout")
        return value

    pace = raw.get("rollout") or {}
    stop = raw.get("abort")
    if not isinstance(pace, dict) or not set(pace) <= {"max_per_minute", "max_in_flight"}:
        raise ValidationFailed("rollout is {max_per_minute, max_in_flight}",
                               reason="invalid_rollout")
    rollout = Rollout(max_per_minute=count(pace.get("max_per_minute")),
                      max_in_flight=count(pace.get("max_in_flight")))
    if stop is None:
        return rollout, None
    if not isinstance(stop, dict) or set(stop) != {"failure_percent", "min_executed"} \
            or isinstance(stop["failure_percent"], bool) \
            or not isinstance(stop["failure_percent"], int | float) \
            or not 0 < stop["failure_percent"] <= 100:
        raise ValidationFailed("abort is {failure_percent: (0, 100], min_executed: >= 1}",
                               reason="invalid_rollout")
    return rollout, AbortRule(float(stop["failure_percent"]),
                              count(stop["min_executed"]) or 1)


class OtaJobs:
    """What an organization's admins do with OTA jobs; offering them is the delivery's."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, delivery: OtaDelivery) -> None:
        self.uow, self.ids, self.clock, self.authorizer = uow, ids, clock, authorizer
        self.delivery, self.base_url = delivery, delivery.base_url

    @requires(OTA_JOBS, "POST")
    async def create_job(self, caller: Caller, *, name: object, image_id: object,
                         description: object = None, nodes: object = None,
                         groups: object = None, node_type: object = None,
                         node_model: object = None, node_fw_version: object = None,
                         priority: object = None, timeout_seconds: object = None,
                         metadata: object = None, force_push: bool = False,
                         user_approval: bool = False, notify: bool = False,
                         rollout: object = None) -> OtaJob:
        """A job for up to 100 nodes and/or 10 admin groups (FFFF-FFFF: every node), or a
        dynamic one (node_type/node_model/node_fw_version) that keeps picking up nodes that
        come to match. With force_push, its nodes are offered it at once."""
        principal = caller.require_principal()
        job_name = check_text(name, "OTA job name", required=True, limit=NAME_MAX,
                              reason="job_name_missing")
        node_ids = [check_node_id(n) for n in _strings(nodes, "nodes", MAX_JOB_NODES)]
        group_ids = _strings(groups, "groups", MAX_JOB_GROUPS)
        query_values = [check_text(v, f, required=False) or None for v, f in (
            (node_type, "node_type"), (node_model, "node_model"),
            (node_fw_version, "node_fw_version"))]
        query = JobQuery(*query_values) if any(query_values) else None
        if not node_ids and not group_ids and query is None:
            raise ValidationFailed("OTA nodeId or groupId is missing", reason="job_targets_missing")
        if query is not None and (node_ids or group_ids):
            raise ValidationFailed("A dynamic job (node_type/node_model/node_fw_version) names "
                                   "no nodes nor groups", reason="job_targets_mixed")
        meta = metadata if isinstance(metadata, dict) else None
        if metadata is not None and meta is None:
            raise ValidationFailed("metadata is an object", reason="invalid_body")
        window = DownloadWindow.parse(meta.get("download_window")) if meta else None
        valid_from, valid_until = _validity(meta.get("validity")) if meta else (None, None)
        pace, abort = _rollout(rollout)
        now = self.clock.now()
        job = OtaJob(id=self.ids.new_id(), org_id=principal.org_id, name=job_name,
                     image_id="", description=check_text(description, "description",
                                                         required=False,
                                                         limit=DESCRIPTION_MAX),
                     priority=check_priority(priority),
                     timeout_seconds=check_timeout(timeout_seconds),
                     force_push=bool(force_push), user_approval=bool(user_approval),
                     notify=bool(notify), nodes=node_ids, groups=group_ids, query=query,
                     window=window, valid_from=valid_from, valid_until=valid_until,
                     rollout=pace, abort=abort, metadata=meta, created_by=principal.user_id,
                     created_at=now)
        async with self.uow(principal.org_id) as uow:
            image = await uow.ota.get_image(str(image_id)) if image_id else None
            if image_id in (None, ""):
                raise ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
            if image is None:
                raise NotFound("OTA image not found", reason="image_not_found")
            image.ensure_usable()
            job.image_id = image.id
            if await uow.ota.get_job_by_name(job_name) is not None:
                raise Conflict("OTA job name already exists", reason="job_name_exists")
            targets = await self._targets(uow, job)
            if not targets and query is None:
                raise ValidationFailed("Error, OTA Job should have valid nodes",
                                       reason="job_no_valid_nodes")
            await uow.ota.add_job(job, [
                NodeJobStatus(job_id=job.id, node_id=n, org_id=job.org_id,
                              priority=job.priority, updated_at=now) for n in targets])
            await uow.commit()
        if job.force_push and not job.user_approval:
            await self.delivery.dispatch(job.org_id, job.id, budget=job.rollout.max_per_minute)
        return job

    async def _targets(self, uow: UnitOfWork, job: OtaJob) -> list[str]:
        if job.query is not None:
            q = job.query
            found, _ = await uow.nodes.search(
                NodeFilter(type=q.node_type, model=q.node_model, fw_version=q.node_fw_version),
                start_id=None, limit=DYNAMIC_SCAN)
            return [n.id for n in found]
        wanted = list(job.nodes)
        if job.groups:
            wanted += await group_node_ids(uow, job.groups)
        existing = {n.id for n in await uow.nodes.get_many(list(dict.fromkeys(wanted)))}
        missing = [n for n in job.nodes if n not in existing]
        if missing:
            raise NotFound(f"Nodes do not exist: {', '.join(missing[:5])}",
                           reason="nodes_not_found")
        unknown = [g for g in job.groups if g != ALL_NODES_GROUP]
        if unknown:
            known = {g.id for g in await uow.admin_groups.all()}
            if set(unknown) - known:
                raise NotFound("Group does not exist", reason="group_not_found")
        return [n for n in dict.fromkeys(wanted) if n in existing]

    @requires(OTA_JOBS, "GET")
    async def list_jobs(self, caller: Caller, *, job_id: object = None, name: object = None,
                        image_id: object = None, archived: bool = False, every: bool = False,
                        start_id: object = None, num_records: object = 25) -> JobPage:
        principal = caller.require_principal()
        num_records = check_page(num_records, MAX_PAGE)
        query = JobListQuery(
            job_id=check_text(job_id, "ota_job_id", required=False) or None,
            name=check_text(name, "ota_job_name", required=False, limit=NAME_MAX) or None,
            name_contains=True,
            image_id=check_text(image_id, "ota_image_id", required=False) or None,
            archived=None if every else archived)
        start = check_text(start_id, "start_id", required=False) or None
        async with self.uow(principal.org_id) as uow:
            found, total = await uow.ota.list_jobs(query, start_id=start,
                                                   limit=num_records + 1)
            if query.job_id is not None and not found:
                raise NotFound("OTA job not found", reason="job_not_found")
            summaries = await uow.ota.summaries([job.id for job in found[:num_records]])
            page = [(job, summaries[job.id]) for job in found[:num_records]]
        return JobPage(page, total, found[num_records].id if len(found) > num_records
                       else None)

    @requires(OTA_JOBS, "PUT")
    async def cancel_or_archive(self, caller: Caller, *, job_id: object, archive: bool = False
                                ) -> tuple[OtaJob, JobSummary]:
        """Cancels an active job (its nodes not finished yet become cancelled), or archives a
        finished or cancelled one."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            job = await job_of(uow, job_id)
            if archive:
                if job.archived:
                    raise Conflict("Either Job is still active, or non-existent or already "
                                   "archived", reason="job_already_archived")
                job.archive()
            else:
                job.cancel(now)
                await close_targets(uow, job, NodeStatus.CANCELLED, now)
            await uow.ota.save_job(job)
            summary = await uow.ota.summary(job.id)
            await uow.commit()
        return job, summary

    @requires(OTA_JOBS, "GET")
    async def job_status(self, caller: Caller, *, job_id: object, node_id: object = None,
                         start_id: object = None, num_records: object = 25
                         ) -> tuple[OtaJob, list[NodeJobStatus], str | None]:
        principal = caller.require_principal()
        num_records = check_page(num_records, MAX_PAGE)
        async with self.uow(principal.org_id) as uow:
            job = await job_of(uow, job_id)
            if node_id not in (None, ""):
                one = await uow.ota.node_status(job.id, check_node_id(node_id))
                if one is None:
                    raise NotFound("OTA status not found", reason="ota_status_not_found")
                return job, [one], None
            start = check_text(start_id, "start_id", required=False) or None
            found = list(await uow.ota.node_statuses(job.id, start_id=start,
                                                     limit=num_records + 1))
        more = len(found) > num_records
        return job, found[:num_records], found[num_records].node_id if more else None

    @requires(OTA_JOBS, "GET")
    async def job_summary(self, caller: Caller, *, job_id: object) -> JobSummary:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await job_of(uow, job_id)
            return await uow.ota.summary(job.id)

    @requires(OTA_JOBS, "GET")
    async def job_progress(self, caller: Caller, *, job_id: object,
                           after: tuple[datetime, str] | None, limit: int = 500
                           ) -> tuple[OtaJob, JobSummary, list[NodeJobStatus]]:
        """The job, its counters and up to `limit` node statuses that changed after the
        (updated_at, node_id) position a reader reached (all of them from the start when
        None), oldest first, read in one transaction."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await job_of(uow, job_id)
            summary = await uow.ota.summary(job.id)
            changed = list(await uow.ota.statuses_changed(job.id, after=after,
                                                          limit=max(1, min(limit, 1000))))
        return job, summary, changed

    @requires(OTA_JOBS, "POST")
    async def retrigger(self, caller: Caller, *, job_id: object) -> OtaJob:
        """Offers an active job again to its nodes that have not finished it."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await job_of(uow, job_id)
            if job.user_approval:
                raise ValidationFailed("User Approval Jobs cannot be retriggered",
                                       reason="job_user_approval_retrigger")
            if job.status != JobStatus.ACTIVE:
                raise ValidationFailed("Cannot retrigger a non active job",
                                       reason="job_not_active")
            statuses = list(await uow.ota.node_statuses(job.id, start_id=None,
                                                        limit=MAX_JOB_NODES * 100))
        for st in statuses:
            if st.status not in FINAL:
                await self.delivery.offer_next(job.org_id, st.node_id, resend=True)
        return job


def summary_counts(summary: JobSummary) -> dict[str, int]:
    """RainMaker's summary fields."""
    names: Sequence[tuple[str, NodeStatus]] = (
        ("triggered", NodeStatus.TRIGGERED), ("started", NodeStatus.STARTED),
        ("in_progress", NodeStatus.IN_PROGRESS), ("rejected", NodeStatus.REJECTED),
        ("delayed", NodeStatus.DELAYED), ("success", NodeStatus.SUCCESS),
        ("failed", NodeStatus.FAILED))
    out = {key: summary.counts.get(status.value, 0) for key, status in names}
    out["total"] = summary.total
    return out
