"""The shape of the ids Fleetgate issues (UUIDs, short node ids): what may be looked up.

A value of any other shape cannot name a record, so it is answered without a query (and a
NUL byte or an over-long string never reaches the database)."""

from __future__ import annotations

import re

RECORD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RECORD_ID_PATTERN = RECORD_ID.pattern


def is_record_id(value: object) -> bool:
    return isinstance(value, str) and RECORD_ID.match(value) is not None
