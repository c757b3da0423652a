"""The bytes of OTA images, shared by the catalogue (domain/ota/images.py) and the signed
links (domain/ota/image_links.py): where an image's bytes are, how an image is described
from its ESP header, and how stored bytes are counted against the plan and dropped when
no row names them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from domain.billing.model import Metric
from domain.blobs.model import StoredBlob
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.ota.esp_image import read_app_description
from domain.ota.model import ImageKind, ImageQuery, OtaImage, check_text
from ports.billing import QuotaCheck
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, BlobStore, Clock, IdGenerator


def blob_key(image: OtaImage) -> str:
    """Where the image's bytes are: every upload writes a new blob (see _fresh_key) and the
    image row names it, so a failed or refused upload never touches the bytes in use; rows
    from before that scheme name none and live at ota/<org>/<id>."""
    return image.blob_key or f"ota/{image.org_id}/{image.id}"


def image_kind(raw: object) -> ImageKind:
    if raw in (None, ""):
        return ImageKind.FIRMWARE
    if raw not in (ImageKind.FIRMWARE.value, ImageKind.PACKAGE.value):
        raise ValidationFailed("Invalid OTA image type specified. Valid values are firmware "
                               "and package", reason="invalid_image_type")
    return ImageKind(str(raw))


async def load_image(uow: UnitOfWork, image_id: object) -> OtaImage:
    if not isinstance(image_id, str) or not image_id:
        raise ValidationFailed("OTA Image Id is missing", reason="image_id_missing")
    image = await uow.ota.get_image(image_id)
    if image is None:
        raise NotFound("OTA image not found", reason="image_not_found")
    return image


class ImageStorage:
    """What every way of uploading an image shares; the use cases are its subclasses'."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, blobs: BlobStore, link_secret: bytes,
                 quotas: QuotaCheck | None = None) -> None:
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
