"""RainMaker v1 OTA images on the wire (/v1/admin/otaimage, /v1/user/otaimage) and the
signed upload and download links Fleetgate serves itself. Handlers translate and delegate;
the rules live in domain/ota/images.py and domain/ota/image_links.py."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from domain.errors import ValidationFailed
from domain.ota import links
from domain.ota.images import OtaImages
from domain.ota.model import MAX_IMAGE_BYTES, OtaImage
from domain.ota.use_cases import OtaUseCases
from rest_compat import schemas as s
from rest_compat.http import (
    Authenticate,
    anonymous_caller,
    bool_param,
    caller_for,
    json_body,
    success,
)
from rest_compat.operations import Handler, Operation
from rest_compat.ota_schemas import (
    BINARY,
    CONFIRM_UPLOAD,
    CREATE_IMAGE,
    CREATE_PACKAGE,
    EDGE,
    FIELD,
    FLAG,
    IMAGE,
    IMAGE_CREATED,
    IMAGE_ID_QUERY,
    IMAGE_LIST,
    IMAGE_TYPE,
    MD5_HEX,
    NAME,
    PACKAGE_URL,
    PAGE_QUERY,
    RECORD_ID,
    TOKEN,
    UPLOAD_URL,
    UPLOADED,
    USER_IMAGE,
    USER_IMAGE_CREATED,
    explain_confirm,
    explain_image,
    page_size,
    param,
    query_param,
    required_param,
)

IMAGE_TAG, USER_TAG = "OTA Image", "User OTA"
IMAGES = "/v1/admin/otaimage"


def download_url(images: OtaImages, base_url: str, image: OtaImage) -> str:
    """The image's signed download link (valid one hour), as the nodes fetch it."""
    return base_url + links.download_path(images.download_token(image, images.clock.now()))


def ota_image_operations(ota: OtaUseCases, authenticate: Authenticate,
                         max_body: int) -> list[Operation]:
    images, base_url = ota.images, ota.jobs.base_url
    base64_max = max(max_body, 7 * 1024 * 1024)

    def image_url(image: OtaImage) -> str:
        return download_url(images, base_url, image)

    def image_entry(image: OtaImage) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "ota_image_id": image.id, "image_name": image.name, "type": image.type,
            "model": image.model, "fw_version": image.fw_version,
            "image_type": image.kind.value, "upload_timestamp": int(
                image.created_at.timestamp()),
            "file_size": image.size, "file_md5": image.md5, "archived": image.archived,
            "uploaded": image.uploaded}
        if image.uploaded:
            entry["image_url"] = image_url(image)
        return entry

    def image_creator(create: Any, schema: dict[str, Any]) -> Handler:
        """POST of a base64 image, for admins (create_image) or end users (create_user_image)."""
        async def handle(request: Request) -> Response:
            caller = await caller_for(request, authenticate, required=True)
            body = await json_body(request, max_bytes=base64_max, schema=schema,
                                   explain=explain_image)
            image = await create(
                caller, name=body["image_name"], base64_fwimage=body["base64_fwimage"],
                type=body.get("type"), model=body.get("model"),
                fw_version=body.get("fw_version"))
            return JSONResponse({"status": "success", "ota_image_id": image.id,
                                 "image_url": image_url(image)})

        return handle

    create_image = image_creator(images.create_image, CREATE_IMAGE)
    create_user_image = image_creator(images.create_user_image, USER_IMAGE)

    async def upload_request(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        ticket = await images.request_upload(
            caller, name=required_param(request, "image_name", "Image Name is missing",
                                        "image_name_missing"),
            image_type=param(request, "image_type"),
            md5_checksum=param(request, "md5_checksum"))
        return JSONResponse({"status": "success", "ota_image_id": ticket.image.id,
                             "upload_url": base_url + ticket.path,
                             "expires_at": ticket.expires_at.isoformat()})

    async def package_upload(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        ticket = await images.request_upload(
            caller, name=required_param(request, "file_name", "Package file name is missing",
                                        "image_name_missing"), image_type="package")
        return JSONResponse({"status": "success", "url": base_url + ticket.path,
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
                               explain=explain_confirm)
        image = await images.confirm_upload(
            caller, image_id=body["ota_image_id"], fw_version=body.get("fw_version"),
            model=body.get("model"), type=body.get("type"),
            image_type=body.get("image_type"))
        return JSONResponse({"status": "success", "ota_image_id": image.id,
                             "image_url": image_url(image)})

    async def create_package(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=CREATE_PACKAGE,
                               explain=explain_confirm)
        found = await images.list_images(caller, name=body["file_path"], every=True,
                                         num_records=1)
        if not found.images:
            raise ValidationFailed("Package file not uploaded; request its upload URL "
                                   "first", reason="image_not_uploaded")
        image = await images.confirm_upload(
            caller, image_id=found.images[0].id, fw_version=body.get("fw_version"),
            model=body.get("model"), type=body.get("type"), image_type="package")
        return JSONResponse({"status": "success", "ota_image_id": image.id,
                             "image_url": image_url(image)})

    async def get_images(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = param(request, "ota_image_id")
        page = await images.list_images(
            caller, image_id=image_id, name=param(request, "image_name"),
            contains=bool(bool_param(request, "contains")), type=param(request, "type"),
            model=param(request, "model"), archived=bool(bool_param(request, "archived")),
            every=bool(bool_param(request, "all")), start_id=param(request, "start_id"),
            num_records=page_size(request))
        if image_id is not None:
            return JSONResponse(image_entry(page.images[0]))
        body: dict[str, Any] = {"ota_images": [image_entry(i) for i in page.images],
                                "total": page.total}
        if page.next_id is not None:
            body["next_id"] = page.next_id
        return JSONResponse(body)

    async def archive_image(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = required_param(request, "ota_image_id", "OTA Image Id is missing",
                                  "image_id_missing")
        archive = bool_param(request, "archive", reason="invalid_archive_flag")
        if archive is None:
            raise ValidationFailed("Archive flag missing", reason="archive_flag_missing")
        await images.archive_image(caller, image_id=image_id, archive=archive)
        return success("OTA image archived" if archive else "OTA image unarchived")

    async def delete_image(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        image_id = required_param(request, "ota_image_id", "OTA Image Id is missing",
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

    flag = FLAG
    image_query = (query_param("ota_image_id", RECORD_ID), query_param("image_name", NAME),
                   query_param("contains", flag, description="image_name is a substring"),
                   query_param("type", FIELD), query_param("model", FIELD),
                   query_param("archived", flag, description="true: only archived images"),
                   query_param("all", flag, description="true: archived or not"), *PAGE_QUERY)
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
                  query=(IMAGE_ID_QUERY, {**query_param("archive", flag, True),
                                          "x-fleetgate-handler-validates": True}),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="DELETE", path=IMAGES, handler=delete_image,
                  operation_id="deleteOTAImage", tag=IMAGE_TAG,
                  summary="Delete an OTA image no job uses; force_delete=true cancels the "
                          "active jobs using it first",
                  uses=(images.delete_image,),
                  query=(IMAGE_ID_QUERY, query_param("force_delete", flag)),
                  responses={200: s.SUCCESS}, extra_statuses=(409,)),
        Operation(method="GET", path=f"{IMAGES}/upload_request", handler=upload_request,
                  operation_id="OTAImageUploadRequestURL", tag=IMAGE_TAG,
                  summary="An OTA image waiting for its bytes: PUT them (at most 200 MB) to "
                          "upload_url (valid 24 hours), then confirm",
                  uses=(images.request_upload,),
                  query=(query_param("image_name", NAME, True),
                         query_param("image_type", IMAGE_TYPE),
                         query_param("md5_checksum", MD5_HEX)),
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
                  query=(query_param("file_name", {**NAME, "maxLength": 127,
                                                   "pattern": f"^{EDGE}[^{s.CONTROL}]*\\.zip$"},
                                     True),),
                  responses={200: PACKAGE_URL}, extra_statuses=(409,)),
        Operation(method="POST", path=f"{IMAGES}/package", handler=create_package,
                  operation_id="adminuploadotapackage", tag=IMAGE_TAG,
                  summary="Confirm an uploaded OTA package (file_path: its file_name)",
                  uses=(images.list_images, images.confirm_upload),
                  request_body=CREATE_PACKAGE, responses={200: IMAGE_CREATED}),
        Operation(method="PUT", path=f"{links.UPLOAD_PATH}/{{token}}", handler=receive_upload,
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
                  responses={200: UPLOADED}, extra_statuses=(403, 409)),
        Operation(method="GET", path=f"{links.DOWNLOAD_PATH}/{{token}}", handler=download,
                  operation_id="downloadOTAImage", tag=IMAGE_TAG, public=True, auth=False,
                  summary="The signed download URL of an OTA image (the token is the "
                          "credential; valid one hour)",
                  uses=(images.download,),
                  query=({"name": "token", "in": "path", "required": True,
                          "schema": TOKEN},),
                  responses={200: BINARY}, extra_statuses=(403,)),
        Operation(method="POST", path="/v1/user/otaimage", handler=create_user_image,
                  operation_id="useruploadotaimage", tag=USER_TAG,
                  summary="An end user uploads an OTA image (base64, at most 5 MB) into "
                          "the organization; it replaces only the user's own image of that "
                          "name",
                  uses=(images.create_user_image,), request_body=USER_IMAGE,
                  responses={200: USER_IMAGE_CREATED}, extra_statuses=(409,)),
    ]
