"""Use cases on the catalogue of OTA images: an image from content sent in the request
(base64, or a GraphQL multipart upload), list, archive, delete. The upload-URL flow and the
signed downloads are in domain/ota/image_links.py, what both share in image_storage.py; the
rules live in domain/ota/model.py; bytes go to the BlobStore port as streams."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass

from domain.access.model import Caller, requires
from domain.access.permissions import OTA_IMAGES, USER_OTA_IMAGES
from domain.blobs.model import StoredBlob
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.ota.esp_image import HEADER_BYTES
from domain.ota.image_links import ImageLinks
from domain.ota.image_storage import blob_key, image_kind, load_image
from domain.ota.model import (
    MAX_BASE64_IMAGE_BYTES,
    MAX_IMAGE_BYTES,
    NAME_MAX,
    ImageKind,
    ImageQuery,
    JobStatus,
    OtaImage,
    check_md5,
    check_page,
    check_text,
)
from ports.repositories.uow import UnitOfWork

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class ImagePage:
    images: list[OtaImage]
    total: int
    next_id: str | None


async def _peek(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes of a stream (fewer if it is shorter), and the whole stream."""
    head = b""
    iterator = aiter(chunks)
    while len(head) < size:
        try:
            head += await anext(iterator)
        except StopAsyncIteration:
            break

    async def whole() -> AsyncIterator[bytes]:
        if head:
            yield head
        async for chunk in iterator:
            yield chunk

    return head[:size], whole()


async def _single(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 64 * 1024):
        yield data[start:start + 64 * 1024]


async def _keep(uow: UnitOfWork, image: OtaImage, stored: StoredBlob, *, new: bool) -> None:
    """The image names the stored bytes from now on, uploaded; committed."""
    image.size, image.md5, image.blob_key = stored.size, stored.md5, stored.key
    image.uploaded, image.upload_expires_at, image.expected_md5 = True, None, None
    await (uow.ota.add_image(image) if new else uow.ota.save_image(image))
    await uow.commit()


class OtaImages(ImageLinks):
    """The organization's OTA images: created from content sent in the request, listed,
    archived and deleted; the upload-URL flow and the downloads are ImageLinks'."""

    @requires(OTA_IMAGES, "POST")
    async def create_image(self, caller: Caller, *, name: object, base64_fwimage: object,
                           type: object = None, model: object = None,
                           fw_version: object = None) -> OtaImage:
        """An image from base64 in the request (at most 5 MB decoded)."""
        return await self._create(caller, name=name, base64_fwimage=base64_fwimage,
                                  type=type, model=model, fw_version=fw_version,
                                  own_only=False)

    @requires(USER_OTA_IMAGES, "POST")
    async def create_user_image(self, caller: Caller, *, name: object,
                                base64_fwimage: object, type: object = None,
                                model: object = None, fw_version: object = None) -> OtaImage:
        """An end user's image (base64, at most 5 MB decoded), stored in the organization
        like an admin's; it replaces an image of that name only if the user created it."""
        return await self._create(caller, name=name, base64_fwimage=base64_fwimage,
                                  type=type, model=model, fw_version=fw_version,
                                  own_only=True)

    async def _create(self, caller: Caller, *, name: object, base64_fwimage: object,
                      type: object, model: object, fw_version: object,
                      own_only: bool) -> OtaImage:
        principal = caller.require_principal()
        image_name = check_text(name, "Image Name", required=True, limit=NAME_MAX,
                                reason="image_name_missing")
        if not isinstance(base64_fwimage, str) or not base64_fwimage:
            raise ValidationFailed("Base64 firmware image is missing",
                                   reason="base64_image_missing")
        if len(base64_fwimage) > MAX_BASE64_IMAGE_BYTES * 4 // 3 + 4:
            raise ValidationFailed("OTA Image size should be smaller than 5 mb",
                                   reason="base64_image_too_large")
        try:
            data = base64.b64decode(base64_fwimage, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed("Invalid base64 firmware image",
                                   reason="invalid_base64_image") from exc
        if not data or len(data) > MAX_BASE64_IMAGE_BYTES:
            raise ValidationFailed("OTA Image size should be smaller than 5 mb",
                                   reason="base64_image_too_large")
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            found = await self._reusable(uow, principal.org_id, image_name)
            if found is not None and own_only and found.created_by != principal.user_id:
                raise Conflict("An OTA image of that name exists already",
                               reason="image_name_taken")
            image = found or OtaImage(id=self.ids.new_id(), org_id=principal.org_id,
                                      name=image_name, kind=ImageKind.FIRMWARE,
                                      created_by=principal.user_id, created_at=now)
            self._describe(image, data[:HEADER_BYTES], fw_version=fw_version, model=model,
                           type=type)
            previous = blob_key(image) if found else None
            await self._room(uow, principal.org_id, len(data) - (found.size if found else 0))
            stored = await self.blobs.put(self._fresh_key(image), _single(data),
                                          max_bytes=MAX_BASE64_IMAGE_BYTES)
            async with self._dropped_on_failure(stored):
                await _keep(uow, image, stored, new=found is None)
        await self._drop_blob(previous)
        return image

    @requires(OTA_IMAGES, "POST")
    async def upload_image(self, caller: Caller, *, name: object, chunks: AsyncIterator[bytes],
                           image_type: object = None, type: object = None, model: object = None,
                           fw_version: object = None, md5_checksum: object = None) -> OtaImage:
        """An image streamed in one request (GraphQL multipart upload), at most 200 MB:
        described from its ESP header (or the arguments) before anything is stored, its md5
        checked against md5_checksum when given. It replaces an image of that name that no
        job uses; the bytes of the replaced one stay until the new ones are committed."""
        principal = caller.require_principal()
        image_name = check_text(name, "Image Name", required=True, limit=NAME_MAX,
                                reason="image_name_missing")
        kind, expected = image_kind(image_type), check_md5(md5_checksum)
        head, whole = await _peek(chunks, HEADER_BYTES)
        if not head:
            raise ValidationFailed("The uploaded image is empty", reason="image_empty")
        async with self.uow(principal.org_id) as uow:
            found = await self._reusable(uow, principal.org_id, image_name)
        image = found or OtaImage(id=self.ids.new_id(), org_id=principal.org_id,
                                  name=image_name, kind=kind, created_by=principal.user_id,
                                  created_at=self.clock.now())
        image.kind = kind
        self._describe(image, head, fw_version=fw_version, model=model, type=type)
        stored = await self.blobs.put(self._fresh_key(image), whole, max_bytes=MAX_IMAGE_BYTES)
        async with self._dropped_on_failure(stored):
            if expected is not None and expected != stored.md5:
                raise ValidationFailed("The uploaded image's MD5 is not md5_checksum",
                                       reason="image_md5_mismatch")
            async with self.uow(principal.org_id) as uow:
                again = await self._reusable(uow, principal.org_id, image_name)
                if (again.id if again else None) != (found.id if found else None):
                    raise Conflict("An OTA image of that name was uploaded meanwhile",
                                   reason="image_name_taken")
                previous = blob_key(again) if again else None
                await self._room(uow, principal.org_id,
                                 stored.size - (again.size if again else 0))
                if again is not None:  # its row as it is now, described the same way
                    image = again
                    image.kind = kind
                    self._describe(image, head, fw_version=fw_version, model=model, type=type)
                await _keep(uow, image, stored, new=found is None)
        await self._drop_blob(previous)
        return image

    @requires(OTA_IMAGES, "GET")
    async def list_images(self, caller: Caller, *, image_id: object = None,
                          name: object = None, contains: bool = False, type: object = None,
                          model: object = None, archived: bool = False, every: bool = False,
                          start_id: object = None, num_records: object = 25) -> ImagePage:
        principal = caller.require_principal()
        num_records = check_page(num_records, MAX_PAGE)
        query = ImageQuery(
            image_id=check_text(image_id, "ota_image_id", required=False) or None,
            name=check_text(name, "image_name", required=False, limit=NAME_MAX) or None,
            name_contains=contains, type=check_text(type, "type", required=False) or None,
            model=check_text(model, "model", required=False) or None,
            archived=None if every else archived)
        start = check_text(start_id, "start_id", required=False) or None
        async with self.uow(principal.org_id) as uow:
            found, total = await uow.ota.list_images(query, start_id=start,
                                                     limit=num_records + 1)
        if query.image_id is not None and not found:
            raise NotFound("OTA image not found", reason="image_not_found")
        page = list(found[:num_records])
        return ImagePage(page, total, found[num_records].id if len(found) > num_records
                         else None)

    @requires(OTA_IMAGES, "PUT")
    async def archive_image(self, caller: Caller, *, image_id: object, archive: bool
                            ) -> OtaImage:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            image = await load_image(uow, image_id)
            image.archive(archive)
            await uow.ota.save_image(image)
            await uow.commit()
        return image

    @requires(OTA_IMAGES, "DELETE")
    async def delete_image(self, caller: Caller, *, image_id: object, force: bool = False
                           ) -> list[str]:
        """Deletes an image no job uses; with force, the jobs using it that are still active
        are cancelled first (returned) and the others keep their history without it."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            image = await load_image(uow, image_id)
            jobs = list(await uow.ota.jobs_using_image(image.id))
            if jobs and not force:
                raise Conflict("OTA Image is associated with OTA job, can't be deleted "
                               "(force_delete=true cancels those jobs)", reason="image_in_use")
            cancelled = []
            for job in jobs:
                if job.status == JobStatus.ACTIVE:
                    job.cancel(now, reason=f"image {image.id} deleted")
                    await uow.ota.save_job(job)
                    cancelled.append(job.id)
            await uow.ota.delete_image(image.id)
            await uow.commit()
        await self.blobs.delete(blob_key(image))
        return cancelled
