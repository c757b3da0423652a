"""Use cases on OTA images: upload (base64 in the request, or a signed upload URL served by
Fleetgate then a confirm), list, archive, delete, and the signed download the nodes use.
The rules live in domain/ota/model.py; bytes go to the BlobStore port as streams."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.access.model import Caller, public, requires
from domain.billing.model import Metric
from domain.billing.quotas import QuotaGuard
from domain.blobs.model import StoredBlob
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.ota import links
from domain.ota.esp_image import HEADER_BYTES, read_app_description
from domain.ota.model import (
    DOWNLOAD_URL_TTL,
    MAX_BASE64_IMAGE_BYTES,
    MAX_IMAGE_BYTES,
    NAME_MAX,
    UPLOAD_URL_TTL,
    ImageKind,
    ImageQuery,
    JobStatus,
    OtaImage,
    check_md5,
    check_page,
    check_text,
)
from ports.repositories import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, BlobStore, Clock, IdGenerator

UPLOAD, DOWNLOAD = "ota-upload", "ota-download"
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class ImagePage:
    images: list[OtaImage]
    total: int
    next_id: str | None


@dataclass(frozen=True, slots=True)
class UploadTicket:
    image: OtaImage
    token: str  # the upload URL's last segment
    expires_at: datetime


def blob_key(image: OtaImage) -> str:
    """Where the image's bytes are: every upload writes a new blob (see _fresh_key) and the
    image row names it, so a failed or refused upload never touches the bytes in use; rows
    from before that scheme name none and live at ota/<org>/<id>."""
    return image.blob_key or f"ota/{image.org_id}/{image.id}"


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


def _kind(raw: object) -> ImageKind:
    if raw in (None, ""):
        return ImageKind.FIRMWARE
    if raw not in (ImageKind.FIRMWARE.value, ImageKind.PACKAGE.value):
        raise ValidationFailed("Invalid OTA image type specified. Valid values are firmware "
                               "and package", reason="invalid_image_type")
    return ImageKind(str(raw))


async def _image(uow: UnitOfWork, image_id: object) -> OtaImage:
    if not isinstance(image_id, str) or not image_id:
        raise ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
    image = await uow.ota.get_image(image_id)
    if image is None:
        raise NotFound("OTA image not found", reason="image_not_found")
    return image


async def _keep(uow: UnitOfWork, image: OtaImage, stored: StoredBlob, *, new: bool) -> None:
    """The image names the stored bytes from now on, uploaded; committed."""
    image.size, image.md5, image.blob_key = stored.size, stored.md5, stored.key
    image.uploaded, image.upload_expires_at, image.expected_md5 = True, None, None
    await (uow.ota.add_image(image) if new else uow.ota.save_image(image))
    await uow.commit()


def _upload_key(image: OtaImage, expires: datetime) -> str:
    """What an upload link is signed for: the image and the expiry of the request that issued
    it, so a newer request's link supersedes the older ones."""
    return f"{image.org_id}/{image.id}/{int(expires.timestamp())}"


def _parse_upload_key(key: str) -> tuple[str, str, int]:
    parts = key.split("/")
    if len(parts) != 3 or not all(parts) or not (parts[2].isascii() and parts[2].isdigit()):
        # a link from before single-use links (no issuing request in it): request a new one
        raise Forbidden("The link is not valid.", reason="link_invalid")
    org_id, image_id, issued = parts
    return org_id, image_id, int(issued)


def _next_link_expiry(found: OtaImage | None, expires: datetime) -> datetime:
    """`expires`, or one second past the image's previous link, so the two links differ."""
    last = found.upload_expires_at if found is not None else None
    if last is not None and int(expires.timestamp()) <= int(last.timestamp()):
        return last.replace(microsecond=0) + timedelta(seconds=1)
    return expires


async def _open_for_upload(uow: UnitOfWork, image: OtaImage, issued: int) -> None:
    """The upload link issued by the request that expires at `issued` may still upload:
    no job uses the image, it is not confirmed, and no upload consumed the link (an upload
    names its bytes; an upload request clears them) nor a newer request replaced it."""
    if await uow.ota.jobs_using_image(image.id):
        raise Conflict("OTA Image is associated with another OTA job, can't update",
                       reason="image_in_use_update")
    if image.uploaded:
        raise Conflict("The OTA image is confirmed: its bytes cannot change",
                       reason="image_confirmed")
    waiting = image.upload_expires_at
    if image.blob_key or waiting is None or int(waiting.timestamp()) != issued:
        raise Conflict("This upload link has been used or replaced; request a new one",
                       reason="upload_link_used")


class OtaImages:
    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, blobs: BlobStore, link_secret: bytes,
                 quotas: QuotaGuard | None = None) -> None:
        self.uow, self.ids, self.clock, self.authorizer = uow, ids, clock, authorizer
        self.blobs, self._secret, self.quotas = blobs, link_secret, quotas

    async def _room(self, uow: UnitOfWork, org_id: str, adding: int) -> None:
        """The plan's OTA storage must hold `adding` more bytes (a replacement adds the
        difference)."""
        if self.quotas is not None and adding > 0:
            await self.quotas.require(uow, org_id, Metric.OTA_STORAGE, adding)

    async def _reusable(self, uow: UnitOfWork, org_id: str, name: str) -> OtaImage | None:
        """An image of that name no job uses is replaced (RainMaker); a used one is not."""
        page, _ = await uow.ota.list_images(ImageQuery(name=name, archived=None),
                                            start_id=None, limit=1)
        if not page:
            return None
        if await uow.ota.jobs_using_image(page[0].id):
            raise Conflict("OTA Image is associated with another OTA job, can't update",
                           reason="image_in_use_update")
        return page[0]

    def _fresh_key(self, image: OtaImage) -> str:
        return f"ota/{image.org_id}/{image.id}.{self.ids.new_id()}"

    async def _drop_blob(self, key: str | None) -> None:
        """Deletes a blob no row names any more (a replaced or refused upload)."""
        if key:
            await self.blobs.delete(key)

    @contextlib.asynccontextmanager
    async def _dropped_on_failure(self, stored: StoredBlob) -> AsyncIterator[None]:
        """Bytes just stored that no row names yet: deleted if the block fails."""
        try:
            yield
        except BaseException:
            await self._drop_blob(stored.key)
            raise

    def _describe(self, image: OtaImage, head: bytes, *, fw_version: object, model: object,
                  type: object) -> None:
        """fw_version and model from the body, else from the ESP app description."""
        app = read_app_description(head) if image.kind == ImageKind.FIRMWARE else None
        image.fw_version = check_text(fw_version, "Firmware version", required=False) or (
            app.version if app else "")
        image.model = check_text(model, "Model", required=False) or (
            app.project_name if app else "")
        image.type = check_text(type, "Type", required=False) or image.type
        if not image.fw_version:
            raise ValidationFailed("Firmware version is missing", reason="fw_version_missing")
        if not image.model:
            raise ValidationFailed("Model is missing", reason="model_missing")

    @requires("/v1/admin/otaimage", "POST")
    async def create_image(self, caller: Caller, *, name: object, base64_fwimage: object,
                           type: object = None, model: object = None,
                           fw_version: object = None) -> OtaImage:
        """An image from base64 in the request (at most 5 MB decoded)."""
        return await self._create(caller, name=name, base64_fwimage=base64_fwimage,
                                  type=type, model=model, fw_version=fw_version,
                                  own_only=False)

    @requires("/v1/user/otaimage", "POST")
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

    @requires("/v1/admin/otaimage", "POST")
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
        kind, expected = _kind(image_type), check_md5(md5_checksum)
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

    @requires("/v1/admin/otaimage", "POST")
    async def request_upload(self, caller: Caller, *, name: object, image_type: object = None,
                             md5_checksum: object = None) -> UploadTicket:
        """An image waiting for its bytes on a signed upload URL (valid 24 hours); confirm
        it after the upload.

        - an image of that name that no job uses waits again for new bytes: its old bytes
          are dropped and every upload link handed out for it before stops working
        - the link is single-use: its first successful upload consumes it (receive_upload)
        """
        principal = caller.require_principal()
        image_name = check_text(name, "Image Name", required=True, limit=NAME_MAX,
                                reason="image_name_missing")
        kind, expected = _kind(image_type), check_md5(md5_checksum)
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            found = await self._reusable(uow, principal.org_id, image_name)
            image = found or OtaImage(id=self.ids.new_id(), org_id=principal.org_id,
                                      name=image_name, kind=kind,
                                      created_by=principal.user_id, created_at=now)
            expires = _next_link_expiry(found, now + UPLOAD_URL_TTL)
            previous = blob_key(found) if found is not None else None
            image.kind, image.expected_md5, image.upload_expires_at = kind, expected, expires
            image.uploaded, image.blob_key, image.size, image.md5 = False, "", 0, ""
            await (uow.ota.save_image(image) if found else uow.ota.add_image(image))
            await uow.commit()
        await self._drop_blob(previous)
        token = links.sign(self._secret, UPLOAD, _upload_key(image, expires),
                           int(expires.timestamp()))
        return UploadTicket(image=image, token=token, expires_at=expires)

    @public
    async def receive_upload(self, caller: Caller, *, token: str, chunks: AsyncIterator[bytes],
                             content_md5: str | None = None) -> OtaImage:
        """The bytes PUT to a signed upload URL (the token is the credential): streamed to the
        blob store, at most 200 MB.

        - an expired or tampered URL is refused (403)
        - the URL is consumed by its first successful upload: a second PUT, a PUT to an
          image that is confirmed or used by a job, or a URL superseded by a newer upload
          request is refused (409) and changes nothing
        - of two PUTs racing on one URL exactly one wins (the image row is written
          optimistically; the loser's bytes are dropped)
        - a refused upload (Content-MD5 mismatch, too large) leaves the URL usable
        """
        key = links.verify(self._secret, token, UPLOAD, int(self.clock.now().timestamp()))
        org_id, image_id, issued = _parse_upload_key(key)
        async with self.uow(org_id) as uow:
            image = await _image(uow, image_id)
            await _open_for_upload(uow, image, issued)
        stored = await self.blobs.put(self._fresh_key(image), chunks, max_bytes=MAX_IMAGE_BYTES)
        async with self._dropped_on_failure(stored):
            if content_md5 is not None:
                try:
                    sent = base64.b64decode(content_md5, validate=True).hex()
                except (binascii.Error, ValueError):
                    sent = ""
                if sent != stored.md5:
                    raise ValidationFailed("Content-MD5 does not match the uploaded bytes",
                                           reason="content_md5_mismatch")
            async with self.uow(org_id) as uow:
                image = await _image(uow, image_id)
                await _open_for_upload(uow, image, issued)
                await self._room(uow, org_id, stored.size - image.size)
                image.size, image.md5, image.blob_key = stored.size, stored.md5, stored.key
                image.uploaded = False  # until confirmed
                await uow.ota.save_image(image)
                await uow.commit()
        return image

    @requires("/v1/admin/otaimage", "POST")
    async def confirm_upload(self, caller: Caller, *, image_id: object, fw_version: object = None,
                             model: object = None, type: object = None,
                             image_type: object = None) -> OtaImage:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            image = await _image(uow, image_id)
            stored = await self.blobs.head(blob_key(image))
            if stored is None or not image.blob_key:
                raise ValidationFailed("OTA image with the given Id not uploaded. Please upload "
                                       "it on the respective pre-signed upload URL.",
                                       reason="image_not_uploaded")
            if image_type not in (None, ""):
                image.kind = _kind(image_type)
            if image.expected_md5 is not None and image.expected_md5 != stored.md5:
                raise ValidationFailed("The uploaded image's MD5 is not the md5_checksum of "
                                       "the upload request", reason="image_md5_mismatch")
            head = b""
            async for chunk in await self.blobs.open(blob_key(image)):
                head += chunk
                if len(head) >= HEADER_BYTES:
                    break
            self._describe(image, head[:HEADER_BYTES], fw_version=fw_version, model=model,
                           type=type)
            # upload_expires_at stays: the next upload request's link must differ from it
            image.size, image.md5, image.uploaded = stored.size, stored.md5, True
            await uow.ota.save_image(image)
            await uow.commit()
        return image

    @requires("/v1/admin/otaimage", "GET")
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

    @requires("/v1/admin/otaimage", "PUT")
    async def archive_image(self, caller: Caller, *, image_id: object, archive: bool
                            ) -> OtaImage:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            image = await _image(uow, image_id)
            image.archive(archive)
            await uow.ota.save_image(image)
            await uow.commit()
        return image

    @requires("/v1/admin/otaimage", "DELETE")
    async def delete_image(self, caller: Caller, *, image_id: object, force: bool = False
                           ) -> list[str]:
        """Deletes an image no job uses; with force, the jobs using it that are still active
        are cancelled first (returned) and the others keep their history without it."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            image = await _image(uow, image_id)
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

    def download_token(self, image: OtaImage, now: datetime) -> str:
        """A signed link token for a node to download the image (valid one hour); it names
        the bytes (their md5), so it never serves others (an image replaced by name)."""
        return links.sign(self._secret, DOWNLOAD, f"{image.org_id}/{image.id}/{image.md5}",
                          int((now + DOWNLOAD_URL_TTL).timestamp()))

    @public
    async def download(self, caller: Caller, *, token: str) -> tuple[OtaImage,
                                                                     AsyncIterator[bytes]]:
        """The image behind a signed download link (the token is the credential)."""
        key = links.verify(self._secret, token, DOWNLOAD, int(self.clock.now().timestamp()))
        org_id, _, rest = key.partition("/")
        image_id, _, md5 = rest.partition("/")  # no md5: a link from before they named one
        async with self.uow(org_id) as uow:
            image = await _image(uow, image_id)
        if not image.uploaded or (md5 and md5 != image.md5):
            raise NotFound("OTA image not found", reason="image_not_found")
        return image, await self.blobs.open(blob_key(image))
