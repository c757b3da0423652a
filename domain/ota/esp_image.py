"""Reads the application description (esp_app_desc_t) from the head of an ESP-IDF app image.

Layout (ESP-IDF "App Image Format"): the 24-byte esp_image_header_t (magic 0xE9 at offset 0,
segment count at offset 1), then the first segment's 8-byte header (load address, data
length), then that segment's data, which starts with the 256-byte esp_app_desc_t:

    offset  field
    0       magic_word      uint32 LE, 0xABCD5432
    4       secure_version  uint32 LE
    8       reserv1[2]      uint32
    16      version         char[32]
    48      project_name    char[32]
    80      time            char[16]
    96      date            char[16]
    112     idf_ver         char[32]
    144     app_elf_sha256  uint8[32]
    176     reserved ...    (up to 256)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMAGE_MAGIC = 0xE9
APP_DESC_MAGIC = 0xABCD5432
IMAGE_HEADER_SIZE = 24
SEGMENT_HEADER_SIZE = 8
APP_DESC_OFFSET = IMAGE_HEADER_SIZE + SEGMENT_HEADER_SIZE
APP_DESC_SIZE = 256
HEADER_BYTES = APP_DESC_OFFSET + APP_DESC_SIZE
"""How many leading bytes of an image read_app_description needs."""

# magic, secure_version, reserv1 (skipped), version, project_name, time, date, idf_ver
_APP_DESC = struct.Struct("<II8x32s32s16s16s32s")


@dataclass(frozen=True, slots=True)
class AppDescription:
    version: str
    project_name: str
    idf_version: str
    secure_version: int


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace").strip()


def read_app_description(head: bytes) -> AppDescription | None:
    """The description in an image's first HEADER_BYTES bytes; None when ``head`` is not
    (the start of) an ESP-IDF application image or is too short to hold the description."""
    if len(head) < APP_DESC_OFFSET + _APP_DESC.size:
        return None
    if head[0] != IMAGE_MAGIC or head[1] == 0:
        return None
    magic, secure_version, version, project, _time, _date, idf_ver = _APP_DESC.unpack_from(
        head, APP_DESC_OFFSET)
    if magic != APP_DESC_MAGIC:
        return None
    return AppDescription(
        version=_c_string(version),
        project_name=_c_string(project),
        idf_version=_c_string(idf_ver),
        secure_version=secure_version,
    )
