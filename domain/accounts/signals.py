"""Credential changes that connections outliving a request (GraphQL subscriptions) must hear
of at once: a session ended, a password changed, an account was deleted, a key revoked.

A signal names principals by subject, as Principal.subject does ("user:<id>",
"apikey:<id>"); it carries no verdict. Each live connection of a signalled subject checks
its own credential again, so a signal that arrives twice, late, or for a change that ended
nothing costs one look-up and closes nothing wrongly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol


class SessionSignals(Protocol):
    """Tells every replica, after the change committed, that these subjects' credentials
    changed; delivery is best effort and may repeat."""

    async def changed(self, subjects: Collection[str]) -> None: ...


def user_subject(user_id: str) -> str:
    return f"user:{user_id}"


def api_key_subject(key_id: str) -> str:
    return f"apikey:{key_id}"


async def announce(signals: SessionSignals | None, *subjects: str) -> None:
    """Sends the signal when the use case was given a channel (unit tests may leave it out)."""
    if signals is not None and subjects:
        await signals.changed(frozenset(subjects))
