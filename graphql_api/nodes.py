"""Node queries, mutations and the nodeUpdates subscription: each resolver translates its
input, calls the use cases it names in "uses", and maps the result."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from domain.devices.node_values import MAX_PAGE, MAX_PARAMS_BATCH, ParamsWrite
from domain.devices.nodes import UserNodes
from domain.devices.watch import NodeWatch
from domain.errors import Forbidden, Unauthenticated, ValidationFailed
from graphql_api import node_types as n
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor

MAX_BATCH = MAX_PARAMS_BATCH  # nodes per setNodeParams, as REST's multi-node form
STREAMED = frozenset(kind.value for kind in n.NodeUpdateKind)


@strawberry.type
class NodeQueries:
    @strawberry.field(description="A node the caller reaches (NOT_FOUND otherwise).",
                      metadata=uses(UserNodes.list_nodes))
    async def node(self, info: Ctx, id: strawberry.ID) -> n.NodeType:
        ctx = info.context
        page = await ctx.devices.nodes.list_nodes(await ctx.caller(), node_id=str(id))
        node, membership = page.entries[0]
        return n.NodeType.of(node, membership.role)

    @strawberry.field(description="The nodes the caller reaches, ordered by id; state "
                                  "(params, config, connectivity) comes with each node.",
                      metadata=uses(UserNodes.list_nodes))
    async def nodes(self, info: Ctx, filter: n.NodeFilter | None = None, first: int = 25,
                    after: str | None = None) -> n.NodeConnection:
        ctx = info.context
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        tags = ",".join(filter.tags) if filter is not None and filter.tags is not None else None
        # list_nodes pages from an inclusive start_id: read one more and drop the anchor
        extra = 1 if anchor is not None and 0 < first < MAX_PAGE else 0
        page = await ctx.devices.nodes.list_nodes(await ctx.caller(), start_id=anchor,
                                                  num_records=first + extra, tags=tags)
        entries = page.entries
        if anchor is not None and entries and entries[0][0].id == anchor:
            entries = entries[1:]
        edges = [n.NodeEdge(cursor=encode_cursor(node.id), node=n.NodeType.of(node, m.role))
                 for node, m in entries[:first]]
        return n.NodeConnection(edges=edges, total_count=page.total, page_info=PageInfo.of(
            [e.cursor for e in edges], has_previous=anchor is not None,
            has_next=page.next_id is not None or len(entries) > first))


@strawberry.type
class NodeMutations:
    @strawberry.mutation(metadata=uses(UserNodes.set_params, UserNodes.set_params_many),
                         description="Desired params for one node, or for up to 25 at once "
                                     "with one result per node (REST's 207 form).")
    async def set_node_params(self, info: Ctx,
                              input: n.SetNodeParamsInput) -> n.SetNodeParamsPayload:
        ctx = info.context
        caller = await ctx.caller()
        one = input.node_id is not None or input.params is not None \
            or input.expected_version is not None
        if one == (input.nodes is not None) or (input.nodes is not None
                                                and not 0 < len(input.nodes) <= MAX_BATCH):
            raise ValidationFailed(f"Give nodeId and params, or nodes (1..{MAX_BATCH})",
                                   reason="invalid_input")
        if input.nodes is None:
            version = await ctx.devices.nodes.set_params(
                caller, node_id=input.node_id, params=input.params,
                expected_version=input.expected_version)
            return n.SetNodeParamsPayload(results=[n.NodeParamsResult(
                node_id=strawberry.ID(str(input.node_id)), ok=True, params_version=version)])
        outcomes = await ctx.devices.nodes.set_params_many(caller, writes=[
            ParamsWrite(node_id=item.node_id, params=item.params,
                        expected_version=item.expected_version) for item in input.nodes])
        return n.SetNodeParamsPayload(results=[n.NodeParamsResult.of(o) for o in outcomes])

    @strawberry.mutation(metadata=uses(UserNodes.retag_node, UserNodes.remove_tags),
                         description='Adds and/or removes "key:value" tags (removals first).')
    async def update_node_tags(self, info: Ctx, input: n.UpdateNodeTagsInput) -> n.NodePayload:
        ctx, node_id = info.context, str(input.node_id)
        if input.add is None and input.remove is not None:  # removing only: DELETE suffices
            node = await ctx.devices.nodes.remove_tags(await ctx.caller(), node_id=node_id,
                                                       tags=input.remove)
        else:
            node = await ctx.devices.nodes.retag_node(await ctx.caller(), node_id=node_id,
                                                      add=input.add, remove=input.remove)
        return n.NodePayload(node=n.NodeType.of(node))

    @strawberry.mutation(metadata=uses(UserNodes.update_node),
                         description="Merges a patch into the node's metadata (thing shadow).")
    async def update_node_metadata(self, info: Ctx,
                                   input: n.UpdateNodeMetadataInput) -> n.NodePayload:
        ctx = info.context
        node = await ctx.devices.nodes.update_node(await ctx.caller(),
                                                   node_id=str(input.node_id),
                                                   metadata=input.metadata)
        return n.NodePayload(node=n.NodeType.of(node))

    @strawberry.mutation(metadata=uses(UserNodes.map_node),
                         description="Claims a node: with the secret_key issued at "
                                     "provisioning the caller becomes its primary at once "
                                     "(confirmed); any other key waits for the node to "
                                     "confirm it (requested).")
    async def claim_node(self, info: Ctx, input: n.ClaimNodeInput) -> n.NodeMappingPayload:
        ctx = info.context
        return n.NodeMappingPayload.of(await ctx.devices.nodes.map_node(
            await ctx.caller(), node_id=str(input.node_id), operation="add",
            secret_key=input.secret_key))

    @strawberry.mutation(metadata=uses(UserNodes.map_node),
                         description="Removes the caller's own mapping to a node.")
    async def unclaim_node(self, info: Ctx, input: n.UnclaimNodeInput) -> n.NodeMappingPayload:
        ctx = info.context
        return n.NodeMappingPayload.of(await ctx.devices.nodes.map_node(
            await ctx.caller(), node_id=str(input.node_id), operation="remove"))


@strawberry.type
class NodeSubscription:
    @strawberry.subscription(metadata=uses(NodeWatch.watch_nodes, NodeWatch.refresh),
                             description="Params, connectivity and config changes of the given "
                                         "nodes (default: every node the caller reaches), as "
                                         "they arrive from the devices.")
    async def node_updates(self, info: Ctx, node_ids: list[strawberry.ID] | None = None
                           ) -> AsyncGenerator[n.NodeUpdate, None]:
        ctx = info.context
        caller = await ctx.caller()
        watch = ctx.devices.watch
        scope = await watch.watch_nodes(
            caller, node_ids=None if node_ids is None else [str(i) for i in node_ids])
        queue = ctx.events.subscribe()
        try:
            while True:
                event = await queue.get()
                try:  # the sign-in is checked again as often as memberships are re-read
                    scope = await watch.refresh(await ctx.current_caller(), scope=scope)
                except (Unauthenticated, Forbidden) as exc:
                    await ctx.session_lost(exc)
                if event.kind in STREAMED and scope.admits(event):
                    yield n.NodeUpdate.of(event)
        finally:
            ctx.events.unsubscribe(queue)
