"""BlobStore in a local directory (BLOB_DIR): one file per key, written to a temporary file
in the target directory and moved into place with os.replace, so readers only ever see
complete blobs and a failed or oversize upload leaves nothing behind. File I/O runs in worker
threads (asyncio.to_thread), never on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from domain.blobs.model import StoredBlob
from domain.errors import NotFound, ValidationFailed

CHUNK_SIZE = 64 * 1024
MAX_KEY_LENGTH = 512
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}")
_TEMP_PREFIX = ".tmp-"
_MD5_CACHE_SIZE = 1024


def _md5() -> hashlib._Hash:
    return hashlib.md5(usedforsecurity=False)


def _invalid_key(message: str = "The blob key is not valid.") -> ValidationFailed:
    return ValidationFailed(message, reason="invalid_blob_key")


def _not_found() -> NotFound:
    return NotFound("No such blob.", reason="blob_not_found")


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class LocalBlobStore:
    """Keys are "/"-separated segments of [A-Za-z0-9._-] that do not start with "." (so no
    "." or ".." segments, and no clash with the store's own temporary files); no leading,
    trailing or double slashes."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)
        self._md5s: OrderedDict[str, tuple[tuple[int, int, int, int], str]] = OrderedDict()

    def _path(self, key: str) -> Path:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise _invalid_key()
        segments = key.split("/")
        if not all(_SEGMENT.fullmatch(segment) for segment in segments):
            raise _invalid_key()
        return self._root.joinpath(*segments)

    def _remember(self, key: str, sig: tuple[int, int, int, int], md5: str) -> None:
        self._md5s[key] = (sig, md5)
        self._md5s.move_to_end(key)
        while len(self._md5s) > _MD5_CACHE_SIZE:
            self._md5s.popitem(last=False)

    # -- put ----------------------------------------------------------------------------

    def _create_temp(self, path: Path) -> tuple[BinaryIO, Path]:
        if path.is_dir():
            raise _invalid_key("The blob key names a folder of other blobs.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise _invalid_key("The blob key runs through another blob.") from None
        fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        return os.fdopen(fd, "wb"), Path(name)

    @staticmethod
    def _commit(handle: BinaryIO, temp: Path, path: Path) -> tuple[int, int, int, int]:
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        try:
            os.replace(temp, path)
        except IsADirectoryError:
            raise _invalid_key("The blob key names a folder of other blobs.") from None
        return _signature(path.stat())

    @staticmethod
    def _discard(handle: BinaryIO, temp: Path) -> None:
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)

    async def put(self, key: str, chunks: AsyncIterator[bytes], *, max_bytes: int
                  ) -> StoredBlob:
        path = self._path(key)
        handle, temp = await asyncio.to_thread(self._create_temp, path)
        size, digest, pending = 0, _md5(), bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise ValidationFailed(
                        f"The blob is larger than {max_bytes} bytes.", reason="blob_too_large")
                digest.update(chunk)
                pending += chunk
                if len(pending) >= CHUNK_SIZE:
                    data, pending = bytes(pending), bytearray()
                    await asyncio.to_thread(handle.write, data)
            if pending:
                await asyncio.to_thread(handle.write, bytes(pending))
            sig = await asyncio.to_thread(self._commit, handle, temp, path)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self._discard, handle, temp))
            raise
        md5 = digest.hexdigest()
        self._remember(key, sig, md5)
        return StoredBlob(key=key, size=size, md5=md5)

    # -- open ---------------------------------------------------------------------------

    async def open(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        handle = await asyncio.to_thread(self._open_file, path)
        return self._stream(handle)

    @staticmethod
    def _open_file(path: Path) -> BinaryIO:
        try:
            handle = path.open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise _not_found() from None
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            handle.close()
            raise _not_found()
        return handle

    @staticmethod
    async def _stream(handle: BinaryIO) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                yield chunk
        finally:
            # closing a file opened for reading does not block; closing it here (not in a
            # thread) also works when a consumer that stopped early is finalized without a loop
            handle.close()

    # -- head / delete ------------------------------------------------------------------

    @staticmethod
    def _stat(path: Path) -> os.stat_result | None:
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    @staticmethod
    def _hash_file(path: Path) -> tuple[tuple[int, int, int, int], str] | None:
        digest = _md5()
        try:
            with path.open("rb") as handle:
                sig = _signature(os.fstat(handle.fileno()))
                while chunk := handle.read(1024 * 1024):
                    digest.update(chunk)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return sig, digest.hexdigest()

    async def head(self, key: str) -> StoredBlob | None:
        """Size from the file system; the MD5 is remembered from put, or computed (once per
        file version) by reading the file."""
        path = self._path(key)
        st = await asyncio.to_thread(self._stat, path)
        if st is None:
            return None
        known = self._md5s.get(key)
        if known is not None and known[0] == _signature(st):
            return StoredBlob(key=key, size=st.st_size, md5=known[1])
        hashed = await asyncio.to_thread(self._hash_file, path)
        if hashed is None:
            return None
        sig, md5 = hashed
        self._remember(key, sig, md5)
        return StoredBlob(key=key, size=sig[2], md5=md5)

    @staticmethod
    def _unlink(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            if not path.is_dir():
                path.unlink()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        self._md5s.pop(key, None)
        await asyncio.to_thread(self._unlink, path)
