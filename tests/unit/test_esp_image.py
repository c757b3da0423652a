"""Reading the firmware version and project name from an ESP-IDF application image."""

from __future__ import annotations

import struct

import pytest

from domain.ota.esp_image import (
    APP_DESC_MAGIC,
    HEADER_BYTES,
    AppDescription,
    read_app_description,
)


def image(*, image_magic: int = 0xE9, segments: int = 4, desc_magic: int = APP_DESC_MAGIC,
          version: bytes = b"1.2.3", project: bytes = b"led_light", idf: bytes = b"v5.1.2",
          secure_version: int = 7, body: bytes = b"\xff" * 1024) -> bytes:
    # esp_image_header_t: magic, segment_count, spi_mode, spi_speed_size, entry_addr,
    # wp_pin, spi_pin_drv[3], chip_id, min_chip_rev, min/max_chip_rev_full, reserved[4],
    # hash_appended -- 24 bytes
    header = struct.pack("<BBBBIB3sHBHH4sB", image_magic, segments, 2, 0x20, 0x40081234,
                         0xEE, b"\0\0\0", 0, 0, 0, 0xFFFF, b"\0" * 4, 1)
    assert len(header) == 24
    segment = struct.pack("<II", 0x3F400020, 0x1000)
    desc = struct.pack("<II8s32s32s16s16s32s32s80s", desc_magic, secure_version, b"\0" * 8,
                       version, project, b"12:34:56", b"Jan  1 2026", idf, b"\xaa" * 32,
                       b"\0" * 80)
    assert len(desc) == 256
    return header + segment + desc + body


def test_reads_version_project_idf_and_secure_version() -> None:
    assert read_app_description(image()) == AppDescription(
        version="1.2.3", project_name="led_light", idf_version="v5.1.2", secure_version=7)


def test_header_bytes_is_enough() -> None:
    data = image()
    assert HEADER_BYTES >= 32 + 176
    assert read_app_description(data[:HEADER_BYTES]) == read_app_description(data)


def test_full_width_fields_without_nul_and_garbage_after_nul() -> None:
    desc = read_app_description(image(version=b"v" * 32, project=b"p\0junk\xff",
                                      idf=b"  v5.3 \0zz"))
    assert desc is not None
    assert desc.version == "v" * 32
    assert desc.project_name == "p"
    assert desc.idf_version == "v5.3"


def test_non_utf8_bytes_are_replaced_not_fatal() -> None:
    desc = read_app_description(image(version=b"1.0\xff\xfe", project=b"\xc3(name"))
    assert desc is not None
    assert desc.version == "1.0\ufffd\ufffd"
    assert desc.project_name == "\ufffd(name"


def test_empty_strings() -> None:
    desc = read_app_description(image(version=b"", project=b"", idf=b""))
    assert desc == AppDescription(version="", project_name="", idf_version="",
                                  secure_version=7)


@pytest.mark.parametrize("magic", [0x00, 0xE8, 0xFF])
def test_wrong_image_magic(magic: int) -> None:
    assert read_app_description(image(image_magic=magic)) is None


def test_no_segments() -> None:
    assert read_app_description(image(segments=0)) is None


@pytest.mark.parametrize("magic", [0, 0x3254CDAB, APP_DESC_MAGIC ^ 1])
def test_wrong_app_desc_magic(magic: int) -> None:
    assert read_app_description(image(desc_magic=magic)) is None


def test_big_endian_app_desc_magic_is_not_accepted() -> None:
    data = bytearray(image())
    data[32:36] = struct.pack(">I", APP_DESC_MAGIC)
    assert read_app_description(bytes(data)) is None


@pytest.mark.parametrize("length", [0, 1, 24, 32, 36, 32 + 143])
def test_truncated(length: int) -> None:
    assert read_app_description(image()[:length]) is None


def test_shortest_readable_head() -> None:
    data = image()
    assert read_app_description(data[:32 + 144]) is not None


def test_random_bytes_are_not_an_image() -> None:
    assert read_app_description(bytes(range(256)) * 2) is None
    assert read_app_description(b"\xe9" + b"\0" * 400) is None
