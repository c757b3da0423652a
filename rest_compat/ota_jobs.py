"""RainMaker v1 OTA jobs on the wire (/v1/admin/otajob): create, list, cancel or archive,
per-node statuses and their summary, retrigger. Handlers translate and delegate; the rules
live in domain/ota/model.py and domain/ota/jobs.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import ValidationFailed
from domain.ota.jobs import summary_counts
from domain.ota.model import FINAL, JobStatus, JobSummary, NodeJobStatus, OtaJob
from domain.ota.use_cases import OtaUseCases
from rest_compat.group_common import NODE_ID
from rest_compat.http import Authenticate, bool_param, caller_for, json_body
from rest_compat.operations import Operation
from rest_compat.ota_schemas import (
    CANCEL_JOB,
    CREATE_JOB,
    FLAG,
    JOB,
    JOB_CREATED,
    JOB_ID_BODY,
    JOB_ID_QUERY,
    JOB_LIST,
    NAME,
    NODE_STATUSES,
    PAGE_QUERY,
    RECORD_ID,
    SUMMARY,
    explain_job,
    explain_job_id,
    page_size,
    param,
    query_param,
    required_param,
)

JOB_TAG = "OTA Job"
JOBS = "/v1/admin/otajob"


def _whole(value: Any) -> Any:
    """JSON Schema counts 64.0 as an integer; the domain wants an int."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _wholes(value: Any) -> Any:
    """_whole, through the objects of a body part."""
    if isinstance(value, dict):
        return {k: _wholes(v) for k, v in value.items()}
    return _whole(value)


def _metadata(value: Any) -> Any:
    if isinstance(value, dict) and isinstance(value.get("validity"), dict):
        return {**value, "validity": _wholes(value["validity"])}
    return value


def _epoch(moment: datetime | None) -> str:
    return str(int(moment.timestamp())) if moment is not None else ""


def node_status(st: NodeJobStatus) -> dict[str, Any]:
    return {"node_id": st.node_id, "status": st.status.value,
            "timestamp": _epoch(st.updated_at), "additional_info": st.additional_info}


def _counts(summary: JobSummary) -> dict[str, int]:
    fields = summary_counts(summary)
    named = sum(fields[k] for k in ("triggered", "started", "in_progress", "success",
                                    "failed"))
    return {"completed_count": sum(summary.counts.get(x.value, 0) for x in FINAL),
            "delayed_count": fields["delayed"], "rejected_count": fields["rejected"],
            "total_count": summary.total, "total_node_count": summary.total,
            "triggered_count": fields["triggered"], "started_count": fields["started"],
            "in_progress_count": fields["in_progress"], "success_count": fields["success"],
            "failed_count": fields["failed"], "other_count": summary.total - named}


def _job_entry(job: OtaJob, summary: JobSummary) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ota_job_id": job.id, "ota_job_name": job.name, "ota_image_id": job.image_id,
        "description": job.description, **_counts(summary),
        "triggered_timestamp": _epoch(job.created_at), "nodes": job.nodes,
        "groups": job.groups, "status": job.status.value, "archived": job.archived,
        "user_approval": job.user_approval, "force_push": job.force_push,
        "notify": job.notify, "priority": job.priority}
    if job.status_reason and job.status != JobStatus.ACTIVE:
        entry["status_reason"] = job.status_reason
    if job.status == JobStatus.CANCELLED and job.ended_at is not None:
        entry["cancelled_timestamp"] = _epoch(job.ended_at)
    if job.metadata is not None:
        entry["metadata"] = job.metadata
    if job.timeout_seconds is not None:
        entry["timeout"] = job.timeout_seconds
    if job.expires_at is not None:
        entry["expiry_timestamp_num"] = int(job.expires_at.timestamp())
    if job.query is not None:
        entry["group_query"] = ", ".join(f"{k}: {v}" for k, v in (
            ("node_type", job.query.node_type), ("node_model", job.query.node_model),
            ("node_fw_version", job.query.node_fw_version)) if v is not None)
    pace = {k: v for k, v in (("max_per_minute", job.rollout.max_per_minute),
                              ("max_in_flight", job.rollout.max_in_flight)) if v is not None}
    if pace or job.abort is not None:
        entry["rollout"] = {"rollout": pace, **({"abort": {
            "failure_percent": job.abort.failure_percent,
            "min_executed": job.abort.min_executed}} if job.abort else {})}
    return entry


def ota_job_operations(ota: OtaUseCases, authenticate: Authenticate,
                       max_body: int) -> list[Operation]:
    jobs = ota.jobs

    async def create_job(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        flags = {name: bool(bool_param(request, name))
                 for name in ("force_push", "user_approval", "notify")}
        body = await json_body(request, max_bytes=max_body, schema=CREATE_JOB,
                               explain=explain_job)
        job = await jobs.create_job(
            caller, name=body["ota_job_name"], image_id=body["ota_image_id"],
            description=body.get("description"), nodes=body.get("nodes"),
            groups=body.get("groups"), node_type=body.get("node_type"),
            node_model=body.get("node_model"), node_fw_version=body.get("node_fw_version"),
            priority=_whole(body.get("priority")),
            timeout_seconds=_whole(body.get("timeout")),
            metadata=_metadata(body.get("metadata")), rollout=_wholes(body.get("rollout")),
            **flags)
        return JSONResponse({"status": "success", "ota_job_id": job.id})

    async def get_jobs(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        job_id = param(request, "ota_job_id")
        page = await jobs.list_jobs(
            caller, job_id=job_id, name=param(request, "ota_job_name"),
            image_id=param(request, "ota_image_id"),
            archived=bool(bool_param(request, "archived")),
            every=bool(bool_param(request, "all")), start_id=param(request, "start_id"),
            num_records=page_size(request))
        if job_id is not None:
            return JSONResponse(_job_entry(*page.jobs[0]))
        body: dict[str, Any] = {"ota_jobs": [_job_entry(j, sm) for j, sm in page.jobs],
                                "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def cancel_job(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CANCEL_JOB,
                               explain=explain_job_id)
        job, summary = await jobs.cancel_or_archive(
            caller, job_id=body["ota_job_id"], archive=body.get("archive") in (True, "true"))
        return JSONResponse(_job_entry(job, summary))

    async def job_status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        job_id = required_param(request, "ota_job_id", "OTA Job Id is missing",
                                "job_id_missing")
        if bool_param(request, "summary"):
            return JSONResponse(summary_counts(await jobs.job_summary(caller, job_id=job_id)))
        _job, statuses, next_id = await jobs.job_status(
            caller, job_id=job_id, node_id=param(request, "node_id"),
            start_id=param(request, "start_id"), num_records=page_size(request))
        body: dict[str, Any] = {"node_ota_status": [node_status(st) for st in statuses]}
        if next_id is not None:
            body["next_id"] = next_id
        return JSONResponse(body)

    async def job_summary(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        job_id = required_param(request, "ota_job_id", "OTA Job Id is missing",
                                "job_id_missing")
        return JSONResponse(summary_counts(await jobs.job_summary(caller, job_id=job_id)))

    async def job_action(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        if request.path_params["action"] != "retrigger":
            raise ValidationFailed("Unsupported OTA job action; valid: retrigger",
                                   reason="unsupported_action")
        body = await json_body(request, max_bytes=max_body, schema=JOB_ID_BODY,
                               explain=explain_job_id)
        job = await jobs.retrigger(caller, job_id=body["ota_job_id"])
        return JSONResponse({"status": "success", "ota_job_id": job.id})

    flag = FLAG
    return [
        Operation(method="POST", path=JOBS, handler=create_job,
                  operation_id="createotajob", tag=JOB_TAG,
                  summary="Create an OTA job for nodes and/or admin groups (FFFF-FFFF: every "
                          "node), or a dynamic one (node_type/node_model/node_fw_version)",
                  uses=(jobs.create_job,), request_body=CREATE_JOB,
                  query=(query_param("force_push", flag), query_param("user_approval", flag),
                         query_param("notify", flag)),
                  responses={200: JOB_CREATED}),
        Operation(method="GET", path=JOBS, handler=get_jobs,
                  operation_id="getOTAJob", tag=JOB_TAG,
                  summary="The organization's OTA jobs with their node counters a page at a "
                          "time, or one job by id",
                  uses=(jobs.list_jobs,),
                  query=(query_param("ota_job_id", RECORD_ID), query_param("ota_job_name", NAME),
                         query_param("ota_image_id", RECORD_ID), query_param("archived", flag),
                         query_param("all", flag), *PAGE_QUERY),
                  responses={200: {"anyOf": [JOB_LIST, JOB]}}),
        Operation(method="PUT", path=JOBS, handler=cancel_job,
                  operation_id="cancelOrArchiveOtaJob", tag=JOB_TAG,
                  summary="Cancel an active OTA job, or archive (archive: true) a finished "
                          "or cancelled one",
                  uses=(jobs.cancel_or_archive,), request_body=CANCEL_JOB,
                  responses={200: JOB}),
        Operation(method="GET", path=f"{JOBS}/status", handler=job_status,
                  operation_id="getOTAJobStatus", tag=JOB_TAG,
                  summary="Each target node's status in an OTA job a page at a time (or one "
                          "node's; summary=true: the counters)",
                  uses=(jobs.job_status, jobs.job_summary),
                  query=(JOB_ID_QUERY, query_param("node_id", NODE_ID),
                         query_param("summary", flag), *PAGE_QUERY),
                  responses={200: {"anyOf": [NODE_STATUSES, SUMMARY]}}),
        Operation(method="GET", path=f"{JOBS}/status/summary", handler=job_summary,
                  operation_id="getOTAJobStatusSummary", tag=JOB_TAG,
                  summary="How many of an OTA job's nodes are in each status",
                  uses=(jobs.job_summary,), query=(JOB_ID_QUERY,),
                  responses={200: SUMMARY}),
        Operation(method="POST", path=JOBS + "/{action}", handler=job_action,
                  operation_id="otajobAction", tag=JOB_TAG,
                  summary="retrigger: offer an active OTA job again to its nodes that have "
                          "not finished it",
                  uses=(jobs.retrigger,), request_body=JOB_ID_BODY,
                  query=({"name": "action", "in": "path", "required": True,
                          "schema": {"type": "string", "enum": ["retrigger"]}},),
                  responses={200: JOB_CREATED}),
    ]
