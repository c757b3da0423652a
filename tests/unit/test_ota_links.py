"""Signed, expiring download/upload links."""

from __future__ import annotations

import base64

import pytest

from domain.errors import Forbidden
from domain.ota.links import download_path, sign, upload_path, verify

SECRET = b"s" * 32
NOW = 1_800_000_000
KEY = "ota/org-1/image-42.bin"


def reason(secret: bytes, token: str, purpose: str = "download", now: int = NOW) -> str:
    with pytest.raises(Forbidden) as caught:
        verify(secret, token, purpose, now)
    return caught.value.reason


def test_round_trip() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    assert verify(SECRET, token, "download", NOW) == KEY


def test_token_is_url_safe() -> None:
    token = sign(SECRET, "upload", "a/b c?d&e=+/é", NOW + 60)
    assert set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert verify(SECRET, token, "upload", NOW) == "a/b c?d&e=+/é"


def test_expiry_boundary() -> None:
    token = sign(SECRET, "download", KEY, NOW)
    assert verify(SECRET, token, "download", NOW - 1) == KEY
    assert reason(SECRET, token, now=NOW) == "link_expired"
    assert reason(SECRET, token, now=NOW + 3600) == "link_expired"


def test_wrong_purpose() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    assert reason(SECRET, token, "upload") == "link_invalid"
    assert reason(SECRET, token, "Download") == "link_invalid"
    assert reason(SECRET, token, "") == "link_invalid"


def test_wrong_secret() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    assert reason(b"t" * 32, token) == "link_invalid"
    assert reason(b"", token) == "link_invalid"


def test_tampering_any_character_breaks_it() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    for i, char in enumerate(token):
        for other in {"A", "b", "0", "f", "-", "."} - {char}:
            forged = token[:i] + other + token[i + 1:]
            assert reason(SECRET, forged) == "link_invalid", (i, other)


def _resign_payload(token: str, text: str) -> str:
    payload = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return payload + "." + token.partition(".")[2]


def test_tampering_each_part_with_a_well_formed_payload() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    for text in (f"download\n{NOW + 10**6}\n{KEY}",     # longer expiry
                 f"download\n{NOW + 60}\nota/other.bin",  # another key
                 f"upload\n{NOW + 60}\n{KEY}"):           # another purpose
        assert reason(SECRET, _resign_payload(token, text), "download") == "link_invalid"
        assert reason(SECRET, _resign_payload(token, text), "upload") == "link_invalid"


def test_truncated_or_extended_tokens() -> None:
    token = sign(SECRET, "download", KEY, NOW + 60)
    payload, _, mac = token.partition(".")
    for forged in (token[:-1], token + "0", payload, payload + ".", "." + mac,
                   payload + "." + mac.upper(), payload + "=." + mac, token + ".x"):
        assert reason(SECRET, forged) == "link_invalid", forged


@pytest.mark.parametrize("garbage", [
    "", ".", "..", "abc", "abc.def", "a" * 10_000, "é.é", "\x00." + "0" * 64,
    "!!!!." + "0" * 64, "." + "0" * 64,
])
def test_garbage(garbage: str) -> None:
    assert reason(SECRET, garbage) == "link_invalid"


def test_correctly_signed_but_malformed_payloads_are_invalid() -> None:
    import hashlib
    import hmac

    def forge(text: str) -> str:
        payload = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
        return payload + "." + hmac.new(SECRET, payload.encode(), hashlib.sha256).hexdigest()

    for text in ("download", f"download\n{NOW + 60}", f"download\nsoon\n{KEY}",
                 f"download\n-5\n{KEY}", f"download\n{NOW + 60}\n", f"download\n²\n{KEY}"):
        assert reason(SECRET, forge(text)) == "link_invalid", text
    assert verify(SECRET, forge(f"download\n{NOW + 60}\n{KEY}"), "download", NOW) == KEY


def test_tokens_differ_per_purpose_key_expiry_and_secret() -> None:
    tokens = {sign(SECRET, "download", KEY, NOW), sign(SECRET, "upload", KEY, NOW),
              sign(SECRET, "download", KEY + "x", NOW), sign(SECRET, "download", KEY, NOW + 1),
              sign(b"other", "download", KEY, NOW)}
    assert len(tokens) == 5


@pytest.mark.parametrize("args", [
    (b"", "download", KEY, NOW), (SECRET, "", KEY, NOW), (SECRET, "download", "", NOW),
    (SECRET, "down\nload", KEY, NOW), (SECRET, "download", "a\nb", NOW),
    (SECRET, "download", KEY, -1),
])
def test_sign_refuses_what_it_could_not_verify(args: tuple[bytes, str, str, int]) -> None:
    with pytest.raises(ValueError):
        sign(*args)


def test_every_api_answers_links_on_the_paths_the_rest_routes_serve() -> None:
    token = sign(SECRET, "ota-upload", KEY, NOW + 60)
    assert upload_path(token) == f"/v1/ota/upload/{token}"
    assert download_path(token) == f"/v1/ota/download/{token}"
