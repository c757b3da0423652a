"""Hashing of presented secrets (passwords aside): refresh tokens, API keys, registration
tokens, verification codes and device secrets are stored and looked up as SHA-256 hex."""

from __future__ import annotations

import hashlib


def sha256_hex(value: str) -> str:
    # surrogatepass: any presented string hashes (and then simply matches nothing), even one
    # with a lone surrogate that strict UTF-8 cannot encode
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
