"""Use cases on the signed links Fleetgate serves for OTA images: an upload URL to PUT an
image's bytes to (requested, received, then confirmed) and the download URL the nodes use.
A link is a token signed by domain/ota/links.py; its path comes from there too, so every API
answers the same link."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.access.model import Caller, public, requires
from domain.access.permissions import OTA_IMAGES
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.ota import links
from domain.ota.esp_image import HEADER_BYTES
from domain.ota.image_storage import ImageStorage, blob_key, image_kind, load_image
from domain.ota.model import (
    DOWNLOAD_URL_TTL,
    MAX_IMAGE_BYTES,
    NAME_MAX,
    UPLOAD_URL_TTL,
    OtaImage,
    check_md5,
    check_text,
)
from ports.repositories.uow import UnitOfWork

UPLOAD, DOWNLOAD = "ota-upload", "ota-download"


@dataclass(frozen=True, slots=True)
class UploadTicket:
    image: OtaImage
    token: str  # the upload URL's last segment
    expires_at: datetime

    @property
    def path(self) -> str:
        """Where to PUT the bytes, relative to the API base URL."""
        return links.upload_path(self.token)


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


class ImageLinks(ImageStorage):
    """The upload-URL flow and the signed downloads; OtaImages (images.py) adds the
    catalogue."""

    @requires(OTA_IMAGES, "POST")
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
        kind, expected = image_kind(image_type), check_md5(md5_checksum)
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
            image = await load_image(uow, image_id)
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
                image = await load_image(uow, image_id)
                await _open_for_upload(uow, image, issued)
                await self._room(uow, org_id, stored.size - image.size)
                image.size, image.md5, image.blob_key = stored.size, stored.md5, stored.key
                image.uploaded = False  # until confirmed
                await uow.ota.save_image(image)
                await uow.commit()
        return image

    @requires(OTA_IMAGES, "POST")
    async def confirm_upload(self, caller: Caller, *, image_id: object, fw_version: object = None,
                             model: object = None, type: object = None,
                             image_type: object = None) -> OtaImage:
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            image = await load_image(uow, image_id)
            stored = await self.blobs.head(blob_key(image))
            if stored is None or not image.blob_key:
                raise ValidationFailed("OTA image with the given Id not uploaded. Please upload "
                                       "it on the respective pre-signed upload URL.",
                                       reason="image_not_uploaded")
            if image_type not in (None, ""):
                image.kind = image_kind(image_type)
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
            image = await load_image(uow, image_id)
        if not image.uploaded or (md5 and md5 != image.md5):
            raise NotFound("OTA image not found", reason="image_not_found")
        return image, await self.blobs.open(blob_key(image))
