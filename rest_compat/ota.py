"""RainMaker v1 OTA on the wire: images (/v1/admin/otaimage, the signed upload and download
links Fleetgate serves itself), jobs (/v1/admin/otajob) and user-approved updates
(/v1/user/nodes/ota_update). Handlers translate and delegate; the rules live in
domain/ota/model.py, domain/ota/images.py and domain/ota/jobs.py."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.devices.use_cases import DeviceUseCases
from domain.errors import ValidationFailed
from domain.identifiers import RECORD_ID_PATTERN
from domain.ota.images import MAX_PAGE
from domain.ota.jobs import summary_counts
from domain.ota.model import (
    DESCRIPTION_MAX,
    FIELD_MAX,
    FINAL,
    MAX_BASE64_IMAGE_BYTES,
    MAX_IMAGE_BYTES,
    MAX_JOB_GROUPS,
    MAX_JOB_NODES,
    NAME_MAX,
    PRIORITY_HIGHEST,
    PRIORITY_LOWEST,
    JobStatus,
    JobSummary,
    NodeJobStatus,
    OtaImage,
    OtaJob,
)
from rest_compat import schemas as s
from rest_compat.group_common import GROUP_ID, NODE_ID
from rest_compat.http import (
    Authenticate,
    anonymous_caller,
    bool_param,
    caller_for,
    json_body,
    success,
)
from rest_compat.operations import Handler, Operation
from rest_compat.schemas import Violation

IMAGE_TAG, JOB_TAG, USER_TAG = "OTA Image", "OTA Job", "User OTA"
IMAGES, JOBS = "/v1/admin/otaimage", "/v1/admin/otajob"
_EDGE = f"[^{s.CONTROL}{s.WHITESPACE}]"
_TEXT_PATTERN = f"^{_EDGE}([^{s.CONTROL}]*{_EDGE})?$"


def _text(limit: int, description: str = "") -> dict[str, Any]:
    """domain.ota.model.check_text: no control characters, no white space at either end."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": limit,
                              "pattern": _TEXT_PATTERN}
    if description:
        schema["description"] = description
    return schema


NAME = _text(NAME_MAX)
FIELD = _text(FIELD_MAX)
RECORD_ID = {"type": "string", "pattern": RECORD_ID_PATTERN}
# 4 * ceil(5 MB / 3): the longest base64 text of an image of at most 5 MB
BASE64_MAX = 4 * -(-MAX_BASE64_IMAGE_BYTES // 3)
BASE64 = {"type": "string", "minLength": 4, "maxLength": BASE64_MAX,
          "pattern": "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
          "description": "the image, base64 (at most 5 MB decoded)"}
IMAGE_TYPE = {"type": "string", "enum": ["firmware", "package"], "default": "firmware"}
MD5_HEX = {"type": "string", "pattern": "^[0-9a-fA-F]{32}$",
           "description": "the file's MD5, 32 hexadecimal digits"}
TOKEN = {"type": "string", "minLength": 66, "maxLength": 4096,
         "pattern": "^[A-Za-z0-9_-]+\\.[0-9a-f]{64}$"}
FLAG = {"type": "string", "enum": ["true", "false"]}
NUM_RECORDS = {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}
START_ID = {"type": "string", "maxLength": FIELD_MAX,
            "pattern": f"^({_EDGE}([^{s.CONTROL}]*{_EDGE})?)?$"}
BINARY = {"type": "string", "contentMediaType": "application/octet-stream"}
ESP_FIELDS = {"fw_version": FIELD, "model": FIELD, "type": FIELD}

CREATE_IMAGE = s.obj({"image_name": NAME, "base64_fwimage": BASE64, **ESP_FIELDS},
                     ("base64_fwimage", "image_name"),
                     description="fw_version and model default to the ESP app description "
                                 "in the image's header")
USER_IMAGE = s.obj({"image_name": NAME, "base64_fwimage": BASE64, **ESP_FIELDS},
                   ("base64_fwimage", "image_name"))
CONFIRM_UPLOAD = s.obj({"ota_image_id": RECORD_ID, **ESP_FIELDS, "image_type": IMAGE_TYPE},
                       ("ota_image_id",))
CREATE_PACKAGE = s.obj({"image_name": NAME, "file_path": NAME, **ESP_FIELDS},
                       ("file_path",),
                       description="file_path: the file_name of the package upload URL; a "
                                   "package has no ESP header, so fw_version and model are "
                                   "needed")
IMAGE_CREATED = s.obj({"status": {"type": "string", "enum": ["success"]},
                       "description": s.STR, "ota_image_id": s.STR, "image_url": s.STR},
                      ("status", "ota_image_id"))
USER_IMAGE_CREATED = s.obj({"status": {"type": "string", "enum": ["success"]},
                            "ota_image_id": s.STR, "image_url": s.STR}, ("status",))
UPLOAD_URL = s.obj({"status": {"type": "string", "enum": ["success"]}, "ota_image_id": s.STR,
                    "upload_url": s.STR, "expires_at": s.STR},
                   ("status", "ota_image_id", "upload_url"))
PACKAGE_URL = s.obj({"status": {"type": "string", "enum": ["success"]}, "url": s.STR,
                     "ota_image_id": s.STR}, ("status", "url"))
UPLOADED = s.obj({"status": {"type": "string", "enum": ["success"]}, "description": s.STR,
                  "ota_image_id": s.STR, "file_size": {"type": "integer"},
                  "file_md5": s.STR}, ("status",))
IMAGE = s.obj({
    "ota_image_id": s.STR, "image_name": s.STR, "type": s.STR, "model": s.STR,
    "fw_version": s.STR, "image_type": s.STR, "image_url": s.STR,
    "upload_timestamp": {"type": "integer"}, "file_size": {"type": "integer"},
    "file_md5": s.STR, "archived": {"type": "boolean"}, "uploaded": {"type": "boolean"}},
    ("ota_image_id", "image_name", "archived"))
IMAGE_LIST = s.obj({"ota_images": {"type": "array", "items": IMAGE},
                    "total": {"type": "integer"}, "next_id": s.STR}, ("ota_images",))

DOWNLOAD_WINDOW = s.obj({"start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                         "end": {"type": "string",
                                 "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}},
                        ("start", "end"), additional=False,
                        description="hours of the day (UTC, HH:MM, start != end) in which "
                                    "nodes are offered the job; end < start wraps midnight")
EPOCH = {"type": "integer", "minimum": 0, "maximum": 10**11 - 1}
VALIDITY = s.obj({"start": EPOCH, "end": EPOCH}, additional=False,
                 description="epoch seconds; end after start")
COUNT = {"type": "integer", "minimum": 1, "maximum": 10**6}
ROLLOUT = s.obj({
    "rollout": s.obj({"max_per_minute": COUNT, "max_in_flight": COUNT}, additional=False),
    "abort": s.obj({"failure_percent": {"type": "number", "exclusiveMinimum": 0,
                                        "minimum": 0, "maximum": 100},
                    "min_executed": COUNT}, ("failure_percent", "min_executed"),
                   additional=False)},
    additional=False,
    description="Fleetgate's extension: pace the dispatch (rollout) and stop a job whose "
                "failures reach failure_percent once min_executed nodes are done (abort)")
TARGETS = ("nodes", "groups", "node_type", "node_model", "node_fw_version")
CREATE_JOB = s.obj({
    "ota_job_name": NAME, "ota_image_id": RECORD_ID,
    "description": _text(DESCRIPTION_MAX),
    "nodes": {"type": "array", "minItems": 1, "maxItems": MAX_JOB_NODES, "items": NODE_ID},
    "groups": {"type": "array", "minItems": 1, "maxItems": MAX_JOB_GROUPS, "items": GROUP_ID,
               "description": "admin groups; FFFF-FFFF: every node of the organization"},
    "node_type": FIELD, "node_model": FIELD, "node_fw_version": FIELD,
    "priority": {"type": "integer", "minimum": PRIORITY_HIGHEST, "maximum": PRIORITY_LOWEST,
                 "default": 5},
    "timeout": {"type": "integer", "minimum": 60, "maximum": 366 * 86400,
                "description": "seconds after which the job expires"},
    "metadata": s.obj({"download_window": DOWNLOAD_WINDOW, "validity": VALIDITY}),
    "rollout": ROLLOUT},
    ("ota_job_name", "ota_image_id"),
    anyOf=[{"required": [name]} for name in TARGETS],
    description="nodes and/or groups, or a dynamic job (node_type, node_model and/or "
                "node_fw_version: not with nodes nor groups)")
JOB_CREATED = s.obj({"status": {"type": "string", "enum": ["success"]},
                     "ota_job_id": s.STR}, ("status", "ota_job_id"))
CANCEL_JOB = s.obj({"ota_job_id": RECORD_ID,
                    "archive": {"type": ["boolean", "string"],
                                "enum": [True, False, "true", "false"]}},
                   ("ota_job_id",))
JOB_ID_BODY = s.obj({"ota_job_id": RECORD_ID}, ("ota_job_id",))
_COUNTS = ("completed_count", "delayed_count", "rejected_count", "total_count",
           "total_node_count", "triggered_count", "started_count", "in_progress_count",
           "success_count", "failed_count", "other_count")
JOB = s.obj({
    "ota_job_id": s.STR, "ota_job_name": s.STR, "ota_image_id": s.STR, "description": s.STR,
    **{c: {"type": "integer"} for c in _COUNTS},
    "triggered_timestamp": s.STR, "cancelled_timestamp": s.STR,
    "nodes": {"type": "array", "items": s.STR}, "groups": {"type": "array", "items": s.STR},
    "status": s.STR, "status_reason": s.STR, "archived": {"type": "boolean"},
    "metadata": {"type": "object"}, "user_approval": {"type": "boolean"},
    "force_push": {"type": "boolean"}, "notify": {"type": "boolean"},
    "priority": {"type": "integer"}, "timeout": {"type": "integer"},
    "expiry_timestamp_num": {"type": "integer"}, "group_query": s.STR,
    "rollout": {"type": "object"}},
    ("ota_job_id", "ota_job_name", "ota_image_id", "status"))
JOB_LIST = s.obj({"ota_jobs": {"type": "array", "items": JOB}, "total": {"type": "integer"},
                  "next_id": s.STR}, ("ota_jobs",))
SUMMARY = s.obj({k: {"type": "integer"} for k in (
    "triggered", "started", "in_progress", "rejected", "delayed", "success", "failed",
    "total")}, ("total",))
NODE_STATUS = s.obj({"node_id": s.STR, "status": s.STR, "timestamp": s.STR,
                     "additional_info": s.STR}, ("node_id", "status"))
NODE_STATUSES = s.obj({"node_ota_status": {"type": "array", "items": NODE_STATUS},
                       "next_id": s.STR}, ("node_ota_status",))
OTA_FETCH = s.obj({
    "status": s.STR, "ota_available": {"type": "boolean"}, "description": s.STR,
    "url": s.STR, "file_md5": s.STR, "fw_version": s.STR, "ota_job_id": s.STR,
    "file_size": {"type": "integer"}, "metadata": {"type": ["object", "null"]}},
    ("ota_available",))
PUSH_UPDATE = s.obj({"ota_job_id": RECORD_ID, "node_id": NODE_ID}, ("ota_job_id", "node_id"))


def _q(name: str, schema: dict[str, Any], required: bool = False,
       description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "schema": schema,
                             "required": required}
    if description:
        param["description"] = description
    return param


IMAGE_ID_QUERY = _q("ota_image_id", RECORD_ID, True)
JOB_ID_QUERY = _q("ota_job_id", RECORD_ID, True)
PAGE_QUERY = (_q("start_id", START_ID), _q("num_records", NUM_RECORDS))


def _missing_or(violation: Violation, missing: str, other: str) -> str:
    return missing if violation.missing else other


def _explain_image(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "image_name" and violation.missing:
        return ValidationFailed("Image Name is missing", reason="image_name_missing")
    if violation.field == "base64_fwimage":
        if violation.missing:
            return ValidationFailed("Base64 firmware image is missing",
                                    reason="base64_image_missing")
        if violation.keyword == "maxLength":
            return ValidationFailed("OTA Image size should be smaller than 5 mb",
                                    reason="base64_image_too_large")
        return ValidationFailed("Invalid base64 firmware image", reason="invalid_base64_image")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _explain_confirm(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field in ("ota_image_id", "file_path") and violation.missing:
        return ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
    if violation.field == "image_type":
        return ValidationFailed("Invalid OTA image type specified. Valid values are firmware "
                                "and package", reason="invalid_image_type")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _explain_job(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    field, keyword = violation.field, violation.keyword
    if keyword == "anyOf":
        return ValidationFailed("OTA nodeId or groupId is missing",
                                reason="job_targets_missing")
    if field == "ota_job_name" and violation.missing:
        return ValidationFailed("OTA job name is missing", reason="job_name_missing")
    if field == "ota_image_id" and violation.missing:
        return ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
    if field == "priority":
        return ValidationFailed("Please use a valid priority for OTA, i.e between 1 to 10.",
                                reason="invalid_priority")
    if field == "timeout":
        return ValidationFailed("timeout is a number of seconds from 60 to one year",
                                reason="invalid_job_timeout")
    if field in ("nodes", "groups") and keyword == "maxItems":
        limit = MAX_JOB_NODES if field == "nodes" else MAX_JOB_GROUPS
        return ValidationFailed(f"The request cannot include more than {limit} {field}",
                                reason=f"invalid_job_{field}")
    if field == "metadata":
        meta = body.get("metadata")
        if isinstance(meta, dict) and "download_window" in meta and s.validate(
                DOWNLOAD_WINDOW, meta["download_window"]) is not None:
            return ValidationFailed('download_window is {"start": "HH:MM", "end": "HH:MM"}',
                                    reason="invalid_download_window")
        if isinstance(meta, dict) and "validity" in meta:
            return ValidationFailed('validity is {"start": <epoch s>, "end": <epoch s>}',
                                    reason="invalid_validity")
    if field == "rollout":
        return ValidationFailed("rollout is {rollout: {max_per_minute, max_in_flight}, "
                                "abort: {failure_percent, min_executed}}",
                                reason="invalid_rollout")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _explain_job_id(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "ota_job_id" and violation.missing:
        return ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
    if violation.field == "node_id" and violation.missing:
        return ValidationFailed("NodeId is missing", reason="admin_node_id_missing")
    return ValidationFailed("Invalid request body", reason="invalid_body")


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def _required(request: Request, name: str, message: str, reason: str) -> str:
    value = _param(request, name)
    if value is None:
        raise ValidationFailed(message, reason=reason)
    return value


def _num_records(request: Request) -> int:
    raw = request.query_params.get("num_records", "25")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE else 0  # 0: refused


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


def _node_status(st: NodeJobStatus) -> dict[str, Any]:
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


def ota_operations(devices: DeviceUseCases, authenticate: Authenticate,
                   max_body: int) -> list[Operation]:
    images, jobs = devices.ota_images, devices.ota_jobs
    base64_max = max(max_body, 7 * 1024 * 1024)

    def download_url(image: OtaImage) -> str:
        token = images.download_token(image, images.clock.now())
        return f"{jobs.base_url}/v1/ota/download/{token}"

    def upload_url(token: str) -> str:
        return f"{jobs.base_url}/v1/ota/upload/{token}"

    def image_entry(image: OtaImage) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ota_image_id": image.id, "image_name": image.name, "type": image.type,
            "model": image.model, "fw_version": image.fw_version,
            "image_type": image.kind.value, "upload_timestamp": int(
                image.created_at.timestamp()),
            "file_size": image.size, "file_md5": image.md5, "archived": image.archived,
            "uploaded": image.uploaded}
        if image.uploaded:
            entry["image_url"] = download_url(image)
        return entry

    # --- images ---------------------------------------------------------------------------

    def image_creator(create: Any, schema: dict[str, Any]) -> Handler:
        """POST of a base64 image, for admins (create_image) or end users (create_user_image)."""
        async def handle(request: Request) -> Response:
            caller = await caller_for(request, authenticate, required=True)
            body = await json_body(request, max_bytes=base64_max, schema=schema,
                                   explain=_explain_image)
            image = await create(
                caller, name=body["image_name"], base64_fwimage=body["base64_fwimage"],
                type=body.get("type"), model=body.get("model"),
                fw_version=body.get("fw_version"))
            return JSONResponse({"status": "success", "ota_image_id": image.id,
                                 "image_url": download_url(image)})

        return handle

    create_image = image_creator(images.create_image, CREATE_IMAGE)
    create_user_image = image_creator(images.create_user_image, USER_IMAGE)

    async def upload_request(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        ticket = await images.request_upload(
            caller, name=_required(request, "image_name", "Image Name is missing",
                                   "image_name_missing"),
            image_type=_param(request, "image_type"),
            md5_checksum=_param(request, "md5_checksum"))
        return JSONResponse({"status": "success", "ota_image_id": ticket.image.id,
                             "upload_url": upload_url(ticket.token),
                             "expires_at": ticket.expires_at.isoformat()})

    async def package_upload(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        ticket = await images.request_upload(
            caller, name=_required(request, "file_name", "Package file name is missing",
                                   "image_name_missing"), image_type="package")
        return JSONResponse({"status": "success", "url": upload_url(ticket.token),
                             "ota_image_id": ticket.image.id})

    async def receive_upload(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
            raise ValidationFailed("The OTA image is larger than 200 MB",
                                   reason="blob_too_large")
        image = await images.receive_upload(
            anonymous_caller(request), token=request.path_params["token"],
            chunks=request.stream(), content_md5=request.headers.get("content-md5"))
        return success("OTA image uploaded; confirm it with upload_confirm",
                       ota_image_id=image.id, file_size=image.size, file_md5=image.md5)

    async def confirm_upload(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CONFIRM_UPLOAD,
                               explain=_explain_confirm)
        image = await images.confirm_upload(
            caller, image_id=body["ota_image_id"], fw_version=body.get("fw_version"),
            model=body.get("model"), type=body.get("type"),
            image_type=body.get("image_type"))
        return JSONResponse({"status": "success", "ota_image_id": image.id,
                             "image_url": download_url(image)})

    async def create_package(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_PACKAGE,
                               explain=_explain_confirm)
        found = await images.list_images(caller, name=body["file_path"], every=True,
                                         num_records=1)
        if not found.images:
            raise ValidationFailed("Package file not uploaded; request its upload URL "
                                   "first", reason="image_not_uploaded")
        image = await images.confirm_upload(
            caller, image_id=found.images[0].id, fw_version=body.get("fw_version"),
            model=body.get("model"), type=body.get("type"), image_type="package")
        return JSONResponse({"status": "success", "ota_image_id": image.id,
                             "image_url": download_url(image)})

    async def get_images(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = _param(request, "ota_image_id")
        page = await images.list_images(
            caller, image_id=image_id, name=_param(request, "image_name"),
            contains=bool(bool_param(request, "contains")), type=_param(request, "type"),
            model=_param(request, "model"), archived=bool(bool_param(request, "archived")),
            every=bool(bool_param(request, "all")), start_id=_param(request, "start_id"),
            num_records=_num_records(request))
        if image_id is not None:
            return JSONResponse(image_entry(page.images[0]))
        body: dict[str, Any] = {"ota_images": [image_entry(i) for i in page.images],
                                "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def archive_image(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = _required(request, "ota_image_id", "OTA Image Id is missing",
                             "image_id_missing")
        archive = bool_param(request, "archive", reason="invalid_archive_flag")
        if archive is None:
            raise ValidationFailed("Archive flag missing", reason="archive_flag_missing")
        await images.archive_image(caller, image_id=image_id, archive=archive)
        return success("OTA image archived" if archive else "OTA image unarchived")

    async def delete_image(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = _required(request, "ota_image_id", "OTA Image Id is missing",
                             "image_id_missing")
        cancelled = await images.delete_image(
            caller, image_id=image_id, force=bool(bool_param(request, "force_delete")))
        return success("OTA image deleted", **({"cancelled_ota_jobs": cancelled}
                                               if cancelled else {}))

    async def download(request: Request) -> Response:
        image, chunks = await images.download(anonymous_caller(request),
                                              token=request.path_params["token"])
        headers = {"Content-Length": str(image.size), "ETag": f'"{image.md5}"',
                   "Content-MD5": base64.b64encode(bytes.fromhex(image.md5)).decode(),
                   "Cache-Control": "private, no-store"}
        return StreamingResponse(chunks, media_type="application/octet-stream",
                                 headers=headers)

    # --- jobs -----------------------------------------------------------------------------

    async def create_job(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        flags = {name: bool(bool_param(request, name))
                 for name in ("force_push", "user_approval", "notify")}
        body = await json_body(request, max_bytes=max_body, schema=CREATE_JOB,
                               explain=_explain_job)
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
        job_id = _param(request, "ota_job_id")
        page = await jobs.list_jobs(
            caller, job_id=job_id, name=_param(request, "ota_job_name"),
            image_id=_param(request, "ota_image_id"),
            archived=bool(bool_param(request, "archived")),
            every=bool(bool_param(request, "all")), start_id=_param(request, "start_id"),
            num_records=_num_records(request))
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
                               explain=_explain_job_id)
        job, summary = await jobs.cancel_or_archive(
            caller, job_id=body["ota_job_id"], archive=body.get("archive") in (True, "true"))
        return JSONResponse(_job_entry(job, summary))

    async def job_status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        job_id = _required(request, "ota_job_id", "OTA Job Id is missing", "job_id_missing")
        if bool_param(request, "summary"):
            return JSONResponse(summary_counts(await jobs.job_summary(caller, job_id=job_id)))
        _job, statuses, next_id = await jobs.job_status(
            caller, job_id=job_id, node_id=_param(request, "node_id"),
            start_id=_param(request, "start_id"), num_records=_num_records(request))
        body: dict[str, Any] = {"node_ota_status": [_node_status(st) for st in statuses]}
        if next_id is not None:
            body["next_id"] = next_id
        return JSONResponse(body)

    async def job_summary(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        job_id = _required(request, "ota_job_id", "OTA Job Id is missing", "job_id_missing")
        return JSONResponse(summary_counts(await jobs.job_summary(caller, job_id=job_id)))

    async def job_action(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        if request.path_params["action"] != "retrigger":
            raise ValidationFailed("Unsupported OTA job action; valid: retrigger",
                                   reason="unsupported_action")
        body = await json_body(request, max_bytes=max_body, schema=JOB_ID_BODY,
                               explain=_explain_job_id)
        job = await jobs.retrigger(caller, job_id=body["ota_job_id"])
        return JSONResponse({"status": "success", "ota_job_id": job.id})

    # --- end users ------------------------------------------------------------------------

    async def available_update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = _required(request, "node_id", "NodeId is missing", "admin_node_id_missing")
        found = await jobs.available_update(caller, node_id=node_id)
        if found is None:
            return JSONResponse({"status": "success", "ota_available": False})
        job, image = found
        return JSONResponse({
            "status": "success", "ota_available": True, "description": job.description,
            "fw_version": image.fw_version, "ota_job_id": job.id, "file_size": image.size,
            "url": download_url(image), "file_md5": image.md5, "metadata": job.metadata})

    async def push_update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=PUSH_UPDATE,
                               explain=_explain_job_id)
        await jobs.push_update(caller, node_id=body["node_id"], job_id=body["ota_job_id"])
        return success("OTA update pushed to the node")

    async def user_status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = _required(request, "node_id", "NodeId is missing", "admin_node_id_missing")
        job_id = _required(request, "ota_job_id", "OTA Job Id is missing", "job_id_missing")
        return JSONResponse(_node_status(await jobs.user_status(caller, node_id=node_id,
                                                                job_id=job_id)))

    flag = FLAG
    image_query = (_q("ota_image_id", RECORD_ID), _q("image_name", NAME),
                   _q("contains", flag, description="image_name is a substring"),
                   _q("type", FIELD), _q("model", FIELD),
                   _q("archived", flag, description="true: only archived images"),
                   _q("all", flag, description="true: archived or not"), *PAGE_QUERY)
    return [
        Operation(method="POST", path=IMAGES, handler=create_image,
                  operation_id="adminuploadotaimage", tag=IMAGE_TAG,
                  summary="Upload an OTA image as base64 (at most 5 MB); fw_version and "
                          "model default to the ESP app description in its header",
                  uses=(images.create_image,), request_body=CREATE_IMAGE,
                  responses={200: IMAGE_CREATED}, extra_statuses=(409,)),
        Operation(method="GET", path=IMAGES, handler=get_images,
                  operation_id="getOTAImage", tag=IMAGE_TAG,
                  summary="The organization's OTA images a page at a time (filters: name, "
                          "contains, type, model, archived, all), or one image by id",
                  uses=(images.list_images,), query=image_query,
                  responses={200: {"anyOf": [IMAGE_LIST, IMAGE]}}),
        Operation(method="PUT", path=IMAGES, handler=archive_image,
                  operation_id="archiveOrUnarchiveOtaImage", tag=IMAGE_TAG,
                  summary="Archive (no new job may use it) or unarchive an OTA image",
                  uses=(images.archive_image,),
                  query=(IMAGE_ID_QUERY, {**_q("archive", flag, True),
                                          "x-fleetgate-handler-validates": True}),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="DELETE", path=IMAGES, handler=delete_image,
                  operation_id="deleteOTAImage", tag=IMAGE_TAG,
                  summary="Delete an OTA image no job uses; force_delete=true cancels the "
                          "active jobs using it first",
                  uses=(images.delete_image,),
                  query=(IMAGE_ID_QUERY, _q("force_delete", flag)),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path=f"{IMAGES}/upload_request", handler=upload_request,
                  operation_id="OTAImageUploadRequestURL", tag=IMAGE_TAG,
                  summary="An OTA image waiting for its bytes: PUT them (at most 200 MB) to "
                          "upload_url (valid 24 hours), then confirm",
                  uses=(images.request_upload,),
                  query=(_q("image_name", NAME, True), _q("image_type", IMAGE_TYPE),
                         _q("md5_checksum", MD5_HEX)),
                  responses={200: UPLOAD_URL}, extra_statuses=(409,)),
        Operation(method="POST", path=f"{IMAGES}/upload_confirm", handler=confirm_upload,
                  operation_id="OTAImageUploadConfirmURL", tag=IMAGE_TAG,
                  summary="Confirm an uploaded OTA image (fw_version and model default to "
                          "its ESP app description)",
                  uses=(images.confirm_upload,), request_body=CONFIRM_UPLOAD,
                  responses={200: IMAGE_CREATED}),
        Operation(method="GET", path=f"{IMAGES}/package/upload", handler=package_upload,
                  operation_id="OTAPackagePreSignedUrl", tag=IMAGE_TAG,
                  summary="An upload URL for an OTA package (.zip), then POST "
                          "/v1/admin/otaimage/package",
                  uses=(images.request_upload,),
                  query=(_q("file_name", {**NAME, "maxLength": 127,
                                          "pattern": f"^{_EDGE}[^{s.CONTROL}]*\\.zip$"},
                            True),),
                  responses={200: PACKAGE_URL}, extra_statuses=(409,)),
        Operation(method="POST", path=f"{IMAGES}/package", handler=create_package,
                  operation_id="adminuploadotapackage", tag=IMAGE_TAG,
                  summary="Confirm an uploaded OTA package (file_path: its file_name)",
                  uses=(images.list_images, images.confirm_upload),
                  request_body=CREATE_PACKAGE, responses={200: IMAGE_CREATED}),
        Operation(method="PUT", path="/v1/ota/upload/{token}", handler=receive_upload,
                  operation_id="uploadOTAImageBytes", tag=IMAGE_TAG, public=True,
                  auth=False,
                  summary="The signed upload URL of an OTA image (the token is the "
                          "credential; Content-MD5 is checked when sent). Single-use: its "
                          "first successful upload consumes it; a second PUT, or one to an "
                          "image that is confirmed or used by a job, is refused (409)",
                  uses=(images.receive_upload,), request_body=BINARY, body_required=False,
                  query=({"name": "token", "in": "path", "required": True,
                          "schema": TOKEN},
                         {"name": "Content-MD5", "in": "header", "required": False,
                          "schema": {"type": "string",
                                     "pattern": "^[A-Za-z0-9+/]{22}==$"}}),
                  responses={200: UPLOADED}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/ota/download/{token}", handler=download,
                  operation_id="downloadOTAImage", tag=IMAGE_TAG, public=True, auth=False,
                  summary="The signed download URL of an OTA image (the token is the "
                          "credential; valid one hour)",
                  uses=(images.download,),
                  query=({"name": "token", "in": "path", "required": True,
                          "schema": TOKEN},),
                  responses={200: BINARY}),
        Operation(method="POST", path="/v1/user/otaimage", handler=create_user_image,
                  operation_id="useruploadotaimage", tag=USER_TAG,
                  summary="An end user uploads an OTA image (base64, at most 5 MB) into "
                          "the organization; it replaces only the user's own image of that "
                          "name",
                  uses=(images.create_user_image,), request_body=USER_IMAGE,
                  responses={200: USER_IMAGE_CREATED}, extra_statuses=(409,)),
        Operation(method="POST", path=JOBS, handler=create_job,
                  operation_id="createotajob", tag=JOB_TAG,
                  summary="Create an OTA job for nodes and/or admin groups (FFFF-FFFF: every "
                          "node), or a dynamic one (node_type/node_model/node_fw_version)",
                  uses=(jobs.create_job,), request_body=CREATE_JOB,
                  query=(_q("force_push", flag), _q("user_approval", flag),
                         _q("notify", flag)),
                  responses={200: JOB_CREATED}, extra_statuses=(409,)),
        Operation(method="GET", path=JOBS, handler=get_jobs,
                  operation_id="getOTAJob", tag=JOB_TAG,
                  summary="The organization's OTA jobs with their node counters a page at a "
                          "time, or one job by id",
                  uses=(jobs.list_jobs,),
                  query=(_q("ota_job_id", RECORD_ID), _q("ota_job_name", NAME),
                         _q("ota_image_id", RECORD_ID), _q("archived", flag),
                         _q("all", flag), *PAGE_QUERY),
                  responses={200: {"anyOf": [JOB_LIST, JOB]}}),
        Operation(method="PUT", path=JOBS, handler=cancel_job,
                  operation_id="cancelOrArchiveOtaJob", tag=JOB_TAG,
                  summary="Cancel an active OTA job, or archive (archive: true) a finished "
                          "or cancelled one",
                  uses=(jobs.cancel_or_archive,), request_body=CANCEL_JOB,
                  responses={200: JOB}, extra_statuses=(409,)),
        Operation(method="GET", path=f"{JOBS}/status", handler=job_status,
                  operation_id="getOTAJobStatus", tag=JOB_TAG,
                  summary="Each target node's status in an OTA job a page at a time (or one "
                          "node's; summary=true: the counters)",
                  uses=(jobs.job_status, jobs.job_summary),
                  query=(JOB_ID_QUERY, _q("node_id", NODE_ID), _q("summary", flag),
                         *PAGE_QUERY),
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
                  responses={200: JOB_CREATED}, extra_statuses=(409,)),
        Operation(method="GET", path="/v1/user/nodes/ota_update", handler=available_update,
                  operation_id="getotaupdate", tag=USER_TAG,
                  summary="The user-approval OTA update waiting for one of the user's nodes",
                  uses=(jobs.available_update,), query=(_q("node_id", NODE_ID, True),),
                  responses={200: OTA_FETCH}),
        Operation(method="POST", path="/v1/user/nodes/ota_update", handler=push_update,
                  operation_id="postotaupdate", tag=USER_TAG,
                  summary="Approve a user-approval OTA update: the node is offered it now",
                  uses=(jobs.push_update,), request_body=PUSH_UPDATE,
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/nodes/ota_status", handler=user_status,
                  operation_id="getnodeotastatus", tag=USER_TAG,
                  summary="One of the user's nodes' status in an OTA job",
                  uses=(jobs.user_status,),
                  query=(_q("node_id", NODE_ID, True), JOB_ID_QUERY),
                  responses={200: NODE_STATUS}),
    ]

