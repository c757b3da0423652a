"""LocalBlobStore: streaming puts with size and MD5, atomic replacement, key validation."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from adapters.blobs.local import CHUNK_SIZE, LocalBlobStore
from domain.blobs.model import StoredBlob
from domain.errors import NotFound, ValidationFailed
from ports.services import BlobStore


async def stream(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        await asyncio.sleep(0)
        yield part


async def read_all(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.open(key)])


def files_under(root: Path) -> list[str]:
    """Every file under root, temporary ones included ([] while root does not exist)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def exists(path: Path) -> bool:
    return path.exists()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root)


def test_satisfies_the_port(store: LocalBlobStore) -> None:
    port: BlobStore = store
    assert port is store


async def test_round_trip_with_size_and_md5(store: LocalBlobStore, root: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE + 123)
    parts = [data[i:i + 1000] for i in range(0, len(data), 1000)]
    assert not exists(root)  # created on first use
    blob = await store.put("ota/org1/image.bin", stream(parts), max_bytes=len(data))
    assert blob == StoredBlob(key="ota/org1/image.bin", size=len(data),
                              md5=hashlib.md5(data).hexdigest())
    assert await read_all(store, "ota/org1/image.bin") == data
    assert await store.head("ota/org1/image.bin") == blob
    assert files_under(root) == ["ota/org1/image.bin"]


async def test_open_yields_64_kib_chunks(store: LocalBlobStore) -> None:
    data = b"x" * (2 * CHUNK_SIZE + 5)
    await store.put("a", stream([data]), max_bytes=len(data))
    sizes = [len(chunk) async for chunk in await store.open("a")]
    assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 5]


async def test_empty_blob(store: LocalBlobStore) -> None:
    blob = await store.put("empty", stream([]), max_bytes=10)
    assert blob == StoredBlob(key="empty", size=0, md5=hashlib.md5(b"").hexdigest())
    assert await read_all(store, "empty") == b""


async def test_head_computes_md5_for_files_it_did_not_write(root: Path) -> None:
    await LocalBlobStore(root).put("k", stream([b"hello"]), max_bytes=5)
    fresh = LocalBlobStore(root)  # e.g. after a restart
    assert await fresh.head("k") == StoredBlob(key="k", size=5,
                                               md5=hashlib.md5(b"hello").hexdigest())


async def test_replacing_a_blob(store: LocalBlobStore, root: Path) -> None:
    await store.put("k", stream([b"old content"]), max_bytes=100)
    blob = await store.put("k", stream([b"new"]), max_bytes=100)
    assert blob.size == 3
    assert await read_all(store, "k") == b"new"
    assert (await store.head("k")) == blob
    assert files_under(root) == ["k"]


async def test_oversize_is_refused_as_soon_as_it_crosses_and_leaves_nothing(
        store: LocalBlobStore, root: Path) -> None:
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for i in range(1000):
            pulled.append(i)
            yield b"y" * 1000

    with pytest.raises(ValidationFailed) as caught:
        await store.put("big/one.bin", endless(), max_bytes=10_500)
    assert caught.value.reason == "blob_too_large"
    assert len(pulled) == 11  # stopped at the chunk that crossed the limit
    assert files_under(root) == []
    assert await store.head("big/one.bin") is None


async def test_exactly_max_bytes_is_accepted(store: LocalBlobStore) -> None:
    blob = await store.put("k", stream([b"ab", b"cd"]), max_bytes=4)
    assert blob.size == 4


async def test_oversize_replacement_keeps_the_previous_content(
        store: LocalBlobStore, root: Path) -> None:
    await store.put("k", stream([b"keep me"]), max_bytes=100)
    with pytest.raises(ValidationFailed):
        await store.put("k", stream([b"z" * 60, b"z" * 60]), max_bytes=100)
    assert await read_all(store, "k") == b"keep me"
    assert files_under(root) == ["k"]


async def test_a_failing_stream_leaves_nothing(store: LocalBlobStore, root: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (CHUNK_SIZE + 1)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("k", broken(), max_bytes=10**9)
    assert files_under(root) == []


async def test_a_cancelled_put_leaves_nothing(store: LocalBlobStore, root: Path) -> None:
    started = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * (CHUNK_SIZE * 2)
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    task = asyncio.create_task(store.put("k", slow(), max_bytes=10**9))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert files_under(root) == []


async def test_concurrent_puts_of_different_keys(store: LocalBlobStore, root: Path) -> None:
    payloads = {f"ota/img-{i}.bin": os.urandom(CHUNK_SIZE + i * 997) for i in range(12)}

    async def put(key: str, data: bytes) -> StoredBlob:
        parts = [data[j:j + 4096] for j in range(0, len(data), 4096)]
        return await store.put(key, stream(parts), max_bytes=len(data))

    blobs = await asyncio.gather(*(put(k, v) for k, v in payloads.items()))
    for blob in blobs:
        data = payloads[blob.key]
        assert (blob.size, blob.md5) == (len(data), hashlib.md5(data).hexdigest())
        assert await read_all(store, blob.key) == data
    assert files_under(root) == sorted(payloads)


async def test_concurrent_puts_of_one_key_leave_one_whole_version(
        store: LocalBlobStore, root: Path) -> None:
    versions = [bytes([i]) * (CHUNK_SIZE + 100) for i in range(5)]
    await asyncio.gather(*(store.put("same", stream([v[:CHUNK_SIZE], v[CHUNK_SIZE:]]),
                                     max_bytes=10**6) for v in versions))
    assert await read_all(store, "same") in versions
    assert files_under(root) == ["same"]


@pytest.mark.parametrize("key", [
    "", "/abs/path", "a//b", "a/", "../x", "a/../b", "..", ".", "a/./b", ".hidden",
    "a/.tmp-123", "sp ace", "back\\slash", "nul\0", "é", "a:b", "a" * 513, "a/" + "b" * 256,
    "ok/..",
])
async def test_bad_keys(store: LocalBlobStore, root: Path, key: str) -> None:
    for call in (lambda: store.put(key, stream([b"x"]), max_bytes=10),
                 lambda: store.open(key), lambda: store.head(key), lambda: store.delete(key)):
        with pytest.raises(ValidationFailed) as caught:
            await call()
        assert caught.value.reason == "invalid_blob_key"
    assert files_under(root) == []


async def test_good_keys(store: LocalBlobStore) -> None:
    for key in ("a", "A-b_c.d", "ota/org_1/v1.2.3/fw.bin", "x" * 255, "0/1/2/3"):
        await store.put(key, stream([b"1"]), max_bytes=1)
        assert await read_all(store, key) == b"1"


async def test_a_key_cannot_be_both_a_blob_and_a_folder(store: LocalBlobStore) -> None:
    await store.put("a/b", stream([b"1"]), max_bytes=1)
    await store.put("c", stream([b"1"]), max_bytes=1)
    for key in ("a", "c/d"):
        with pytest.raises(ValidationFailed) as caught:
            await store.put(key, stream([b"2"]), max_bytes=1)
        assert caught.value.reason == "invalid_blob_key"
    assert await store.head("a") is None
    with pytest.raises(NotFound):
        await store.open("a")
    await store.delete("a")  # a folder: nothing to delete, not an error
    assert await read_all(store, "a/b") == b"1"


async def test_delete_is_idempotent(store: LocalBlobStore, root: Path) -> None:
    await store.put("k/v", stream([b"data"]), max_bytes=10)
    await store.delete("k/v")
    await store.delete("k/v")
    await store.delete("never/there")
    assert await store.head("k/v") is None
    assert files_under(root) == []


async def test_open_of_a_missing_key(store: LocalBlobStore) -> None:
    for key in ("missing", "no/such/folder/key"):
        with pytest.raises(NotFound) as caught:
            await store.open(key)
        assert caught.value.reason == "blob_not_found"
        assert await store.head(key) is None
    await store.put("file", stream([b"1"]), max_bytes=1)
    with pytest.raises(NotFound):
        await store.open("file/below")


async def test_a_consumer_may_stop_early(store: LocalBlobStore) -> None:
    data = b"r" * (3 * CHUNK_SIZE)
    await store.put("k", stream([data]), max_bytes=len(data))
    chunks = await store.open("k")
    async for chunk in chunks:
        assert chunk == data[:CHUNK_SIZE]
        break
    await chunks.aclose()  # type: ignore[attr-defined]


async def test_an_open_stream_survives_delete_and_replace(store: LocalBlobStore) -> None:
    data = b"q" * (3 * CHUNK_SIZE)
    await store.put("k", stream([data]), max_bytes=len(data))
    chunks = await store.open("k")
    await store.delete("k")
    await store.put("k", stream([b"new"]), max_bytes=10)
    assert b"".join([c async for c in chunks]) == data
