"""The one MetaData every table module defines its tables on, and their shared column kinds."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData

metadata = MetaData()


def ts(name: str, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(name, DateTime(timezone=True), nullable=nullable)
