"""RainMaker v1 user-approved OTA updates on the wire (/v1/user/nodes/ota_update,
/v1/user/nodes/ota_status): an end user sees the update waiting for a node, approves it,
and follows it. Handlers translate and delegate; the rules live in domain/ota/user_updates.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.ota.use_cases import OtaUseCases
from rest_compat import schemas as s
from rest_compat.group_common import NODE_ID
from rest_compat.http import Authenticate, caller_for, json_body, success
from rest_compat.operations import Operation
from rest_compat.ota_images import USER_TAG, download_url
from rest_compat.ota_jobs import node_status
from rest_compat.ota_schemas import (
    JOB_ID_QUERY,
    NODE_STATUS,
    OTA_FETCH,
    PUSH_UPDATE,
    explain_job_id,
    query_param,
    required_param,
)


def ota_update_operations(ota: OtaUseCases, authenticate: Authenticate,
                          max_body: int) -> list[Operation]:
    images, updates, base_url = ota.images, ota.updates, ota.jobs.base_url

    async def available_update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = required_param(request, "node_id", "NodeId is missing",
                                 "admin_node_id_missing")
        found = await updates.available_update(caller, node_id=node_id)
        if found is None:
            return JSONResponse({"status": "success", "ota_available": False})
        job, image = found
        return JSONResponse({
            "status": "success", "ota_available": True, "description": job.description,
            "fw_version": image.fw_version, "ota_job_id": job.id, "file_size": image.size,
            "url": download_url(images, base_url, image), "file_md5": image.md5,
            "metadata": job.metadata})

    async def push_update(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=PUSH_UPDATE,
                               explain=explain_job_id)
        await updates.push_update(caller, node_id=body["node_id"], job_id=body["ota_job_id"])
        return success("OTA update pushed to the node")

    async def user_status(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        node_id = required_param(request, "node_id", "NodeId is missing",
                                 "admin_node_id_missing")
        job_id = required_param(request, "ota_job_id", "OTA Job Id is missing",
                                "job_id_missing")
        return JSONResponse(node_status(await updates.user_status(caller, node_id=node_id,
                                                               job_id=job_id)))

    return [
        Operation(method="GET", path="/v1/user/nodes/ota_update", handler=available_update,
                  operation_id="getotaupdate", tag=USER_TAG,
                  summary="The user-approval OTA update waiting for one of the user's nodes",
                  uses=(updates.available_update,), query=(query_param("node_id", NODE_ID, True),),
                  responses={200: OTA_FETCH}),
        Operation(method="POST", path="/v1/user/nodes/ota_update", handler=push_update,
                  operation_id="postotaupdate", tag=USER_TAG,
                  summary="Approve a user-approval OTA update: the node is offered it now",
                  uses=(updates.push_update,), request_body=PUSH_UPDATE,
                  responses={200: s.SUCCESS}),
        Operation(method="GET", path="/v1/user/nodes/ota_status", handler=user_status,
                  operation_id="getnodeotastatus", tag=USER_TAG,
                  summary="One of the user's nodes' status in an OTA job",
                  uses=(updates.user_status,),
                  query=(query_param("node_id", NODE_ID, True), JOB_ID_QUERY),
                  responses={200: NODE_STATUS}),
    ]
