"""User-approved OTA updates in GraphQL: the update waiting for one of the caller's nodes,
and its approval. Resolvers translate and call the use cases named in "uses"."""

from __future__ import annotations

import strawberry

from domain.ota.user_updates import OtaUpdates
from graphql_api.context import Ctx, uses


@strawberry.input
class PushUpdateInput:
    node_id: strawberry.ID
    job_id: strawberry.ID


@strawberry.type
class AvailableUpdate:
    job_id: strawberry.ID
    description: str
    fw_version: str
    file_size: int


@strawberry.type
class PushUpdatePayload:
    job_id: strawberry.ID
    node_id: strawberry.ID


@strawberry.type
class OtaUpdateQueries:
    @strawberry.field(description="The user-approval update waiting for one of the caller's "
                                  "nodes (null: none).",
                      metadata=uses(OtaUpdates.available_update))
    async def available_update(self, info: Ctx, node_id: strawberry.ID
                               ) -> AvailableUpdate | None:
        ctx = info.context
        found = await ctx.ota.updates.available_update(await ctx.caller(),
                                                            node_id=str(node_id))
        if found is None:
            return None
        job, image = found
        return AvailableUpdate(job_id=strawberry.ID(job.id), description=job.description,
                               fw_version=image.fw_version, file_size=image.size)


@strawberry.type
class OtaUpdateMutations:
    @strawberry.mutation(metadata=uses(OtaUpdates.push_update),
                         description="A node's user approves its waiting update: the node is "
                                     "offered it now.")
    async def push_update(self, info: Ctx, input: PushUpdateInput) -> PushUpdatePayload:
        ctx = info.context
        offer = await ctx.ota.updates.push_update(
            await ctx.caller(), node_id=str(input.node_id), job_id=str(input.job_id))
        return PushUpdatePayload(job_id=strawberry.ID(offer.job.id),
                                 node_id=strawberry.ID(offer.node_id))
