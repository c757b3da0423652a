"""Sending to devices."""

from __future__ import annotations

from typing import Any, Protocol


class NodeCommands(Protocol):
    """Delivers desired params to a node (params/remote)."""

    async def send_params(self, node_id: str, params: dict[str, Any]) -> bool:
        """True when the transport accepted the message; False when it is unavailable now
        (the desired state is kept and re-sent when the node reconnects)."""
        ...
