"""The virtual device's OTA: the offer on otaurl, the download, the checks, the reports."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import aiomqtt
import httpx

from fleetgate.simulator.device import Fetch, VirtualDevice, payload

log = logging.getLogger("fleetgate.simulator")


class OtaDownloadError(Exception):
    pass


async def http_fetch(client: httpx.AsyncClient, url: str, limit: int) -> bytes:
    """GETs url, refusing a body larger than limit bytes (read in chunks, never whole)."""
    chunks: list[bytes] = []
    size = 0
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise OtaDownloadError(f"download failed: HTTP {response.status_code}")
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise OtaDownloadError(f"download larger than the offered {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def parse_offer(raw: Any) -> dict[str, Any] | None:
    """An otaurl payload {ota_job_id, url, fw_version, filesize, file_md5}, or None."""
    try:
        offer = json.loads(raw if isinstance(raw, bytes | bytearray | str) else b"")
    except ValueError:
        return None
    if not isinstance(offer, dict) or not all(
            isinstance(offer.get(k), str) and offer[k] for k in ("ota_job_id", "url")) \
            or not isinstance(offer.get("fw_version"), str) \
            or not isinstance(offer.get("filesize"), int) or offer["filesize"] < 0 \
            or not isinstance(offer.get("file_md5"), str):
        return None
    return offer


async def perform_ota(client: aiomqtt.Client, device: VirtualDevice, offer: dict[str, Any],
                      fetch: Fetch, failure_rate: float) -> bool:
    """One offered update: in-progress, download and check, then config + success or
    failed. Returns whether it succeeded."""
    name, job_id = device.credentials.name, offer["ota_job_id"]
    device.ota_done.add(job_id)

    async def status(value: str, info: str) -> None:
        await client.publish(device.topic("otastatus"), payload(
            {"ota_job_id": job_id, "status": value, "additional_info": info}), qos=1)

    await status("in-progress", f"downloading {offer['fw_version']}")
    problem = ""
    try:
        image = await fetch(offer["url"], offer["filesize"])
    except OtaDownloadError as exc:
        problem = str(exc)[:200]
    except httpx.HTTPError as exc:
        problem = f"download failed: {exc!r}"[:200]
    else:
        if len(image) != offer["filesize"]:
            problem = f"size mismatch: got {len(image)} bytes, expected {offer['filesize']}"
        elif hashlib.md5(image, usedforsecurity=False).hexdigest() != \
                offer["file_md5"].lower():
            problem = "md5 mismatch"
        elif failure_rate > 0 and device.random(0.0, 1.0) < failure_rate:
            problem = "simulated failure"
    if problem:
        device.ota_failed += 1
        log.warning("%s: OTA job %s failed: %s", name, job_id, problem)
        await status("failed", problem)
        return False
    device.fw_version = offer["fw_version"]
    device.ota_succeeded += 1
    log.info("%s: OTA job %s applied, now at firmware %s", name, job_id, device.fw_version)
    await client.publish(device.topic("config"), payload(device.config()), qos=1)
    await status("success", f"updated to {device.fw_version}")
    return True


