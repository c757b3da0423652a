"""Which node a user reaches (every user node use case asks first), and the ReachableNodes
port through which other areas (sharing) ask the same."""

from __future__ import annotations

from domain.devices.model import Node, check_node_id
from domain.devices.ownership import forget_node_data
from domain.errors import NotFound
from ports.repositories.uow import UnitOfWork

NO_NODE = "Node does not exist or does not belong to the user"


async def reachable_node(uow: UnitOfWork, node_id: object, user_id: str) -> Node:
    """The node, if the user is one of its members; unknown, foreign and unshared nodes are
    the same NOT_FOUND, so node ids cannot be probed."""
    checked = check_node_id(node_id)
    node = await uow.nodes.get(checked)
    if node is None or await uow.memberships.get(checked, user_id) is None:
        raise NotFound(NO_NODE, reason="node_not_found")
    return node


class DeviceReach:
    async def reachable_node(self, uow: UnitOfWork, node_id: object, user_id: str) -> Node:
        return await reachable_node(uow, node_id, user_id)

    async def forget_node_data(self, uow: UnitOfWork, node_id: str) -> None:
        await forget_node_data(uow, node_id)
