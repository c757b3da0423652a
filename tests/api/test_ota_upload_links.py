"""Signed OTA upload links are single-use (issue 15 item 8): the first successful PUT consumes
the link, a confirmed image's bytes never change, an image a job uses takes no upload by any
path, and download links handed out stay valid (same bytes, same md5)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_admin_nodes_api import Org, org_with_devices
from tests.api.test_graphql_ota_upload import files_under, multipart
from tests.api.test_ota_api import IMAGES, JOBS, esp_image, path_of
from tests.api.test_roles_policies_api import call, failure
from tests.conftest import Env

LINK_USED = 100409  # Fleetgate's own conflict (RainMaker has no code): upload_link_used
IMAGE_IN_USE = 104008  # "OTA Image is associated with another OTA job, can't update"


async def request_link(env: Env, org: Org, name: str = "fw") -> tuple[str, str]:
    ticket = await call(env, org.admin, "GET", f"{IMAGES}/upload_request?image_name={name}")
    return ticket["ota_image_id"], path_of(ticket["upload_url"])


async def put(env: Env, url: str, data: bytes) -> httpx.Response:
    return await env.client.put(url, content=data)


def refused(r: httpx.Response, code: int = LINK_USED) -> None:
    assert r.status_code == (409 if code == LINK_USED else 400), r.text
    assert r.json()["status"] == "failure" and r.json()["error_code"] == code, r.text


async def image(env: Env, org: Org, image_id: str) -> dict[str, Any]:
    return await call(env, org.admin, "GET",  # type: ignore[no-any-return]
                      f"{IMAGES}?ota_image_id={image_id}")


async def downloaded(env: Env, url: str) -> bytes:
    r = await env.client.get(path_of(url))
    assert r.status_code == 200, r.text
    return r.content


async def test_a_reused_link_is_refused_and_the_confirmed_image_is_unchanged(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    first, other = esp_image(version=b"1.0.0"), esp_image(version=b"6.6.6")
    image_id, url = await request_link(env, acme)
    assert (await put(env, url, first)).status_code == 200
    refused(await put(env, url, other))  # consumed before the confirm, too
    confirmed = await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                           {"ota_image_id": image_id})
    refused(await put(env, url, other))
    refused(await env.client.put(url, content=other, headers={
        "Content-MD5": base64.b64encode(hashlib.md5(other).digest()).decode()}))
    seen = await image(env, acme, image_id)
    assert (seen["file_md5"], seen["file_size"], seen["fw_version"], seen["uploaded"]) == (
        hashlib.md5(first).hexdigest(), len(first), "1.0.0", True)
    assert await downloaded(env, confirmed["image_url"]) == first
    # a re-confirm describes the same bytes
    await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm", {"ota_image_id": image_id})
    assert (await image(env, acme, image_id))["file_md5"] == hashlib.md5(first).hexdigest()
    assert await downloaded(env, confirmed["image_url"]) == first
    # no blob left behind by the refused uploads
    assert len(await asyncio.to_thread(files_under, Path(env.settings.blob_dir))) == 1


async def test_concurrent_puts_on_one_link_exactly_one_wins(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    image_id, url = await request_link(env, acme)
    bodies = [esp_image(version=f"2.0.{n}".encode()) for n in range(6)]
    answers = await asyncio.gather(*(put(env, url, body) for body in bodies))
    winners = [n for n, r in enumerate(answers) if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in answers]
    for n, r in enumerate(answers):
        if n not in winners:
            refused(r)
    won = bodies[winners[0]]
    confirmed = await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                           {"ota_image_id": image_id})
    assert (await image(env, acme, image_id))["file_md5"] == hashlib.md5(won).hexdigest()
    assert await downloaded(env, confirmed["image_url"]) == won
    assert len(await asyncio.to_thread(files_under, Path(env.settings.blob_dir))) == 1


async def test_a_newer_upload_request_supersedes_the_older_link(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    image_id, old = await request_link(env, acme)
    again, new = await request_link(env, acme)
    assert again == image_id and old != new
    refused(await put(env, old, esp_image(version=b"0.0.1")))
    assert (await put(env, new, esp_image(version=b"0.0.2"))).status_code == 200
    confirmed = await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                           {"ota_image_id": image_id})
    assert confirmed["ota_image_id"] == image_id
    assert (await image(env, acme, image_id))["fw_version"] == "0.0.2"


async def test_no_upload_path_changes_an_image_a_job_uses(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    data = esp_image(version=b"4.0.0")
    image_id, url = await request_link(env, acme)
    assert (await put(env, url, data)).status_code == 200
    await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm", {"ota_image_id": image_id})
    await call(env, acme.admin, "POST", JOBS, {"ota_job_name": "roll", "ota_image_id": image_id,
                                               "nodes": [acme.devices[0].node_id]})
    other = esp_image(version=b"6.6.6")
    refused(await put(env, url, other), IMAGE_IN_USE)  # the signed link
    await failure(env, acme.admin, "POST", IMAGES, {  # base64, same name
        "image_name": "fw", "base64_fwimage": base64.b64encode(other).decode()}, 400,
        IMAGE_IN_USE)
    await failure(env, acme.admin, "GET", f"{IMAGES}/upload_request?image_name=fw", None, 400,
                  IMAGE_IN_USE)  # a new link for it
    r = await multipart(env, {"i": {"name": "fw", "file": None}}, {"0": other},  # GraphQL
                        token=acme.admin["Authorization"])
    assert r.json()["errors"][0]["extensions"]["code"] == "CONFLICT", r.text
    seen = await image(env, acme, image_id)
    assert (seen["file_md5"], seen["fw_version"]) == (hashlib.md5(data).hexdigest(), "4.0.0")
    assert await downloaded(env, seen["image_url"]) == data


async def test_a_refused_put_leaves_the_link_usable(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    data = esp_image()
    image_id, url = await request_link(env, acme)
    r = await env.client.put(url, content=data, headers={
        "Content-MD5": base64.b64encode(b"\0" * 16).decode()})
    assert r.status_code == 400, r.text
    assert (await put(env, url, data)).status_code == 200
    refused(await put(env, url, data))


async def test_a_download_link_never_serves_other_bytes(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    first, second = esp_image(version=b"1.0.0"), esp_image(version=b"1.0.1")
    created = await call(env, acme.admin, "POST", IMAGES, {
        "image_name": "fw", "base64_fwimage": base64.b64encode(first).decode()})
    handed_out = created["image_url"]
    assert await downloaded(env, handed_out) == first
    # replaced by name (RainMaker: no job uses it): the old link names the old bytes
    replaced = await call(env, acme.admin, "POST", IMAGES, {
        "image_name": "fw", "base64_fwimage": base64.b64encode(second).decode()})
    assert replaced["ota_image_id"] == created["ota_image_id"]
    r = await env.client.get(path_of(handed_out))
    assert (r.status_code, r.json()["error_code"]) == (400, 104015), r.text
    assert await downloaded(env, replaced["image_url"]) == second
