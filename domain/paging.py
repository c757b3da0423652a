"""Paging values every area's listings share: RainMaker's num_records (1..100)."""

from __future__ import annotations

from domain.errors import ValidationFailed

MAX_PAGE = 100


def check_page_size(num_records: object) -> int:
    if not isinstance(num_records, int) or isinstance(num_records, bool) \
            or not 1 <= num_records <= MAX_PAGE:
        raise ValidationFailed("num_records must be 1..100", reason="invalid_page")
    return num_records
