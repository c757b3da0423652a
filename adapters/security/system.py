"""Real clock and randomness."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> str:
        return str(uuid.uuid4())

    def short_id(self) -> str:
        return secrets.token_hex(8)

    def secret(self) -> str:
        return secrets.token_urlsafe(32)

    def numeric_code(self, digits: int) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(digits))
