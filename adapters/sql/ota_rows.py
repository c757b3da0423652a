"""How OTA images, jobs and per-node job statuses are written to their rows and read back as
domain entities (adapters/sql/ota.py). A job whose image was deleted has a null image_id in
its row and "" in the domain."""

from __future__ import annotations

from datetime import time
from typing import Any

from adapters.sql.kit import aware
from adapters.sql.tables.ota import ota_node_status
from domain.ota.model import (
    AbortRule,
    DownloadWindow,
    ImageKind,
    JobQuery,
    JobStatus,
    NodeJobStatus,
    NodeStatus,
    OtaImage,
    OtaJob,
    Rollout,
)


def hhmm(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value is not None else None


def image_values(image: OtaImage) -> dict[str, Any]:
    return {"name": image.name, "kind": image.kind.value, "type": image.type,
            "model": image.model, "fw_version": image.fw_version, "size": image.size,
            "md5": image.md5, "blob_key": image.blob_key, "uploaded": image.uploaded,
            "archived": image.archived, "expected_md5": image.expected_md5,
            "created_by": image.created_by, "upload_expires_at": image.upload_expires_at}


def image_of(row: Any) -> OtaImage:
    return OtaImage(id=row.id, org_id=row.org_id, name=row.name, kind=ImageKind(row.kind),
                    type=row.type, model=row.model, fw_version=row.fw_version,
                    size=int(row.size), md5=row.md5, blob_key=row.blob_key,
                    uploaded=row.uploaded, archived=row.archived,
                    expected_md5=row.expected_md5, created_by=row.created_by,
                    created_at=aware(row.created_at),  # type: ignore[arg-type]
                    upload_expires_at=aware(row.upload_expires_at))


def job_values(job: OtaJob) -> dict[str, Any]:
    query, window, abort = job.query, job.window, job.abort
    return {"name": job.name, "image_id": job.image_id or None,
            "description": job.description, "priority": job.priority,
            "timeout_seconds": job.timeout_seconds, "force_push": job.force_push,
            "user_approval": job.user_approval, "notify": job.notify,
            "nodes": list(job.nodes), "groups": list(job.groups),
            "query_node_type": query.node_type if query else None,
            "query_node_model": query.node_model if query else None,
            "query_node_fw_version": query.node_fw_version if query else None,
            "window_start": hhmm(window.start) if window else None,
            "window_end": hhmm(window.end) if window else None,
            "valid_from": job.valid_from, "valid_until": job.valid_until,
            "rollout_max_per_minute": job.rollout.max_per_minute,
            "rollout_max_in_flight": job.rollout.max_in_flight,
            "abort_failure_percent": abort.failure_percent if abort else None,
            "abort_min_executed": abort.min_executed if abort else None,
            "metadata": job.metadata, "status": job.status.value,
            "status_reason": job.status_reason, "archived": job.archived,
            "created_by": job.created_by, "ended_at": job.ended_at}


def job_of(row: Any) -> OtaJob:
    values = (row.query_node_type, row.query_node_model, row.query_node_fw_version)
    query = None if all(v is None for v in values) else JobQuery(
        node_type=values[0], node_model=values[1], node_fw_version=values[2])
    window = None if row.window_start is None or row.window_end is None else DownloadWindow(
        time.fromisoformat(row.window_start), time.fromisoformat(row.window_end))
    abort = None if row.abort_failure_percent is None or row.abort_min_executed is None \
        else AbortRule(float(row.abort_failure_percent), int(row.abort_min_executed))
    return OtaJob(id=row.id, org_id=row.org_id, name=row.name, image_id=row.image_id or "",
                  description=row.description, priority=row.priority,
                  timeout_seconds=row.timeout_seconds, force_push=row.force_push,
                  user_approval=row.user_approval, notify=row.notify,
                  nodes=list(row.nodes or []), groups=list(row.groups or []), query=query,
                  window=window, valid_from=aware(row.valid_from),
                  valid_until=aware(row.valid_until),
                  rollout=Rollout(max_per_minute=row.rollout_max_per_minute,
                                  max_in_flight=row.rollout_max_in_flight),
                  abort=abort, metadata=row.metadata, status=JobStatus(row.status),
                  status_reason=row.status_reason, archived=row.archived,
                  created_by=row.created_by,
                  created_at=aware(row.created_at),  # type: ignore[arg-type]
                  ended_at=aware(row.ended_at))


def status_values(status: NodeJobStatus) -> dict[str, Any]:
    return {"job_id": status.job_id, "node_id": status.node_id, "org_id": status.org_id,
            "status": status.status.value, "priority": status.priority,
            "additional_info": status.additional_info, "updated_at": status.updated_at,
            "triggered_at": status.triggered_at, "attempts": status.attempts}


def status_of(row: Any, prefix: str = "") -> NodeJobStatus:
    """A status from a row; prefix: its columns' label prefix in a joined row."""
    m = {name: row._mapping[prefix + name] for name in ota_node_status.c.keys()}
    return NodeJobStatus(job_id=m["job_id"], node_id=m["node_id"], org_id=m["org_id"],
                         status=NodeStatus(m["status"]), priority=m["priority"],
                         additional_info=m["additional_info"],
                         updated_at=aware(m["updated_at"]),  # type: ignore[arg-type]
                         triggered_at=aware(m["triggered_at"]), attempts=m["attempts"])
