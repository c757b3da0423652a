"""OTA over REST compat (RainMaker v1): images (base64, signed upload URL + confirm, list,
archive, delete), the signed download link, jobs (targets, validation, list, status, summary,
cancel/archive), user-approved updates, tenant isolation and the admin-only routes."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from typing import Any

from domain.ota import links
from domain.ota.esp_image import APP_DESC_MAGIC
from tests.api.test_admin_nodes_api import Org, org_with_devices, user_id_of
from tests.api.test_roles_policies_api import call, failure
from tests.conftest import Env

IMAGES, JOBS = "/v1/admin/otaimage", "/v1/admin/otajob"


def esp_image(version: bytes = b"2.1.0", project: bytes = b"led_light",
              body: bytes = b"\xff" * 512) -> bytes:
    header = struct.pack("<BBBBIB3sHBHH4sB", 0xE9, 4, 2, 0x20, 0x40081234, 0xEE, b"\0\0\0",
                         0, 0, 0, 0xFFFF, b"\0" * 4, 1)
    segment = struct.pack("<II", 0x3F400020, 0x1000)
    desc = struct.pack("<II8s32s32s16s16s32s32s80s", APP_DESC_MAGIC, 1, b"\0" * 8, version,
                       project, b"12:34:56", b"Jan  1 2026", b"v5.1.2", b"\xaa" * 32,
                       b"\0" * 80)
    return header + segment + desc + body




async def upload(env: Env, org: Org, name: str = "fw", data: bytes | None = None,
                 **fields: Any) -> dict[str, Any]:
    payload = base64.b64encode(data if data is not None else esp_image()).decode()
    return await call(env, org.admin, "POST", IMAGES,  # type: ignore[no-any-return]
                      {"image_name": name, "base64_fwimage": payload, **fields})


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


async def test_base64_image_from_the_esp_header_and_download(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    data = esp_image()
    created = await upload(env, acme, data=data)
    assert created["status"] == "success" and "/v1/ota/download/" in created["image_url"]
    one = await call(env, acme.admin, "GET", f"{IMAGES}?ota_image_id={created['ota_image_id']}")
    assert (one["fw_version"], one["model"], one["file_size"], one["file_md5"]) == (
        "2.1.0", "led_light", len(data), hashlib.md5(data).hexdigest())
    assert one["archived"] is False
    r = await env.client.get(path_of(created["image_url"]))
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    # not an ESP image: fw_version (then model) must be given
    await failure(env, acme.admin, "POST", IMAGES, {
        "image_name": "raw", "base64_fwimage": base64.b64encode(b"x" * 400).decode()},
        400, 104004)
    await failure(env, acme.admin, "POST", IMAGES, {
        "image_name": "raw", "base64_fwimage": base64.b64encode(b"x" * 400).decode(),
        "fw_version": "1"}, 400, 104005)
    await failure(env, acme.admin, "POST", IMAGES, {"image_name": "raw"}, 400, 104001)
    await failure(env, acme.admin, "POST", IMAGES, {"base64_fwimage": "AAAA"}, 400, 104002)
    await failure(env, acme.admin, "POST", IMAGES, {"image_name": "raw",
                                                    "base64_fwimage": "!!"}, 400, 104011)
    # bad and unknown download tokens
    r = await env.client.get("/v1/ota/download/abc." + "0" * 64)
    assert (r.status_code, r.json()["error_code"]) == (403, 104904)


async def test_upload_url_put_confirm_and_expiry(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    data = esp_image(version=b"3.0.0")
    md5 = hashlib.md5(data)
    ticket = await call(env, acme.admin, "GET",
                        f"{IMAGES}/upload_request?image_name=big&md5_checksum={md5.hexdigest()}")
    url = path_of(ticket["upload_url"])
    # a wrong Content-MD5 is refused
    r = await env.client.put(url, content=data, headers={
        "Content-MD5": base64.b64encode(b"\0" * 16).decode()})
    assert (r.status_code, r.json()["error_code"]) == (400, 104901), r.text
    # not uploaded yet: confirm refused
    await failure(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                  {"ota_image_id": ticket["ota_image_id"]}, 400, 104032)
    r = await env.client.put(url, content=data, headers={
        "Content-MD5": base64.b64encode(md5.digest()).decode()})
    assert r.status_code == 200, r.text
    confirmed = await call(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                           {"ota_image_id": ticket["ota_image_id"]})
    assert confirmed["ota_image_id"] == ticket["ota_image_id"]
    one = await call(env, acme.admin, "GET", f"{IMAGES}?ota_image_id={ticket['ota_image_id']}")
    assert (one["fw_version"], one["file_md5"], one["file_size"]) == (
        "3.0.0", md5.hexdigest(), len(data))
    # an expired upload URL, and a tampered one
    secret = env.container.settings().secret.encode()
    old = links.sign(secret, "ota-upload", f"x/{ticket['ota_image_id']}", int(time.time()) - 5)
    r = await env.client.put(f"/v1/ota/upload/{old}", content=data)
    assert (r.status_code, r.json()["error_code"]) == (403, 104905), r.text
    r = await env.client.put(url[:-1] + ("0" if url[-1] != "0" else "1"), content=data)
    assert (r.status_code, r.json()["error_code"]) == (403, 104904)
    await failure(env, acme.admin, "POST", f"{IMAGES}/upload_confirm", {}, 400, 104018)
    await failure(env, acme.admin, "POST", f"{IMAGES}/upload_confirm",
                  {"ota_image_id": "nope"}, 400, 104015)


async def test_list_filters_paging_archive_and_delete(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    node = acme.devices[0].node_id
    ids = [(await upload(env, acme, name=f"fw-{i}", type="light"))["ota_image_id"]
           for i in range(3)]
    await upload(env, acme, name="other", type="switch")
    page = await call(env, acme.admin, "GET", f"{IMAGES}?num_records=2")
    assert page["total"] == 4 and len(page["ota_images"]) == 2 and "next_id" in page
    rest = await call(env, acme.admin, "GET", f"{IMAGES}?num_records=2&start_id={page['next_id']}")
    assert len(rest["ota_images"]) == 2 and "next_id" not in rest
    names = {i["image_name"] for i in page["ota_images"] + rest["ota_images"]}
    assert names == {"fw-0", "fw-1", "fw-2", "other"}
    found = await call(env, acme.admin, "GET", f"{IMAGES}?image_name=fw-&contains=true")
    assert {i["ota_image_id"] for i in found["ota_images"]} == set(ids)
    found = await call(env, acme.admin, "GET", f"{IMAGES}?type=switch")
    assert [i["image_name"] for i in found["ota_images"]] == ["other"]
    # archive / unarchive
    await call(env, acme.admin, "PUT", f"{IMAGES}?ota_image_id={ids[0]}&archive=true")
    await failure(env, acme.admin, "PUT", f"{IMAGES}?ota_image_id={ids[0]}&archive=true",
                  None, 400, 104023)
    assert ids[0] not in {i["ota_image_id"] for i in (
        await call(env, acme.admin, "GET", IMAGES))["ota_images"]}
    archived = await call(env, acme.admin, "GET", f"{IMAGES}?archived=true")
    assert [i["ota_image_id"] for i in archived["ota_images"]] == [ids[0]]
    assert (await call(env, acme.admin, "GET", f"{IMAGES}?all=true"))["total"] == 4
    await failure(env, acme.admin, "POST", JOBS, {"ota_job_name": "j", "ota_image_id": ids[0],
                                                  "nodes": [node]}, 400, 104034)
    await call(env, acme.admin, "PUT", f"{IMAGES}?ota_image_id={ids[0]}&archive=false")
    await failure(env, acme.admin, "PUT", f"{IMAGES}?ota_image_id={ids[0]}&archive=false",
                  None, 400, 104024)
    await failure(env, acme.admin, "PUT", f"{IMAGES}?ota_image_id={ids[0]}&archive=maybe",
                  None, 400, 104026)
    # delete: refused while a job uses it; force cancels the job
    job = (await call(env, acme.admin, "POST", JOBS, {
        "ota_job_name": "j", "ota_image_id": ids[0], "nodes": [node]}))["ota_job_id"]
    await failure(env, acme.admin, "POST", IMAGES, {
        "image_name": "fw-0", "base64_fwimage": base64.b64encode(esp_image()).decode()},
        400, 104008)
    await failure(env, acme.admin, "DELETE", f"{IMAGES}?ota_image_id={ids[0]}", None,
                  400, 104016)
    await call(env, acme.admin, "DELETE", f"{IMAGES}?ota_image_id={ids[0]}&force_delete=true")
    listed = await call(env, acme.admin, "GET", f"{JOBS}?ota_job_id={job}")
    assert listed["status"] == "cancelled"
    await failure(env, acme.admin, "GET", f"{IMAGES}?ota_image_id={ids[0]}", None, 400, 104015)
    await call(env, acme.admin, "DELETE", f"{IMAGES}?ota_image_id={ids[1]}")
    await failure(env, acme.admin, "DELETE", IMAGES, None, 400, 104018)


async def test_job_targets_and_validation(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 3)
    a, b, c = (d.node_id for d in acme.devices)
    image = (await upload(env, acme))["ota_image_id"]
    group = (await call(env, acme.admin, "POST", "/v1/admin/node_group",
                        {"group_name": "lamps", "nodes": [b, c]}))["group_id"]

    async def job(name: str, **fields: Any) -> str:
        return (await call(env, acme.admin, "POST", JOBS, {  # type: ignore[no-any-return]
            "ota_job_name": name, "ota_image_id": image, **fields}))["ota_job_id"]

    by_nodes = await job("nodes", nodes=[a], priority=1, timeout=3600,
                         metadata={"download_window": {"start": "22:00", "end": "04:00"}},
                         rollout={"rollout": {"max_per_minute": 10, "max_in_flight": 2},
                                  "abort": {"failure_percent": 50, "min_executed": 2}})
    by_group = await job("group", groups=[group])
    everyone = await job("all", groups=["FFFF-FFFF"])
    dynamic = await job("dyn", node_type="nothing-matches-yet")
    for job_id, total in ((by_nodes, 1), (by_group, 2), (everyone, 3), (dynamic, 0)):
        summary = await call(env, acme.admin, "GET", f"{JOBS}/status/summary?ota_job_id={job_id}")
        assert summary["total"] == total and summary["triggered"] == total, (job_id, summary)
    one = await call(env, acme.admin, "GET", f"{JOBS}?ota_job_id={by_nodes}")
    assert (one["ota_job_name"], one["priority"], one["nodes"], one["total_count"],
            one["triggered_count"], one["timeout"]) == ("nodes", 1, [a], 1, 1, 3600)
    assert one["rollout"]["abort"] == {"failure_percent": 50.0, "min_executed": 2}
    assert (await call(env, acme.admin, "GET", f"{JOBS}?ota_job_id={dynamic}"))[
        "group_query"] == "node_type: nothing-matches-yet"
    listed = await call(env, acme.admin, "GET", f"{JOBS}?num_records=3")
    assert listed["total"] == 4 and len(listed["ota_jobs"]) == 3 and "next_id" in listed
    statuses = await call(env, acme.admin, "GET", f"{JOBS}/status?ota_job_id={everyone}")
    assert sorted(s["node_id"] for s in statuses["node_ota_status"]) == sorted([a, b, c])
    assert {s["status"] for s in statuses["node_ota_status"]} == {"triggered"}
    page = await call(env, acme.admin, "GET",
                      f"{JOBS}/status?ota_job_id={everyone}&num_records=2")
    assert len(page["node_ota_status"]) == 2 and "next_id" in page
    only = await call(env, acme.admin, "GET", f"{JOBS}/status?ota_job_id={everyone}&node_id={a}")
    assert [s["node_id"] for s in only["node_ota_status"]] == [a]
    # bad input
    base = {"ota_job_name": "bad", "ota_image_id": image}
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [a], "priority": 0},
                  400, 105054)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [a], "priority": 11},
                  400, 105054)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [f"n{i}" for i in range(101)]},
                  400, 105029)
    await failure(env, acme.admin, "POST", JOBS, {**base, "groups": [group] * 11}, 400, 105028)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [a], "ota_image_id": "nope"},
                  400, 104015)
    await failure(env, acme.admin, "POST", JOBS, {**base, "ota_job_name": "nodes",
                                                  "nodes": [a]}, 400, 105005)
    await failure(env, acme.admin, "POST", JOBS, base, 400, 105002)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [a], "node_type": "x"},
                  400, 105052)
    await failure(env, acme.admin, "POST", JOBS, {"ota_image_id": image, "nodes": [a]},
                  400, 105001)
    await failure(env, acme.admin, "POST", JOBS, {"ota_job_name": "x", "nodes": [a]},
                  400, 104018)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": ["nosuchnode"]}, 400, 100015)
    await failure(env, acme.admin, "POST", JOBS, {**base, "nodes": [a], "metadata": {
        "download_window": {"start": "25:00", "end": "01:00"}}}, 400, 105900)
    await failure(env, acme.admin, "POST", f"{JOBS}/explode", {"ota_job_id": by_nodes},
                  400, 103052)
    await failure(env, acme.admin, "GET", f"{JOBS}/status", None, 400, 105014)
    await failure(env, acme.admin, "GET", f"{JOBS}?ota_job_id=nope", None, 400, 105012)


async def test_cancel_archive_and_retrigger(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    node = acme.devices[0].node_id
    image = (await upload(env, acme))["ota_image_id"]
    job = (await call(env, acme.admin, "POST", JOBS, {
        "ota_job_name": "j", "ota_image_id": image, "nodes": [node]}))["ota_job_id"]
    retriggered = await call(env, acme.admin, "POST", f"{JOBS}/retrigger", {"ota_job_id": job})
    assert retriggered == {"status": "success", "ota_job_id": job}
    await failure(env, acme.admin, "PUT", JOBS, {"ota_job_id": job, "archive": True},
                  404, 105032)
    cancelled = await call(env, acme.admin, "PUT", JOBS, {"ota_job_id": job})
    assert cancelled["status"] == "cancelled" and "cancelled_timestamp" in cancelled
    await failure(env, acme.admin, "PUT", JOBS, {"ota_job_id": job}, 404, 105015)
    archived = await call(env, acme.admin, "PUT", JOBS, {"ota_job_id": job, "archive": "true"})
    assert archived["archived"] is True
    await failure(env, acme.admin, "PUT", JOBS, {"ota_job_id": job, "archive": True},
                  404, 105032)
    assert (await call(env, acme.admin, "GET", JOBS))["ota_jobs"] == []
    assert [j["ota_job_id"] for j in (await call(env, acme.admin, "GET",
                                                 f"{JOBS}?archived=true"))["ota_jobs"]] == [job]
    await failure(env, acme.admin, "PUT", JOBS, {}, 400, 105014)


async def test_user_approved_update(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    node, other = acme.devices[0].node_id, acme.devices[1].node_id
    owner = {"Authorization": await env.provision("pat@acme.io", org="acme")}
    stranger = {"Authorization": await env.provision("sam@acme.io", org="acme")}
    r = await env.client.put(
        f"/v1/admin/users/{await user_id_of(env, owner['Authorization'])}/nodes/{node}/mapping",
        headers=acme.admin, json={"role": "primary"})
    assert r.status_code in (200, 201), r.text
    image = (await upload(env, acme))["ota_image_id"]
    assert (await call(env, owner, "GET", f"/v1/user/nodes/ota_update?node_id={node}")) == {
        "status": "success", "ota_available": False}
    job = (await call(env, acme.admin, "POST", f"{JOBS}?user_approval=true", {
        "ota_job_name": "ask", "ota_image_id": image, "nodes": [node, other],
        "description": "new light"}))["ota_job_id"]
    found = await call(env, owner, "GET", f"/v1/user/nodes/ota_update?node_id={node}")
    assert (found["ota_available"], found["ota_job_id"], found["fw_version"],
            found["description"]) == (True, job, "2.1.0", "new light")
    r = await env.client.get(path_of(found["url"]))
    assert r.status_code == 200 and hashlib.md5(r.content).hexdigest() == found["file_md5"]
    await call(env, owner, "POST", "/v1/user/nodes/ota_update",
               {"ota_job_id": job, "node_id": node})
    status = await call(env, owner, "GET",
                        f"/v1/user/nodes/ota_status?node_id={node}&ota_job_id={job}")
    assert (status["node_id"], status["status"]) == (node, "started")
    # another user's node, or a node the user does not have
    for path in (f"/v1/user/nodes/ota_update?node_id={node}",
                 f"/v1/user/nodes/ota_status?node_id={node}&ota_job_id={job}"):
        r = await env.client.get(path, headers=stranger)
        assert 400 <= r.status_code < 500, r.text
    await failure(env, owner, "POST", "/v1/user/nodes/ota_update",
                  {"ota_job_id": job, "node_id": other}, 400, 103013)
    await failure(env, owner, "POST", "/v1/user/nodes/ota_update", {"node_id": node},
                  400, 105014)
    await failure(env, acme.admin, "POST", f"{JOBS}/retrigger", {"ota_job_id": job},
                  400, 105079)
    # an end user is refused the admin OTA routes
    for method, path in (("GET", IMAGES), ("POST", IMAGES), ("GET", JOBS), ("POST", JOBS),
                         ("PUT", JOBS), ("GET", f"{JOBS}/status?ota_job_id={job}"),
                         ("GET", f"{IMAGES}/upload_request?image_name=x")):
        await failure(env, owner, method, path, {}, 400, 100004)
    # an end user's own image
    mine = await call(env, owner, "POST", "/v1/user/otaimage", {
        "image_name": "mine", "base64_fwimage": base64.b64encode(esp_image()).decode()})
    assert mine["status"] == "success" and "/v1/ota/download/" in mine["image_url"]
    await failure(env, stranger, "POST", "/v1/user/otaimage", {
        "image_name": "mine", "base64_fwimage": base64.b64encode(esp_image()).decode()},
        409, 104903)


async def test_tenant_isolation(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    globex = await org_with_devices(env, "globex", 1)
    image = (await upload(env, acme))["ota_image_id"]
    job = (await call(env, acme.admin, "POST", JOBS, {
        "ota_job_name": "j", "ota_image_id": image,
        "nodes": [acme.devices[0].node_id]}))["ota_job_id"]
    assert (await call(env, globex.admin, "GET", IMAGES))["ota_images"] == []
    assert (await call(env, globex.admin, "GET", JOBS))["ota_jobs"] == []
    for method, path, body, status, code in (
            ("GET", f"{IMAGES}?ota_image_id={image}", None, 400, 104015),
            ("PUT", f"{IMAGES}?ota_image_id={image}&archive=true", None, 400, 104015),
            ("DELETE", f"{IMAGES}?ota_image_id={image}&force_delete=true", None, 400, 104015),
            ("POST", f"{IMAGES}/upload_confirm", {"ota_image_id": image}, 400, 104015),
            ("POST", JOBS, {"ota_job_name": "steal", "ota_image_id": image,
                            "nodes": [globex.devices[0].node_id]}, 400, 104015),
            ("GET", f"{JOBS}?ota_job_id={job}", None, 400, 105012),
            ("PUT", JOBS, {"ota_job_id": job}, 400, 105012),
            ("GET", f"{JOBS}/status?ota_job_id={job}", None, 400, 105012),
            ("GET", f"{JOBS}/status/summary?ota_job_id={job}", None, 400, 105012),
            ("POST", f"{JOBS}/retrigger", {"ota_job_id": job}, 400, 105012)):
        await failure(env, globex.admin, method, path, body, status, code)
    # and acme's job cannot target globex's node
    await failure(env, acme.admin, "POST", JOBS, {
        "ota_job_name": "x", "ota_image_id": image, "nodes": [globex.devices[0].node_id]},
        400, 100015)
    assert (await call(env, acme.admin, "GET", f"{JOBS}?ota_job_id={job}"))["status"] == "active"
