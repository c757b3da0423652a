"""Sending to devices what OTA delivery decided (node/<id>/otaurl)."""

from __future__ import annotations

from typing import Any, Protocol


class OtaPublisher(Protocol):
    """Sends a node its OTA offer on node/<id>/otaurl; an offer the transport cannot send
    now is not raised: the node is offered the job again when it connects or asks."""

    async def offer(self, node_id: str, payload: dict[str, Any]) -> None: ...
