"""OTA delivery, the device side of jobs: which job a node is offered and when (on connect,
on otafetch, when a report frees it, when a download window opens, paced for force-pushed
rollouts), how otastatus reports advance it, when jobs expire. The gateway's device runtime
carries messages here through one ordered lane and runs sweep() periodically; the rules are
here and in domain/ota/model.py (next_job, NodeJobStatus.move, OtaJob.due and expired)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.devices.model import check_node_id
from domain.errors import DomainError
from domain.jsonshape import decode_device_message
from domain.ota.images import OtaImages
from domain.ota.model import (
    FINAL,
    IN_FLIGHT,
    REPORTABLE,
    JobListQuery,
    JobStatus,
    NodeJobStatus,
    NodeStatus,
    Offer,
    OtaImage,
    OtaJob,
    next_job,
)
from domain.ota.sweep import SweepPlan, plan_sweep
from ports.ota import OtaPublisher
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import Clock

log = logging.getLogger("fleetgate.ota")

OTAFETCH, OTASTATUS = "otafetch", "otastatus"
MESSAGE_KINDS = (OTAFETCH, OTASTATUS)
"""What nodes send (node/<id>/otafetch, node/<id>/otastatus), JSON objects."""
CONNECTED, CONFIG = "connected", "config"
"""What ingest hands over (its reactions): the node said it is connected, its config changed."""
PAGE = 1000


@dataclass(frozen=True, slots=True)
class OtaOutcome:
    """What became of one OTA message or trigger: handled, or ignored and why (None when
    there was nothing left to do: the node went away meanwhile)."""

    handled: bool = False
    ignored: str | None = None


HANDLED = OtaOutcome(handled=True)


async def _move_targets(uow: UnitOfWork, job: OtaJob,
                        move: Callable[[NodeJobStatus], bool]) -> None:
    """Applies `move` to every target status of the job, a page at a time; saves those
    it changed."""
    start: str | None = None
    while True:
        batch = list(await uow.ota.node_statuses(job.id, start_id=start, limit=PAGE))
        changed = [st for st in batch if move(st)]
        if changed:
            await uow.ota.save_statuses(changed)
        if len(batch) < PAGE:
            return
        start = batch[-1].node_id + "\x00"


async def close_targets(uow: UnitOfWork, job: OtaJob, status: NodeStatus,
                        now: datetime) -> None:
    """The job's nodes not finished yet move to `status` (cancelled)."""
    await _move_targets(uow, job, lambda st: st.move(status, now))


async def _time_out_targets(uow: UnitOfWork, job: OtaJob, now: datetime) -> None:
    """The job expired: a node it was offered to and that never finished failed (it
    disappeared, or could not finish in time); one never offered it timed out."""
    await _move_targets(uow, job, lambda st: st.move(
        NodeStatus.FAILED if st.status in IN_FLIGHT else NodeStatus.TIMED_OUT, now,
        "timed out: the job expired before the node finished"))


class OtaDelivery:
    """Offers, reports, expiry and the periodic sweep of every organization's OTA jobs."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, images: OtaImages,
                 publisher: OtaPublisher, base_url: str) -> None:
        self.uow, self.clock, self.images, self.publisher = uow, clock, images, publisher
        self.base_url = base_url.rstrip("/")
        self._due: dict[str, bool] = {}  # each job's due state at the last sweep

    async def send(self, node_id: str, job: OtaJob, image: OtaImage, now: datetime) -> Offer:
        """Publishes the offer of `job` to the node, with a fresh signed download link."""
        offer = Offer(node_id=node_id, job=job, image=image,
                      token=self.images.download_token(image, now))
        await self.publisher.offer(node_id, offer.payload(self.base_url))
        return offer

    # --- the ordered lane: otafetch, otastatus, connected, config --------------------------

    async def handle(self, kind: str, node_id: str, org_id: str | None,
                     payload: bytes = b"") -> OtaOutcome:
        """One item of the gateway's OTA lane: a node's otafetch or otastatus message (org
        unknown), or its being connected or its config having changed (from ingest).

        - an invalid node id, a malformed payload or one that is not a JSON object, an
          unknown or inactive node: ignored, with the reason;
        - otastatus: report(); a report that does not apply is ignored;
        - otafetch and connected: the node is offered its next job (the one in flight
          again);
        - config: the active dynamic jobs it now matches take it, then it is offered a job
          not yet offered (not the one in flight again).
        """
        outcome = await self._handle(kind, node_id, org_id, payload)
        if outcome.ignored is not None:
            log.warning("ignored %s of node %s: %s", kind, node_id[:64], outcome.ignored)
        return outcome

    async def _handle(self, kind: str, node_id: str, org_id: str | None,
                      payload: bytes) -> OtaOutcome:
        try:
            check_node_id(node_id)
        except DomainError:
            return OtaOutcome(ignored="invalid node id")
        body: object = None
        if kind in MESSAGE_KINDS:
            try:
                body = decode_device_message(payload)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                return OtaOutcome(ignored=f"malformed payload: {exc}")
            if not isinstance(body, dict):
                return OtaOutcome(ignored="payload is not a JSON object")
        org = org_id or await self._org_of(node_id)
        if org is None:
            return OtaOutcome(ignored="unknown or inactive node")
        if kind == OTASTATUS:
            if not await self.report(org, node_id, body):
                return OtaOutcome(ignored=f"not applicable (unknown job, not a target, or "
                                          f"not a forward transition): {str(body)[:200]}")
        elif kind in (OTAFETCH, CONNECTED):
            await self.offer_next(org, node_id, resend=True)
        elif kind == CONFIG:
            async with self.uow(SYSTEM_SCOPE) as uow:
                node = await uow.nodes.get(node_id)
            if node is None:
                return OtaOutcome()
            await self.node_matches(org, node_id, node.type, node.model, node.fw_version)
            await self.offer_next(org, node_id, resend=False)
        return HANDLED

    async def _org_of(self, node_id: str) -> str | None:
        async with self.uow(SYSTEM_SCOPE) as uow:
            node = await uow.nodes.get(node_id)
        return node.org_id if node is not None and node.active else None

    # --- offers -------------------------------------------------------------------------

    async def offer_next(self, org_id: str, node_id: str, *, resend: bool = True
                         ) -> Offer | None:
        """Offers the node its next job (one at a time, by priority) on otaurl; the job in
        flight is offered again rather than another (a reconnect, otafetch), unless
        `resend` is False."""
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
        return await self.send(node_id, job, image, now)

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

    # --- reports, matching, expiry --------------------------------------------------------

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
        if wanted not in REPORTABLE:
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
                await close_targets(uow, job, NodeStatus.CANCELLED, now)
                await uow.ota.save_job(job)
            elif summary.finished and not job.dynamic:
                job.end(JobStatus.FINISHED, now)
                await uow.ota.save_job(job)
            await uow.commit()
        if wanted in FINAL:  # the node may have another job waiting
            await self.offer_next(org_id, node_id, resend=False)
        return True

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
                    await _time_out_targets(uow, job, now)
                    await uow.ota.save_job(job)
                    ended.append(job.id)
            await uow.commit()
        return ended

    # --- the periodic sweep ---------------------------------------------------------------

    async def active_jobs(self) -> list[OtaJob]:
        """Every organization's active jobs."""
        async with self.uow(SYSTEM_SCOPE) as uow:
            found, _ = await uow.ota.list_jobs(JobListQuery(archived=None), start_id=None,
                                               limit=100_000)
        return [job for job in found if job.status == JobStatus.ACTIVE]

    async def sweep(self, *, sweep_seconds: float) -> SweepPlan:
        """One pass over every organization's active jobs, run every `sweep_seconds`
        (plan_sweep's rules): expires the jobs past their timeout or validity, offers the
        gated jobs that have just become due, then gives paced rollouts their allowance.
        What was due is remembered once the offers went out (a pass that failed before
        offers them again)."""
        jobs = await self.active_jobs()
        plan = plan_sweep(jobs, self.clock.now(), self._due, sweep_seconds=sweep_seconds)
        for org_id in plan.expire:
            ended = await self.expire(org_id)
            if ended:
                log.info("OTA jobs expired in organization %s: %s", org_id, ", ".join(ended))
        for job in plan.offer:
            offered = await self.offer_waiting(job)
            if offered:
                log.info("OTA job %s became due: offered to %d connected node(s)",
                         job.id, offered)
        self._due = plan.due
        for job, budget in plan.dispatch:
            await self.dispatch(job.org_id, job.id, budget=budget)
        return plan
