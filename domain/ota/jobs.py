"""Use cases on OTA jobs: create (targets, priority, expiry, window, rollout, abort), list,
cancel/archive, per-node status and summary; the device side (offer a node its next job,
advance its status from otastatus reports); and user-approved updates. Rules live in
domain/ota/model.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from domain.access.model import Caller, requires
from domain.devices.model import NodeFilter, check_node_id
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.groups.admin_groups import admin_group_node_ids
from domain.ota.images import OtaImages
from domain.ota.model import (
    ALL_NODES_GROUP,
    DESCRIPTION_MAX,
    FINAL,
    IN_FLIGHT,
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
    OtaImage,
    OtaJob,
    Rollout,
    check_page,
    check_priority,
    check_text,
    check_timeout,
    next_job,
)
from ports.repositories import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator

MAX_PAGE = 100
DYNAMIC_SCAN = 100_000  # nodes a dynamic job's query may match at creation


class OtaPublisher(Protocol):
    """Sends a node its OTA offer on node/<id>/otaurl."""

    async def offer(self, node_id: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Offer:
    node_id: str
    job: OtaJob
    image: OtaImage
    token: str  # the signed download link's token

    def payload(self, base_url: str) -> dict[str, Any]:
        return {"ota_job_id": self.job.id, "url": f"{base_url}/v1/ota/download/{self.token}",
                "fw_version": self.image.fw_version, "filesize": self.image.size,
                "file_md5": self.image.md5}


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[tuple[OtaJob, JobSummary]]
    total: int
    next_id: str | None


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
    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, images: OtaImages, publisher: OtaPublisher,
                 base_url: str) -> None:
        self.uow, self.ids, self.clock, self.authorizer = uow, ids, clock, authorizer
        self.images, self.publisher, self.base_url = images, publisher, base_url.rstrip("/")

    # --- admin ----------------------------------------------------------------------------

    @requires("/v1/admin/otajob", "POST")
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
            await self.dispatch(job.org_id, job.id, budget=job.rollout.max_per_minute)
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
            wanted += await admin_group_node_ids(uow, job.groups)
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

    async def _job(self, uow: UnitOfWork, job_id: object) -> OtaJob:
        if not isinstance(job_id, str) or not job_id:
            raise ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
        job = await uow.ota.get_job(job_id)
        if job is None:
            raise NotFound("OTA job not found", reason="job_not_found")
        return job

    @requires("/v1/admin/otajob", "GET")
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

    @requires("/v1/admin/otajob", "PUT")
    async def cancel_or_archive(self, caller: Caller, *, job_id: object, archive: bool = False
                                ) -> tuple[OtaJob, JobSummary]:
        """Cancels an active job (its nodes not finished yet become cancelled), or archives a
        finished or cancelled one."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            job = await self._job(uow, job_id)
            if archive:
                if job.archived:
                    raise Conflict("Either Job is still active, or non-existent or already "
                                   "archived", reason="job_already_archived")
                job.archive()
            else:
                job.cancel(now)
                await self._close_targets(uow, job, NodeStatus.CANCELLED, now)
            await uow.ota.save_job(job)
            summary = await uow.ota.summary(job.id)
            await uow.commit()
        return job, summary

    @staticmethod
    async def _close_targets(uow: UnitOfWork, job: OtaJob, status: NodeStatus,
                             now: datetime) -> None:
        start: str | None = None
        while True:
            batch = list(await uow.ota.node_statuses(job.id, start_id=start, limit=1000))
            changed = [st for st in batch if st.move(status, now)]
            if changed:
                await uow.ota.save_statuses(changed)
            if len(batch) < 1000:
                return
            start = batch[-1].node_id + "\x00"

    @staticmethod
    async def _time_out_targets(uow: UnitOfWork, job: OtaJob, now: datetime) -> None:
        """The job expired: a node it was offered to and that never finished failed (it
        disappeared, or could not finish in time); one never offered it timed out."""
        start: str | None = None
        while True:
            batch = list(await uow.ota.node_statuses(job.id, start_id=start, limit=1000))
            changed = [st for st in batch if st.move(
                NodeStatus.FAILED if st.status in IN_FLIGHT else NodeStatus.TIMED_OUT, now,
                "timed out: the job expired before the node finished")]
            if changed:
                await uow.ota.save_statuses(changed)
            if len(batch) < 1000:
                return
            start = batch[-1].node_id + "\x00"

    @requires("/v1/admin/otajob", "GET")
    async def job_status(self, caller: Caller, *, job_id: object, node_id: object = None,
                         start_id: object = None, num_records: object = 25
                         ) -> tuple[OtaJob, list[NodeJobStatus], str | None]:
        principal = caller.require_principal()
        num_records = check_page(num_records, MAX_PAGE)
        async with self.uow(principal.org_id) as uow:
            job = await self._job(uow, job_id)
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

    @requires("/v1/admin/otajob", "GET")
    async def job_summary(self, caller: Caller, *, job_id: object) -> JobSummary:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await self._job(uow, job_id)
            return await uow.ota.summary(job.id)

    @requires("/v1/admin/otajob", "GET")
    async def job_progress(self, caller: Caller, *, job_id: object,
                           after: tuple[datetime, str] | None, limit: int = 500
                           ) -> tuple[OtaJob, JobSummary, list[NodeJobStatus]]:
        """The job, its counters and up to `limit` node statuses that changed after the
        (updated_at, node_id) position a reader reached (all of them from the start when
        None), oldest first, read in one transaction."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await self._job(uow, job_id)
            summary = await uow.ota.summary(job.id)
            changed = list(await uow.ota.statuses_changed(job.id, after=after,
                                                          limit=max(1, min(limit, 1000))))
        return job, summary, changed

    @requires("/v1/admin/otajob", "POST")
    async def retrigger(self, caller: Caller, *, job_id: object) -> OtaJob:
        """Offers an active job again to its nodes that have not finished it."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            job = await self._job(uow, job_id)
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
                await self.offer_next(job.org_id, st.node_id, resend=True)
        return job

    # --- devices --------------------------------------------------------------------------

    async def offer_next(self, org_id: str, node_id: str, *, resend: bool = True
                         ) -> Offer | None:
        """Offers the node its next job (one at a time, by priority) on otaurl; the job in
        flight is offered again rather than another (a reconnect, otafetch)."""
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            candidates = [(job, st) for job, st in await uow.ota.statuses_of_node(node_id)
                          if not job.user_approval]
            chosen = next_job(candidates, now)
            if chosen is None:
                return None
            job, status = chosen
            if status.status == NodeStatus.TRIGGERED:
                status.move(NodeStatus.STARTED, now)
                await uow.ota.save_statuses([status])
            elif not resend:
                return None
            image = await uow.ota.get_image(job.image_id)
            if image is None or not image.uploaded:
                return None
            await uow.commit()
        offer = Offer(node_id=node_id, job=job, image=image,
                      token=self.images.download_token(image, now))
        await self.publisher.offer(node_id, offer.payload(self.base_url))
        return offer

    async def dispatch(self, org_id: str, job_id: str, *, budget: int | None = None,
                       batch: int = 500) -> int:
        """Offers a job to its waiting targets a batch at a time (two queries and one batched
        write per batch, then the otaurl messages published concurrently), skipping nodes
        with a job in flight or a higher-priority job waiting (they get this one later, on
        their next offer). The rollout paces it: at most `budget` nodes now (the caller's
        max_per_minute allowance) and never more than max_in_flight in flight. Returns how
        many nodes were offered the job."""
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            job = await uow.ota.get_job(job_id)
            if job is None or job.user_approval or not job.due(now):
                return 0
            image = await uow.ota.get_image(job.image_id)
            if image is None or not image.uploaded:
                return 0
            room = budget
            if job.rollout.max_in_flight is not None:
                free = job.rollout.max_in_flight - (await uow.ota.summary(job.id)).in_flight
                room = free if room is None else min(room, free)
        token = self.images.download_token(image, now)
        offered, after = 0, None
        while room is None or offered < room:
            take = batch if room is None else min(batch, room - offered)
            async with self.uow(org_id) as uow:
                waiting = list(await uow.ota.waiting_targets(job.id, take, after=after))
                if not waiting:
                    break
                after = waiting[-1].node_id
                busy = await uow.ota.busy_nodes([w.node_id for w in waiting],
                                                before_priority=job.priority)
                chosen = [w for w in waiting if w.node_id not in busy and
                          w.move(NodeStatus.STARTED, now)]
                if chosen:
                    await uow.ota.save_statuses(chosen)
                    await uow.commit()
            payload = Offer(node_id="", job=job, image=image, token=token).payload(
                self.base_url)
            for start in range(0, len(chosen), 200):
                await asyncio.gather(*(self.publisher.offer(w.node_id, payload)
                                       for w in chosen[start:start + 200]))
            offered += len(chosen)
        return offered

    async def report(self, org_id: str, node_id: str, payload: object) -> bool:
        """A node's otastatus report {ota_job_id, status, additional_info}: advances its
        status in that job when it goes forward; ignored (False) otherwise. Finishes the job
        when every target is done; aborts it when failures cross its threshold."""
        if not isinstance(payload, dict) or not isinstance(payload.get("ota_job_id"), str):
            return False
        try:
            wanted = NodeStatus(str(payload.get("status")))
        except ValueError:
            return False
        if wanted not in (NodeStatus.IN_PROGRESS, NodeStatus.SUCCESS, NodeStatus.FAILED,
                          NodeStatus.REJECTED, NodeStatus.DELAYED):
            return False
        info = payload.get("additional_info")
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            job = await uow.ota.get_job(payload["ota_job_id"])
            status = await uow.ota.node_status(payload["ota_job_id"], node_id)
            if job is None or status is None or job.status != JobStatus.ACTIVE:
                return False
            if not status.move(wanted, now, info if isinstance(info, str) else ""):
                return False
            await uow.ota.save_statuses([status])
            summary = await uow.ota.summary(job.id)
            if job.abort is not None and job.abort.trips(summary.failed, summary.executed):
                job.end(JobStatus.ABORTED, now, f"aborted: {summary.failed} of "
                        f"{summary.executed} nodes failed (threshold "
                        f"{job.abort.failure_percent:g}%)")
                await self._close_targets(uow, job, NodeStatus.CANCELLED, now)
                await uow.ota.save_job(job)
            elif summary.finished and not job.dynamic:
                job.end(JobStatus.FINISHED, now)
                await uow.ota.save_job(job)
            await uow.commit()
        if wanted in FINAL:  # the node may have another job waiting
            await self.offer_next(org_id, node_id, resend=False)
        return True

    async def expire(self, org_id: str) -> list[str]:
        """Ends the organization's active jobs whose timeout or validity passed: their nodes
        not finished time out. Returns the ids of the jobs ended."""
        now = self.clock.now()
        ended = []
        async with self.uow(org_id) as uow:
            found, _ = await uow.ota.list_jobs(JobListQuery(archived=None), start_id=None,
                                               limit=10_000)
            for job in found:
                if job.expired(now):
                    job.end(JobStatus.FINISHED, now, "expired")
                    await self._time_out_targets(uow, job, now)
                    await uow.ota.save_job(job)
                    ended.append(job.id)
            await uow.commit()
        return ended

    async def node_matches(self, org_id: str, node_id: str, node_type: str, model: str,
                           fw_version: str) -> int:
        """A node reported its config: the active dynamic jobs whose query it now matches
        take it as a target. Returns how many did."""
        now = self.clock.now()
        async with self.uow(org_id) as uow:
            jobs = [j for j in await uow.ota.active_dynamic_jobs()
                    if j.query is not None and j.query.matches(node_type, model, fw_version)]
            added = await uow.ota.add_targets([
                NodeJobStatus(job_id=j.id, node_id=node_id, org_id=org_id, priority=j.priority,
                              updated_at=now) for j in jobs])
            await uow.commit()
        return added

    async def active_jobs(self) -> list[OtaJob]:
        """Every organization's active jobs (the gateway's periodic sweep: expiry, download
        windows opening)."""
        from ports.repositories import SYSTEM_SCOPE

        async with self.uow(SYSTEM_SCOPE) as uow:
            found, _ = await uow.ota.list_jobs(JobListQuery(archived=None), start_id=None,
                                               limit=100_000)
        return [job for job in found if job.status == JobStatus.ACTIVE]

    async def offer_waiting(self, job: OtaJob, *, limit: int = 10_000) -> int:
        """Offers the job's waiting targets that are connected their next job (the job has
        just become due: its download window opened or its validity started). Returns how
        many nodes were offered something."""
        if job.user_approval:
            return 0
        async with self.uow(job.org_id) as uow:
            waiting = [st.node_id for st in await uow.ota.waiting_targets(job.id, limit)]
            nodes = await uow.nodes.get_many(waiting) if waiting else []
        offered = 0
        for node in nodes:
            if node.active and node.connectivity.connected \
                    and await self.offer_next(job.org_id, node.id, resend=False) is not None:
                offered += 1
        return offered

    # --- end users (user-approved updates) ------------------------------------------------

    async def _user_node(self, uow: UnitOfWork, caller: Caller, node_id: object) -> str:
        principal, user_id = caller.require_user()
        node = check_node_id(node_id)
        if await uow.memberships.get(node, user_id) is None:
            raise NotFound("User to node mapping does not exist", reason="node_not_mapped")
        return node

    @requires("/v1/user/nodes/ota_update", "GET")
    async def available_update(self, caller: Caller, *, node_id: object
                               ) -> tuple[OtaJob, OtaImage] | None:
        """The user-approval job waiting for the node, if any."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            node = await self._user_node(uow, caller, node_id)
            waiting = [(job, st) for job, st in await uow.ota.statuses_of_node(node)
                       if job.user_approval]
            chosen = next_job(waiting, now)
            if chosen is None:
                return None
            image = await uow.ota.get_image(chosen[0].image_id)
        return (chosen[0], image) if image is not None else None

    @requires("/v1/user/nodes/ota_update", "POST")
    async def push_update(self, caller: Caller, *, node_id: object, job_id: object) -> Offer:
        """The user approves: the node is offered that job now."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            node = await self._user_node(uow, caller, node_id)
            job = await self._job(uow, job_id)
            status = await uow.ota.node_status(job.id, node)
            if status is None:
                raise ValidationFailed("OTA Job is not associated with the node",
                                       reason="job_not_for_node")
            if not job.due(now) or status.status in FINAL:
                raise ValidationFailed("Invalid OTA job specified. Please re-check the "
                                       "available OTA job.", reason="job_not_available")
            status.move(NodeStatus.STARTED, now)
            await uow.ota.save_statuses([status])
            image = await uow.ota.get_image(job.image_id)
            if image is None:
                raise NotFound("OTA image not found", reason="image_not_found")
            await uow.commit()
        offer = Offer(node_id=node, job=job, image=image,
                      token=self.images.download_token(image, now))
        await self.publisher.offer(node, offer.payload(self.base_url))
        return offer

    @requires("/v1/user/nodes/ota_status", "GET")
    async def user_status(self, caller: Caller, *, node_id: object, job_id: object
                          ) -> NodeJobStatus:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            node = await self._user_node(uow, caller, node_id)
            if not isinstance(job_id, str) or not job_id:
                raise ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
            status = await uow.ota.node_status(job_id, node)
        if status is None:
            raise NotFound("OTA status not found", reason="ota_status_not_found")
        return status


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
