"""OTA images in GraphQL: the organization's images, upload (a multipart file, base64, or
an upload URL then a confirm), archive, delete. Resolvers translate and call the use cases
named in "uses"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry
from strawberry.file_uploads import Upload

from domain.errors import NotFound, ValidationFailed
from domain.ota.images import OtaImages
from domain.ota.model import OtaImage
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, after_anchor, encode_cursor

UPLOAD_CHUNK = 64 * 1024


async def _read(upload: Upload) -> AsyncIterator[bytes]:
    """The uploaded file (a starlette UploadFile, spooled by the multipart parser) as a
    stream of chunks."""
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


@strawberry.type(name="OtaImage")
class OtaImageType:
    id: strawberry.ID
    name: str
    kind: str
    type: str
    model: str
    fw_version: str
    size: int
    md5: str
    uploaded: bool
    archived: bool
    created_at: datetime

    @classmethod
    def of(cls, image: OtaImage) -> OtaImageType:
        return cls(id=strawberry.ID(image.id), name=image.name, kind=image.kind.value,
                   type=image.type, model=image.model, fw_version=image.fw_version,
                   size=image.size, md5=image.md5, uploaded=image.uploaded,
                   archived=image.archived, created_at=image.created_at)


@strawberry.type
class OtaImageEdge:
    cursor: str
    node: OtaImageType


@strawberry.type
class OtaImageConnection:
    edges: list[OtaImageEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Every field set narrows the list.")
class OtaImageFilter:
    name_contains: str | None = None
    type: str | None = None
    model: str | None = None
    archived: bool | None = strawberry.field(default=False,
                                             description="null: archived or not")


@strawberry.input(description="An image from a file sent with the request (a GraphQL "
                              "multipart request, at most 200 MB), from base64 content (at "
                              "most 5 MB), or, with neither, an upload URL to PUT the bytes "
                              "to, then confirmOtaImageUpload. fwVersion and model are read "
                              "from an ESP image header when absent.")
class UploadOtaImageInput:
    name: str
    file: Upload | None = strawberry.field(
        default=None, description="The image, per the GraphQL multipart request spec (map "
                                  "it to variables.input.file); the request needs an "
                                  "Authorization header.")
    content_base64: str | None = None
    type: str | None = None
    model: str | None = None
    fw_version: str | None = None
    kind: str = "firmware"
    md5: str | None = None


@strawberry.type
class UploadOtaImagePayload:
    image: OtaImageType
    upload_path: str | None = strawberry.field(
        default=None, description="Where to PUT the bytes (relative to the API base URL; "
                                  "valid 24 hours), when no content was given.")


@strawberry.input
class ConfirmOtaImageUploadInput:
    image_id: strawberry.ID
    fw_version: str | None = None
    model: str | None = None
    type: str | None = None


@strawberry.input
class ArchiveOtaImageInput:
    id: strawberry.ID
    archived: bool = True


@strawberry.input
class DeleteOtaImageInput:
    id: strawberry.ID
    force: bool = strawberry.field(default=False,
                                   description="Cancel the active jobs using it first.")


@strawberry.type
class OtaImagePayload:
    image: OtaImageType


@strawberry.type
class DeleteOtaImagePayload:
    id: strawberry.ID
    cancelled_job_ids: list[strawberry.ID]


@strawberry.type
class OtaImageQueries:
    @strawberry.field(description="The organization's OTA images, ordered by id.",
                      metadata=uses(OtaImages.list_images))
    async def ota_images(self, info: Ctx, filter: OtaImageFilter | None = None,
                         first: int = 25, after: str | None = None) -> OtaImageConnection:
        ctx = info.context
        anchor = after_anchor(after)
        wanted = filter or OtaImageFilter()
        page = await ctx.ota.images.list_images(
            await ctx.caller(), name=wanted.name_contains, contains=True, type=wanted.type,
            model=wanted.model, archived=bool(wanted.archived),
            every=wanted.archived is None,
            start_id=None if anchor is None else anchor + "\x00", num_records=first)
        edges = [OtaImageEdge(cursor=encode_cursor(i.id), node=OtaImageType.of(i))
                 for i in page.images]
        return OtaImageConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None))

    @strawberry.field(metadata=uses(OtaImages.list_images))
    async def ota_image(self, info: Ctx, id: strawberry.ID) -> OtaImageType:
        ctx = info.context
        caller = await ctx.caller()
        page = await ctx.ota.images.list_images(caller, image_id=str(id), every=True) \
            if str(id) else None  # an empty id is no filter to list_images: no image either
        if page is None or not page.images:
            raise NotFound("OTA image not found", reason="image_not_found")
        return OtaImageType.of(page.images[0])


@strawberry.type
class OtaImageMutations:
    @strawberry.mutation(metadata=uses(OtaImages.create_image, OtaImages.upload_image,
                                       OtaImages.request_upload))
    async def upload_ota_image(self, info: Ctx, input: UploadOtaImageInput
                               ) -> UploadOtaImagePayload:
        ctx = info.context
        images = ctx.ota.images
        if input.file is not None:
            if input.content_base64 is not None:
                raise ValidationFailed("Send the image as file or as contentBase64, not both",
                                       reason="image_twice")
            image = await images.upload_image(
                await ctx.caller(), name=input.name, chunks=_read(input.file),
                image_type=input.kind, type=input.type, model=input.model,
                fw_version=input.fw_version, md5_checksum=input.md5)
            return UploadOtaImagePayload(image=OtaImageType.of(image))
        if input.content_base64 is not None:
            image = await images.create_image(
                await ctx.caller(), name=input.name, base64_fwimage=input.content_base64,
                type=input.type, model=input.model, fw_version=input.fw_version)
            return UploadOtaImagePayload(image=OtaImageType.of(image))
        ticket = await images.request_upload(await ctx.caller(), name=input.name,
                                             image_type=input.kind, md5_checksum=input.md5)
        return UploadOtaImagePayload(image=OtaImageType.of(ticket.image),
                                     upload_path=ticket.path)

    @strawberry.mutation(metadata=uses(OtaImages.confirm_upload))
    async def confirm_ota_image_upload(self, info: Ctx, input: ConfirmOtaImageUploadInput
                                       ) -> OtaImagePayload:
        ctx = info.context
        image = await ctx.ota.images.confirm_upload(
            await ctx.caller(), image_id=str(input.image_id), fw_version=input.fw_version,
            model=input.model, type=input.type)
        return OtaImagePayload(image=OtaImageType.of(image))

    @strawberry.mutation(metadata=uses(OtaImages.archive_image))
    async def archive_ota_image(self, info: Ctx, input: ArchiveOtaImageInput
                                ) -> OtaImagePayload:
        ctx = info.context
        image = await ctx.ota.images.archive_image(
            await ctx.caller(), image_id=str(input.id), archive=input.archived)
        return OtaImagePayload(image=OtaImageType.of(image))

    @strawberry.mutation(metadata=uses(OtaImages.delete_image))
    async def delete_ota_image(self, info: Ctx, input: DeleteOtaImageInput
                               ) -> DeleteOtaImagePayload:
        ctx = info.context
        cancelled = await ctx.ota.images.delete_image(
            await ctx.caller(), image_id=str(input.id), force=input.force)
        return DeleteOtaImagePayload(id=input.id,
                                     cancelled_job_ids=[strawberry.ID(i) for i in cancelled])
