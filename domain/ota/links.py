"""Signed, expiring links (OTA downloads and uploads served by Fleetgate itself).

A token is ``<payload>.<mac>``: payload is unpadded base64url of
``"<purpose>\\n<expires_at>\\n<key>"`` and mac is the hex HMAC-SHA256 of the payload text
under the secret. The key and expiry are readable from the token (they are not secret);
changing any byte of either part, or checking it for another purpose, breaks the MAC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from domain.errors import Forbidden

# Where Fleetgate serves the links, relative to the API base URL: the REST routes are
# declared on these paths and every API answers links built here.
UPLOAD_PATH = "/v1/ota/upload"
DOWNLOAD_PATH = "/v1/ota/download"

_SEP = "\n"
_MAC_HEX_LEN = hashlib.sha256().digest_size * 2
_MAX_TOKEN_LEN = 4096


def _mac(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode("ascii"), hashlib.sha256).hexdigest()


def _check_part(name: str, value: str) -> None:
    if not value or _SEP in value:
        raise ValueError(f"{name} must be non-empty and single-line")


def sign(secret: bytes, purpose: str, key: str, expires_at: int) -> str:
    """A URL-safe token granting ``purpose`` on ``key`` until ``expires_at`` (epoch seconds,
    exclusive)."""
    if not secret:
        raise ValueError("secret must not be empty")
    _check_part("purpose", purpose)
    _check_part("key", key)
    if expires_at < 0:
        raise ValueError("expires_at must not be negative")
    text = _SEP.join((purpose, str(int(expires_at)), key))
    payload = base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


def upload_path(token: str) -> str:
    """The path to PUT an image's bytes to with an upload token."""
    return f"{UPLOAD_PATH}/{token}"


def download_path(token: str) -> str:
    """The path to GET an image's bytes from with a download token."""
    return f"{DOWNLOAD_PATH}/{token}"


def _invalid() -> Forbidden:
    return Forbidden("The link is not valid.", reason="link_invalid")


def verify(secret: bytes, token: str, purpose: str, now: int) -> str:
    """The key the token was signed for. Raises Forbidden(reason="link_invalid") for a
    malformed or tampered token, another purpose or another secret, and
    Forbidden(reason="link_expired") once ``now >= expires_at``."""
    if not secret or not isinstance(token, str) or len(token) > _MAX_TOKEN_LEN:
        raise _invalid()
    payload, dot, mac = token.partition(".")
    if not dot or not payload or len(mac) != _MAC_HEX_LEN:
        raise _invalid()
    try:
        payload.encode("ascii")
        mac.encode("ascii")
    except UnicodeEncodeError:
        raise _invalid() from None
    if not hmac.compare_digest(_mac(secret, payload), mac):
        raise _invalid()
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid() from None
    parts = text.split(_SEP, 2)
    if len(parts) != 3:
        raise _invalid()
    signed_purpose, expiry, key = parts
    if not (expiry.isascii() and expiry.isdigit()) or not key:
        raise _invalid()
    if not hmac.compare_digest(signed_purpose.encode("utf-8"), purpose.encode("utf-8")):
        raise _invalid()
    if now >= int(expiry):
        raise Forbidden("The link has expired.", reason="link_expired")
    return key
