"""Payloads shared by the mutations of several areas."""

from __future__ import annotations

import strawberry


@strawberry.type
class OkPayload:
    ok: bool
