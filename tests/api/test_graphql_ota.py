"""OTA in GraphQL with real documents: upload (base64, and the upload-URL flow), images and
jobs with per-node statuses and summary, cancel/archive, user-approved updates, and the
otaJobProgress subscription as a node reports."""

from __future__ import annotations

import base64
import struct
from typing import Any

from tests.api.test_admin_nodes_api import org_with_devices
from tests.api.test_graphql_subscriptions import next_message, socket
from tests.conftest import Env

UPLOAD = """mutation($i: UploadOtaImageInput!) { uploadOtaImage(input: $i) {
  image { id name fwVersion model size md5 uploaded } uploadPath } }"""
CREATE_JOB = """mutation($i: CreateOtaJobInput!) { createOtaJob(input: $i) {
  job { id name status priority nodeIds summary { total triggered started } } } }"""
JOB = """query($id: ID!) { otaJob(id: $id) { id status statusReason archived
  summary { total triggered started inProgress success failed rejected other }
  nodeStatuses(first: 10) { edges { node { nodeId status additionalInfo } } } } }"""
PROGRESS = """subscription($id: ID!) { otaJobProgress(jobId: $id) {
  status summary { total success } changed { nodeId status } } }"""


def esp_image(version: str = "2.1.0", project: str = "lamp", size: int = 512) -> bytes:
    """An ESP-IDF app image: image header, first segment header, app description."""
    header = struct.pack("<BBBBI", 0xE9, 1, 0, 0, 0x40080000) + bytes(16)
    segment = struct.pack("<II", 0x3F400020, 256)
    desc = struct.pack("<IIII", 0xABCD5432, 0, 0, 0) + version.encode().ljust(32, b"\0") \
        + project.encode().ljust(32, b"\0") + b"00:00:00".ljust(16, b"\0") \
        + b"Nov 23 2026".ljust(16, b"\0") + b"v5.3".ljust(32, b"\0") + bytes(32)
    body = header + segment + desc
    return body + bytes(size - len(body))


def data(body: dict[str, Any], name: str) -> Any:
    assert not body.get("errors"), body
    return body["data"][name]


async def test_images_and_jobs_through_graphql(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 2)
    token = acme.admin["Authorization"]
    a, b = sorted(d.node_id for d in acme.devices)
    image = data(await env.gql(UPLOAD, {"i": {"name": "lamp-2.1", "contentBase64":
                                              base64.b64encode(esp_image()).decode()}},
                               token=token), "uploadOtaImage")
    assert image["image"]["fwVersion"] == "2.1.0" and image["image"]["model"] == "lamp"
    assert image["image"]["uploaded"] and image["uploadPath"] is None
    image_id = image["image"]["id"]

    # the upload-URL flow: request, PUT the bytes, confirm
    pending = data(await env.gql(UPLOAD, {"i": {"name": "lamp-2.2"}}, token=token),
                   "uploadOtaImage")
    assert not pending["image"]["uploaded"] and pending["uploadPath"].startswith(
        "/v1/ota/upload/")
    r = await env.client.put(pending["uploadPath"], content=esp_image("2.2.0"))
    assert r.status_code in (200, 201, 204), r.text
    confirmed = data(await env.gql(
        'mutation($id: ID!) { confirmOtaImageUpload(input: {imageId: $id}) { image { '
        "fwVersion uploaded } } }", {"id": pending["image"]["id"]}, token=token),
        "confirmOtaImageUpload")
    assert confirmed["image"] == {"fwVersion": "2.2.0", "uploaded": True}
    listed = data(await env.gql("{ otaImages(first: 1) { totalCount edges { node { id } } "
                                "pageInfo { hasNextPage } } }", token=token), "otaImages")
    assert listed["totalCount"] == 2 and listed["pageInfo"]["hasNextPage"]

    job = data(await env.gql(CREATE_JOB, {"i": {"name": "spring", "imageId": image_id,
                                                "nodeIds": [a, b], "priority": 2}},
                             token=token), "createOtaJob")["job"]
    assert job["summary"] == {"total": 2, "triggered": 2, "started": 0}
    delivery = env.container.ota_delivery()
    await delivery.offer_next(job_org(env, token), a)
    await delivery.report(job_org(env, token), a, {"ota_job_id": job["id"],
                                                   "status": "failed",
                                                   "additional_info": "flash error"})
    seen = data(await env.gql(JOB, {"id": job["id"]}, token=token), "otaJob")
    assert seen["summary"]["failed"] == 1 and seen["summary"]["triggered"] == 1
    assert seen["nodeStatuses"]["edges"][0]["node"] == {
        "nodeId": a, "status": "failed", "additionalInfo": "flash error"}
    refused = await env.gql('mutation($id: ID!) { archiveOtaJob(input: {id: $id}) { job { id '
                            "} } }", {"id": job["id"]}, token=token)
    assert refused["errors"][0]["extensions"]["code"] == "CONFLICT"
    cancelled = data(await env.gql('mutation($id: ID!) { cancelOtaJob(input: {id: $id}) { '
                                   "job { status summary { other } } } }", {"id": job["id"]},
                                   token=token), "cancelOtaJob")
    assert cancelled["job"]["status"] == "cancelled" and cancelled["job"]["summary"][
        "other"] == 1
    deleted = data(await env.gql('mutation($id: ID!) { deleteOtaImage(input: {id: $id, '
                                 "force: true}) { cancelledJobIds } }", {"id": image_id},
                                 token=token), "deleteOtaImage")
    assert deleted["cancelledJobIds"] == []
    # an end user reaches none of it; another organization sees nothing
    user = await env.provision("pat@acme.io", org="acme")
    denied = await env.gql("{ otaJobs { totalCount } }", token=user)
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = await org_with_devices(env, "globex", 0)
    foreign = await env.gql(JOB, {"id": job["id"]}, token=other.admin["Authorization"])
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def job_org(env: Env, token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["org"])


async def test_job_progress_streams_as_nodes_report(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    token = acme.admin["Authorization"]
    node = acme.devices[0].node_id
    image = data(await env.gql(UPLOAD, {"i": {"name": "fw", "contentBase64": base64.b64encode(
        esp_image()).decode()}}, token=token), "uploadOtaImage")["image"]["id"]
    job = data(await env.gql(CREATE_JOB, {"i": {"name": "one", "imageId": image,
                                                "nodeIds": [node]}}, token=token),
               "createOtaJob")["job"]["id"]
    org = job_org(env, token)
    async with socket(env, token) as ws:
        assert (await next_message(ws))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe",
                            "payload": {"query": PROGRESS, "variables": {"id": job}}})
        first = await next_message(ws)
        assert first["payload"]["data"]["otaJobProgress"]["changed"] == [
            {"nodeId": node, "status": "triggered"}]
        await env.container.ota_delivery().offer_next(org, node)
        await env.container.ota_delivery().report(org, node, {"ota_job_id": job,
                                                              "status": "success"})
        statuses = []
        while True:
            event = (await next_message(ws))
            if event["type"] == "complete":
                break
            progress = event["payload"]["data"]["otaJobProgress"]
            statuses += [c["status"] for c in progress["changed"]]
            if progress["status"] == "finished":
                assert progress["summary"] == {"total": 1, "success": 1}
        assert statuses[-1] == "success"


async def test_user_approved_update_through_graphql(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 1)
    token = acme.admin["Authorization"]
    node = acme.devices[0].node_id
    owner = await env.provision("pat@acme.io", org="acme")
    r = await env.client.put(f"/v1/admin/users/{await user_id(env, owner)}/nodes/{node}/mapping",
                             headers=acme.admin, json={"role": "primary"})
    assert r.status_code in (200, 201), r.text
    image = data(await env.gql(UPLOAD, {"i": {"name": "fw", "contentBase64": base64.b64encode(
        esp_image()).decode()}}, token=token), "uploadOtaImage")["image"]["id"]
    job = data(await env.gql(CREATE_JOB, {"i": {"name": "ask", "imageId": image,
                                                "nodeIds": [node], "userApproval": True}},
                             token=token), "createOtaJob")["job"]["id"]
    found = data(await env.gql('query($n: ID!) { availableUpdate(nodeId: $n) { jobId '
                               "fwVersion fileSize } }", {"n": node}, token=owner),
                 "availableUpdate")
    assert found == {"jobId": job, "fwVersion": "2.1.0", "fileSize": 512}
    pushed = data(await env.gql('mutation($n: ID!, $j: ID!) { pushUpdate(input: {nodeId: $n, '
                                "jobId: $j}) { jobId nodeId } }", {"n": node, "j": job},
                                token=owner), "pushUpdate")
    assert pushed == {"jobId": job, "nodeId": node}


async def user_id(env: Env, token: str) -> str:
    r = await env.client.get("/v1/user2", headers={"Authorization": token})
    return str(r.json()["user_id"])


async def test_job_progress_pages_through_every_change(env: Env, monkeypatch: Any) -> None:
    """More changes than a page between two polls: every one of them is streamed."""
    import graphql_api.ota_jobs

    monkeypatch.setattr(graphql_api.ota_jobs, "PROGRESS_PAGE", 2)
    acme = await org_with_devices(env, "acme", 5)
    token = acme.admin["Authorization"]
    nodes = sorted(d.node_id for d in acme.devices)
    image = data(await env.gql(UPLOAD, {"i": {"name": "fw", "contentBase64": base64.b64encode(
        esp_image()).decode()}}, token=token), "uploadOtaImage")["image"]["id"]
    job = data(await env.gql(CREATE_JOB, {"i": {"name": "five", "imageId": image,
                                                "nodeIds": nodes}}, token=token),
               "createOtaJob")["job"]["id"]
    org = job_org(env, token)
    jobs = env.container.ota_delivery()
    async with socket(env, token) as ws:
        assert (await next_message(ws))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe",
                            "payload": {"query": PROGRESS, "variables": {"id": job}}})
        initial: list[dict[str, str]] = []
        while len(initial) < 5:  # 5 statuses in pages of 2
            event = await next_message(ws)
            changed = event["payload"]["data"]["otaJobProgress"]["changed"]
            assert 0 < len(changed) <= 2
            initial += changed
        assert sorted(c["nodeId"] for c in initial) == nodes
        for node in nodes:
            await jobs.offer_next(org, node)
            await jobs.report(org, node, {"ota_job_id": job, "status": "success"})
        final: dict[str, str] = {}
        while True:
            event = await next_message(ws)
            if event["type"] == "complete":
                break
            for change in event["payload"]["data"]["otaJobProgress"]["changed"]:
                final[change["nodeId"]] = change["status"]
        assert final == dict.fromkeys(nodes, "success")


async def test_an_empty_or_unknown_id_is_not_found_never_another_item(env: Env) -> None:
    """Found by the GraphQL fuzz test: an empty id was no filter, so otaImage(id: "")
    answered the organization's first image and otaJob(id: "") failed internally."""
    acme = await org_with_devices(env, "acme", 1)
    token = acme.admin["Authorization"]
    image = data(await env.gql(UPLOAD, {"i": {"name": "fw", "contentBase64": base64.b64encode(
        esp_image()).decode()}}, token=token), "uploadOtaImage")["image"]["id"]
    data(await env.gql(CREATE_JOB, {"i": {"name": "j", "imageId": image, "nodeIds": [
        acme.devices[0].node_id]}}, token=token), "createOtaJob")
    for query in ('{ otaImage(id: "") { id } }', '{ otaJob(id: "") { id } }',
                  '{ otaImage(id: "nope") { id } }', '{ otaJob(id: "nope") { id } }'):
        answer = await env.gql(query, token=token)
        assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", (query, answer)
