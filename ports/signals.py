"""Credential changes that connections outliving a request (GraphQL subscriptions) must hear
of at once: a session ended, a password changed, an account was deleted, a key revoked, a
user's roles changed.

A signal names principals by subject, as Principal.subject does ("user:<id>",
"apikey:<id>"; domain.access.model.user_subject / api_key_subject); it carries no verdict.
Each live connection of a signalled subject checks its own credential again, so a signal
that arrives twice, late, or for a change that ended nothing costs one look-up and closes
nothing wrongly.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol


class SessionSignals(Protocol):
    """Tells every replica, after the change committed, that these subjects' credentials
    changed; delivery is best effort and may repeat."""

    async def changed(self, subjects: Collection[str]) -> None: ...


async def announce(signals: SessionSignals | None, *subjects: str) -> None:
    """Sends the signal when the use case was given a channel (unit tests may leave it out)."""
    if signals is not None and subjects:
        await signals.changed(frozenset(subjects))
