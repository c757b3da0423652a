"""Stored binary objects (firmware images...): what a BlobStore reports about one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredBlob:
    key: str
    size: int
    md5: str
    """Lower-case hex MD5 of the content."""
