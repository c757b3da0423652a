"""The OTA use cases the APIs call (images, admin jobs, users' updates), bundled so both APIs
receive the same instances. Delivery to devices (domain/ota/delivery.py) is the device
runtime's, not an API's."""

from __future__ import annotations

from dataclasses import dataclass

from domain.ota.images import OtaImages
from domain.ota.jobs import OtaJobs
from domain.ota.user_updates import OtaUpdates


@dataclass(frozen=True, slots=True, kw_only=True)
class OtaUseCases:
    images: OtaImages
    jobs: OtaJobs
    updates: OtaUpdates
