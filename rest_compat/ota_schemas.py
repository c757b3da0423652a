"""The request and response schemas of RainMaker v1 OTA (images, jobs, user-approved
updates), the error each refused body answers, and the query-string readers the OTA routes
share (rest_compat/ota_images.py, ota_jobs.py, ota_updates.py)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from domain.errors import ValidationFailed
from domain.identifiers import RECORD_ID_PATTERN
from domain.ota.images import MAX_PAGE
from domain.ota.model import (
    DESCRIPTION_MAX,
    FIELD_MAX,
    MAX_BASE64_IMAGE_BYTES,
    MAX_JOB_GROUPS,
    MAX_JOB_NODES,
    NAME_MAX,
    PRIORITY_HIGHEST,
    PRIORITY_LOWEST,
)
from rest_compat import schemas as s
from rest_compat.group_common import GROUP_ID, NODE_ID
from rest_compat.http import invalid_body
from rest_compat.schemas import Violation

EDGE = f"[^{s.CONTROL}{s.WHITESPACE}]"
_TEXT_PATTERN = f"^{EDGE}([^{s.CONTROL}]*{EDGE})?$"


def text_schema(limit: int, description: str = "") -> dict[str, Any]:
    """domain.ota.model.check_text: no control characters, no white space at either end."""
    schema: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": limit,
                              "pattern": _TEXT_PATTERN}
    if description:
        schema["description"] = description
    return schema


NAME = text_schema(NAME_MAX)
FIELD = text_schema(FIELD_MAX)
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
FLAG = s.FLAG
NUM_RECORDS = {"type": "string", "pattern": "^([1-9][0-9]?|100)$"}
START_ID = {"type": "string", "maxLength": FIELD_MAX,
            "pattern": f"^({EDGE}([^{s.CONTROL}]*{EDGE})?)?$"}
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
    "description": text_schema(DESCRIPTION_MAX),
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


def query_param(name: str, schema: dict[str, Any], required: bool = False,
                description: str = "") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "schema": schema,
                             "required": required}
    if description:
        param["description"] = description
    return param


IMAGE_ID_QUERY = query_param("ota_image_id", RECORD_ID, True)
JOB_ID_QUERY = query_param("ota_job_id", RECORD_ID, True)
PAGE_QUERY = (query_param("start_id", START_ID), query_param("num_records", NUM_RECORDS))


def explain_image(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
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
    return invalid_body(violation)


def explain_confirm(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field in ("ota_image_id", "file_path") and violation.missing:
        return ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
    if violation.field == "image_type":
        return ValidationFailed("Invalid OTA image type specified. Valid values are firmware "
                                "and package", reason="invalid_image_type")
    return invalid_body(violation)


def explain_job(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
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
    return invalid_body(violation)


def explain_job_id(violation: Violation, body: dict[str, Any]) -> ValidationFailed:
    if violation.field == "ota_job_id" and violation.missing:
        return ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
    if violation.field == "node_id" and violation.missing:
        return ValidationFailed("NodeId is missing", reason="admin_node_id_missing")
    return invalid_body(violation)


def param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value not in (None, "") else None


def required_param(request: Request, name: str, message: str, reason: str) -> str:
    value = param(request, name)
    if value is None:
        raise ValidationFailed(message, reason=reason)
    return value


def page_size(request: Request) -> int:
    raw = request.query_params.get("num_records", "25")
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE else 0  # 0: refused
