"""OTA jobs in GraphQL: jobs with their per-node statuses and summary, create, cancel,
archive, and otaJobProgress (a subscription streaming a job's counters and per-node
changes). Resolvers translate and call the use cases named in "uses"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta

import strawberry
from strawberry.scalars import JSON

from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.ota.jobs import OtaJobs, summary_counts
from domain.ota.model import JobSummary, NodeJobStatus, OtaJob
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, after_anchor, encode_cursor

PROGRESS_POLL_SECONDS = 0.5
PROGRESS_PAGE = 500
PROGRESS_LOOKBACK = timedelta(seconds=5)


@strawberry.type(name="OtaJobSummary", description="How many target nodes are in each "
                                                    "status (RainMaker's names).")
class OtaSummaryType:
    total: int
    triggered: int
    started: int
    in_progress: int
    delayed: int
    success: int
    failed: int
    rejected: int
    other: int

    @classmethod
    def of(cls, summary: JobSummary) -> OtaSummaryType:
        counts = summary_counts(summary)
        named = sum(v for k, v in counts.items() if k != "total")
        return cls(total=summary.total, triggered=counts["triggered"],
                   started=counts["started"], in_progress=counts["in_progress"],
                   delayed=counts["delayed"], success=counts["success"],
                   failed=counts["failed"], rejected=counts["rejected"],
                   other=summary.total - named)


@strawberry.type(name="OtaNodeStatus")
class OtaNodeStatusType:
    node_id: strawberry.ID
    status: str
    additional_info: str
    updated_at: datetime
    attempts: int

    @classmethod
    def of(cls, status: NodeJobStatus) -> OtaNodeStatusType:
        return cls(node_id=strawberry.ID(status.node_id), status=status.status.value,
                   additional_info=status.additional_info, updated_at=status.updated_at,
                   attempts=status.attempts)


@strawberry.type
class OtaNodeStatusEdge:
    cursor: str
    node: OtaNodeStatusType


@strawberry.type
class OtaNodeStatusConnection:
    edges: list[OtaNodeStatusEdge]
    page_info: PageInfo


@strawberry.type(name="OtaJob")
class OtaJobType:
    id: strawberry.ID
    name: str
    image_id: strawberry.ID
    description: str
    priority: int
    status: str
    status_reason: str
    archived: bool
    dynamic: bool
    force_push: bool
    user_approval: bool
    node_ids: list[strawberry.ID]
    group_ids: list[strawberry.ID]
    created_at: datetime
    ended_at: datetime | None
    summary: OtaSummaryType

    @strawberry.field(description="Per-node statuses, ordered by node id.",
                      metadata=uses(OtaJobs.job_status))
    async def node_statuses(self, info: Ctx, first: int = 25, after: str | None = None
                            ) -> OtaNodeStatusConnection:
        ctx = info.context
        anchor = after_anchor(after)
        _, found, next_id = await ctx.ota.jobs.job_status(
            await ctx.caller(), job_id=str(self.id),
            start_id=None if anchor is None else anchor + "\x00", num_records=first)
        edges = [OtaNodeStatusEdge(cursor=encode_cursor(s.node_id),
                                   node=OtaNodeStatusType.of(s)) for s in found]
        return OtaNodeStatusConnection(edges=edges, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=next_id is not None))

    @classmethod
    def of(cls, job: OtaJob, summary: JobSummary) -> OtaJobType:
        return cls(id=strawberry.ID(job.id), name=job.name, image_id=strawberry.ID(job.image_id),
                   description=job.description, priority=job.priority,
                   status=job.status.value, status_reason=job.status_reason,
                   archived=job.archived, dynamic=job.dynamic, force_push=job.force_push,
                   user_approval=job.user_approval,
                   node_ids=[strawberry.ID(i) for i in job.nodes],
                   group_ids=[strawberry.ID(i) for i in job.groups],
                   created_at=job.created_at, ended_at=job.ended_at,
                   summary=OtaSummaryType.of(summary))


@strawberry.type
class OtaJobEdge:
    cursor: str
    node: OtaJobType


@strawberry.type
class OtaJobConnection:
    edges: list[OtaJobEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Up to 100 nodes and/or 10 admin groups (FFFF-FFFF: every "
                              "node), or a dynamic job (nodeType/nodeModel/nodeFwVersion).")
class CreateOtaJobInput:
    name: str
    image_id: strawberry.ID
    description: str | None = None
    node_ids: list[strawberry.ID] | None = None
    group_ids: list[strawberry.ID] | None = None
    node_type: str | None = None
    node_model: str | None = None
    node_fw_version: str | None = None
    priority: int | None = None
    timeout_seconds: int | None = None
    metadata: JSON | None = strawberry.field(
        default=None, description='{"download_window": {"start": "HH:MM", "end": "HH:MM"}, '
                                  '"validity": {"start": <epoch s>, "end": <epoch s>}}')
    force_push: bool = False
    user_approval: bool = False
    notify: bool = False
    rollout: JSON | None = strawberry.field(
        default=None, description='{"rollout": {"max_per_minute", "max_in_flight"}, '
                                  '"abort": {"failure_percent", "min_executed"}}')


@strawberry.input
class OtaJobIdInput:
    id: strawberry.ID


@strawberry.type
class OtaJobPayload:
    job: OtaJobType


@strawberry.type
class OtaJobProgress:
    summary: OtaSummaryType
    status: str
    changed: list[OtaNodeStatusType] = strawberry.field(
        description="Node statuses changed since the previous event (all of them, up to "
                    "1,000, in the first).")


async def _job(info: Ctx, job_id: str) -> OtaJobType:
    ctx = info.context
    caller = await ctx.caller()
    page = await ctx.ota.jobs.list_jobs(caller, job_id=job_id, every=True) \
        if job_id else None  # an empty id is no filter to list_jobs: not a job either
    if page is None or not page.jobs:
        raise NotFound("OTA job not found", reason="job_not_found")
    job, summary = page.jobs[0]
    return OtaJobType.of(job, summary)


@strawberry.type
class OtaJobQueries:
    @strawberry.field(description="The organization's OTA jobs, ordered by id.",
                      metadata=uses(OtaJobs.list_jobs))
    async def ota_jobs(self, info: Ctx, name_contains: str | None = None,
                       image_id: strawberry.ID | None = None, archived: bool | None = False,
                       first: int = 25, after: str | None = None) -> OtaJobConnection:
        ctx = info.context
        anchor = after_anchor(after)
        page = await ctx.ota.jobs.list_jobs(
            await ctx.caller(), name=name_contains, image_id=image_id,
            archived=bool(archived), every=archived is None,
            start_id=None if anchor is None else anchor + "\x00", num_records=first)
        edges = [OtaJobEdge(cursor=encode_cursor(j.id), node=OtaJobType.of(j, s))
                 for j, s in page.jobs]
        return OtaJobConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None))

    @strawberry.field(metadata=uses(OtaJobs.list_jobs))
    async def ota_job(self, info: Ctx, id: strawberry.ID) -> OtaJobType:
        return await _job(info, str(id))


@strawberry.type
class OtaJobMutations:
    @strawberry.mutation(metadata=uses(OtaJobs.create_job, OtaJobs.list_jobs))
    async def create_ota_job(self, info: Ctx, input: CreateOtaJobInput) -> OtaJobPayload:
        ctx = info.context
        job = await ctx.ota.jobs.create_job(
            await ctx.caller(), name=input.name, image_id=str(input.image_id),
            description=input.description,
            nodes=None if input.node_ids is None else [str(i) for i in input.node_ids],
            groups=None if input.group_ids is None else [str(i) for i in input.group_ids],
            node_type=input.node_type, node_model=input.node_model,
            node_fw_version=input.node_fw_version, priority=input.priority,
            timeout_seconds=input.timeout_seconds, metadata=input.metadata,
            force_push=input.force_push, user_approval=input.user_approval,
            notify=input.notify, rollout=input.rollout)
        return OtaJobPayload(job=await _job(info, job.id))

    @strawberry.mutation(metadata=uses(OtaJobs.cancel_or_archive))
    async def cancel_ota_job(self, info: Ctx, input: OtaJobIdInput) -> OtaJobPayload:
        ctx = info.context
        job, summary = await ctx.ota.jobs.cancel_or_archive(await ctx.caller(),
                                                                    job_id=str(input.id))
        return OtaJobPayload(job=OtaJobType.of(job, summary))

    @strawberry.mutation(metadata=uses(OtaJobs.cancel_or_archive),
                         description="Archives a finished or cancelled job.")
    async def archive_ota_job(self, info: Ctx, input: OtaJobIdInput) -> OtaJobPayload:
        ctx = info.context
        job, summary = await ctx.ota.jobs.cancel_or_archive(
            await ctx.caller(), job_id=str(input.id), archive=True)
        return OtaJobPayload(job=OtaJobType.of(job, summary))


@strawberry.type
class OtaJobSubscription:
    @strawberry.subscription(metadata=uses(OtaJobs.job_progress),
                             description="A job's counters and every node status change, as "
                                         "they happen (read from the database, so every "
                                         "replica's progress shows; the first event carries "
                                         "every node's status); ends when the job ends.")
    async def ota_job_progress(self, info: Ctx, job_id: strawberry.ID
                               ) -> AsyncGenerator[OtaJobProgress, None]:
        ctx = info.context
        caller = await ctx.caller()
        jobs = ctx.ota.jobs
        seen: dict[str, tuple[str, datetime]] = {}
        reached: datetime | None = None
        last_summary: JobSummary | None = None
        while True:
            # re-read a little before the newest change seen: a change another replica
            # committed late with an earlier timestamp still shows (seen drops repeats)
            after = (reached - PROGRESS_LOOKBACK, "") if reached is not None else None
            changed: list[NodeJobStatus] = []
            while True:
                try:
                    job, summary, page = await jobs.job_progress(caller, job_id=str(job_id),
                                                                 after=after,
                                                                 limit=PROGRESS_PAGE)
                except (Unauthenticated, Forbidden) as exc:
                    if last_summary is None:
                        raise  # refused from the start: an error, as for any field
                    await ctx.session_lost(exc)
                changed += [s for s in page
                            if seen.get(s.node_id) != (s.status.value, s.updated_at)]
                for s in page:
                    seen[s.node_id] = (s.status.value, s.updated_at)
                    reached = s.updated_at if reached is None else max(reached, s.updated_at)
                if len(page) < PROGRESS_PAGE:
                    break
                after = (page[-1].updated_at, page[-1].node_id)
            if changed or summary != last_summary:
                last_summary = summary
                for start in range(0, max(len(changed), 1), PROGRESS_PAGE):
                    yield OtaJobProgress(summary=OtaSummaryType.of(summary),
                                         status=job.status.value,
                                         changed=[OtaNodeStatusType.of(s) for s in
                                                  changed[start:start + PROGRESS_PAGE]])
            if job.status.value != "active":
                return
            await asyncio.sleep(PROGRESS_POLL_SECONDS)
            caller = await ctx.current_caller()  # the sign-in, checked again when due
