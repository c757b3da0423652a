"""uploadOtaImage as a GraphQL multipart request (the graphql-multipart-request-spec):
streamed to the blob store, described from the ESP header, md5 checked; only with a valid
Authorization header; malformed operations/map answers 400, never 500; a refused
replacement leaves the image in use untouched."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from domain.access.model import Caller
from domain.ota.images import OtaImages
from tests.api.test_admin_nodes_api import org_with_devices
from tests.api.test_graphql_ota import UPLOAD, data, esp_image
from tests.conftest import Env

IMAGE_QUERY = """query($id: ID!) { otaImage(id: $id) { id name fwVersion model size md5
  uploaded } }"""


async def multipart(env: Env, variables: dict[str, Any], files: dict[str, bytes], *,
                    token: str | None, file_map: object = None,
                    operations: object = None) -> httpx.Response:
    ops = operations if operations is not None else {"query": UPLOAD,
                                                     "variables": variables}
    mapping = file_map if file_map is not None else {
        name: ["variables.i.file"] for name in files}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await env.client.post(
        "/graphql", headers=headers,
        data={"operations": ops if isinstance(ops, str) else json.dumps(ops),
              "map": mapping if isinstance(mapping, str) else json.dumps(mapping)},
        files={name: (f"{name}.bin", content, "application/octet-stream")
               for name, content in files.items()})


async def image_bytes(env: Env, image_id: str, org_token: str) -> bytes:
    images = env.container.ota_images()
    assert isinstance(images, OtaImages)
    body = await env.gql(IMAGE_QUERY, {"id": image_id}, token=org_token)
    assert body["data"]["otaImage"]["uploaded"]
    async with env.container.uow()(_org(org_token)) as uow:
        image = await uow.ota.get_image(image_id)
    assert image is not None
    token = images.download_token(image, images.clock.now())
    _, chunks = await images.download(Caller(), token=token)
    return b"".join([chunk async for chunk in chunks])


def files_under(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def _org(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["org"])


async def test_a_multipart_upload_streams_a_large_image(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    token = acme.admin["Authorization"]
    content = esp_image("3.0.1", "lamp-pro", size=3 * 1024 * 1024 + 17)  # spooled to disk
    r = await multipart(env, {"i": {"name": "lamp-3", "file": None}}, {"0": content},
                        token=token)
    assert r.status_code == 200, r.text
    image = data(r.json(), "uploadOtaImage")["image"]
    assert (image["fwVersion"], image["model"], image["size"], image["md5"],
            image["uploaded"]) == ("3.0.1", "lamp-pro", len(content),
                                   hashlib.md5(content).hexdigest(), True)
    assert await image_bytes(env, image["id"], token) == content
    # the same file with explicit metadata and the right md5 replaces it (no job uses it)
    again = await multipart(env, {"i": {"name": "lamp-3", "file": None, "fwVersion": "3.0.2",
                                        "md5": hashlib.md5(content).hexdigest()}},
                            {"0": content}, token=token)
    replaced = data(again.json(), "uploadOtaImage")["image"]
    assert replaced["id"] == image["id"] and replaced["fwVersion"] == "3.0.2"
    listed = await env.client.get("/v1/admin/otaimage", headers=acme.admin)
    assert [i["image_name"] for i in listed.json()["ota_images"]] == ["lamp-3"]


async def test_a_refused_upload_leaves_the_image_in_use_untouched(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    token = acme.admin["Authorization"]
    first = esp_image("1.0.0")
    made = data((await multipart(env, {"i": {"name": "fw", "file": None}}, {"0": first},
                                 token=token)).json(), "uploadOtaImage")["image"]
    wrong_md5 = await multipart(env, {"i": {"name": "fw", "file": None,
                                            "md5": "0" * 32}}, {"0": esp_image("9.9.9")},
                                token=token)
    assert wrong_md5.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    no_version = await multipart(env, {"i": {"name": "fw", "file": None}},
                                 {"0": b"not an esp image" * 100}, token=token)
    assert no_version.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    empty = await multipart(env, {"i": {"name": "fw", "file": None, "fwVersion": "1",
                                        "model": "m"}}, {"0": b""}, token=token)
    assert empty.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    both = await multipart(env, {"i": {"name": "fw", "file": None, "contentBase64": "AA=="}},
                           {"0": first}, token=token)
    assert both.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    seen = data(await env.gql(IMAGE_QUERY, {"id": made["id"]}, token=token), "otaImage")
    assert (seen["fwVersion"], seen["md5"]) == ("1.0.0", hashlib.md5(first).hexdigest())
    assert await image_bytes(env, made["id"], token) == first
    # no blob is left behind by the refused uploads: only the one the image names
    images = env.container.ota_images()
    assert isinstance(images, OtaImages)
    stored = await asyncio.to_thread(files_under, Path(env.settings.blob_dir))
    assert len(stored) == 1, stored


async def test_multipart_needs_a_valid_token_and_a_well_formed_map(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    token = acme.admin["Authorization"]
    variables = {"i": {"name": "fw", "file": None}}
    content = {"0": esp_image()}
    for bad_token in (None, "not-a-token"):
        r = await multipart(env, variables, content, token=bad_token)
        assert r.status_code == 401, r.text
    malformed: list[dict[str, Any]] = [
        {"file_map": {"0": ["i.file"]}},  # not under variables
        {"file_map": {"0": ["variables.i.nothing"]}},  # no such variable
        {"file_map": {"0": ["variables.i.name"]}},  # not a null placeholder
        {"file_map": {"0": ["variables.i.file.x"]}},
        {"file_map": {"1": ["variables.i.file"]}},  # no such file
        {"file_map": {"0": "variables.i.file"}},
        {"file_map": {"0": []}},
        {"file_map": [["0"]]},
        {"file_map": "{not json"},
        {"operations": "[1, 2]"},
        {"operations": '"text"'},
        {"operations": "{"},
    ]
    for case in malformed:
        r = await multipart(env, variables, content, token=token, **case)
        assert r.status_code == 400, (case, r.status_code, r.text)
    nothing = await env.client.post("/graphql", headers={"Authorization": f"Bearer {token}"},
                                    files={"0": ("a", b"x")})
    assert nothing.status_code == 400
    listed = await env.client.get("/v1/admin/otaimage", headers=acme.admin)
    assert listed.json()["ota_images"] == []


async def test_an_end_user_cannot_upload_and_tenants_stay_apart(env: Env) -> None:
    acme = await org_with_devices(env, "acme", 0)
    user = await env.provision("pat@acme.io", org="acme")
    denied = await multipart(env, {"i": {"name": "fw", "file": None}}, {"0": esp_image()},
                             token=user)
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    globex = await org_with_devices(env, "globex", 0)
    made = data((await multipart(env, {"i": {"name": "fw", "file": None}},
                                 {"0": esp_image()}, token=globex.admin["Authorization"]
                                 )).json(), "uploadOtaImage")["image"]
    foreign = await env.gql(IMAGE_QUERY, {"id": made["id"]},
                            token=acme.admin["Authorization"])
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
