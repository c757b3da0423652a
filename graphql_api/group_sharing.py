"""Group sharing in GraphQL: shareGroups, respondToGroupSharingRequest,
cancelGroupSharingRequest, unshareGroups, leaveGroup, groupSharingRequests and the types
Group.sharing / Group.role return. Resolvers translate, call the use cases named in "uses",
and map the result; the request life cycle and its enums are node sharing's (sharing.py)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.scalars import JSON

from domain.devices.group_sharing import GroupPeople, GroupSharing
from domain.devices.model import PRIMARY, SECONDARY
from domain.devices.sharing_requests import MAX_REQUESTS_PAGE
from domain.sharing.model import SharingRequest
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, encode_cursor
from graphql_api.payloads import OkPayload
from graphql_api.sharing import RequestWindow, SharingDirection, SharingRequestStatus


@strawberry.enum(description="The caller's role on a group: PRIMARY (its owner, or shared "
                             "with it as primary, directly or through a parent group) or "
                             "SECONDARY.")
class GroupRole(Enum):
    PRIMARY = PRIMARY
    SECONDARY = SECONDARY


@strawberry.type(name="GroupSharing", description="Who has a role on a group, as the caller "
                                                  "may see it: a secondary sees no other "
                                                  "secondaries.")
class GroupSharingType:
    primary: list[str] = strawberry.field(
        description="The owner and the users it is shared with as primary (of the group or "
                    "of a parent group).")
    secondary: list[str]
    metadata: JSON = strawberry.field(
        description="Each listed user's sharing metadata, by user name (null: none).")

    @classmethod
    def of(cls, people: GroupPeople) -> GroupSharingType:
        return cls(primary=people.primary, secondary=people.secondary,
                   metadata=dict(people.metadata))


@strawberry.type(name="GroupSharingRequest")
class GroupSharingRequestType:
    id: strawberry.ID
    status: SharingRequestStatus
    group_ids: list[strawberry.ID]
    from_user_name: str
    to_user_name: str
    role: str = strawberry.field(description="The receiver's role once accepted.")
    transfer: bool
    new_role: str | None
    metadata: JSON | None
    created_at: datetime
    expires_at: datetime | None
    names: strawberry.Private[dict[str, str] | None]

    @strawberry.field(description="The name of each group, in groupIds order (null for a "
                                  "group deleted since).",
                      metadata=uses(GroupSharing.list_requests))
    async def group_names(self, info: Ctx) -> list[str | None]:
        names = self.names
        if names is None:  # a mutation payload: read the request back with its names
            ctx = info.context
            page = await ctx.devices.group_sharing.list_requests(
                await ctx.caller(), request_id=str(self.id))
            names = page.group_names
        return [names.get(str(g)) for g in self.group_ids]

    @classmethod
    def of(cls, request: SharingRequest,
           names: dict[str, str] | None = None) -> GroupSharingRequestType:
        return cls(id=strawberry.ID(request.id), status=SharingRequestStatus(request.status),
                   group_ids=[strawberry.ID(g) for g in request.group_ids],
                   from_user_name=request.from_user_name, to_user_name=request.to_user_name,
                   role=request.role, transfer=request.transfer, new_role=request.new_role,
                   metadata=request.metadata, created_at=request.created_at,
                   expires_at=request.expires_at, names=names)


@strawberry.type
class GroupSharingRequestEdge:
    cursor: str
    node: GroupSharingRequestType


@strawberry.type
class GroupSharingRequestConnection:
    edges: list[GroupSharingRequestEdge]
    page_info: PageInfo


@strawberry.input
class ShareGroupsInput:
    group_ids: list[strawberry.ID]
    user_name: str
    primary: bool = False
    transfer: bool = False
    new_role: str | None = strawberry.field(
        default=None, description="The sender's role after a transfer: secondary or none.")
    metadata: JSON | None = None


@strawberry.input
class RespondToGroupSharingRequestInput:
    request_id: strawberry.ID
    accept: bool


@strawberry.input
class CancelGroupSharingRequestInput:
    request_id: strawberry.ID


@strawberry.input
class UnshareGroupsInput:
    group_ids: list[strawberry.ID]
    user_name: str = strawberry.field(description="Another user (as primary), or yourself "
                                                  "(leaving groups shared with you).")


@strawberry.input
class LeaveGroupInput:
    group_id: strawberry.ID


@strawberry.type
class GroupSharingRequestPayload:
    request: GroupSharingRequestType


@strawberry.type
class GroupSharingQueries:
    @strawberry.field(description="Group sharing requests the caller sent or received, by id.",
                      metadata=uses(GroupSharing.list_requests))
    async def group_sharing_requests(self, info: Ctx,
                                     direction: SharingDirection = SharingDirection.RECEIVED,
                                     first: int = MAX_REQUESTS_PAGE, after: str | None = None
                                     ) -> GroupSharingRequestConnection:
        ctx = info.context
        window = await RequestWindow.read(ctx.devices.group_sharing.list_requests,
                                          await ctx.caller(), direction, first, after)
        edges = [GroupSharingRequestEdge(
            cursor=encode_cursor(r.id), node=GroupSharingRequestType.of(r, window.page.group_names))
            for r in window.requests]
        return GroupSharingRequestConnection(edges=edges, page_info=window.page_info(edges))


@strawberry.type
class GroupSharingMutations:
    @strawberry.mutation(metadata=uses(GroupSharing.share_groups),
                         description="Offers groups the caller is primary of (with their "
                                     "sub-groups and nodes) to another user of the "
                                     "organization: a pending request (accepted at once when "
                                     "the user already reaches every group).")
    async def share_groups(self, info: Ctx, input: ShareGroupsInput
                           ) -> GroupSharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.group_sharing.share_groups(
            await ctx.caller(), groups=[str(g) for g in input.group_ids],
            user_name=input.user_name, primary=input.primary, transfer=input.transfer,
            new_role=input.new_role, metadata=input.metadata)
        return GroupSharingRequestPayload(request=GroupSharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(GroupSharing.respond),
                         description="The receiver accepts or declines a pending group "
                                     "sharing request.")
    async def respond_to_group_sharing_request(
            self, info: Ctx, input: RespondToGroupSharingRequestInput
    ) -> GroupSharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.group_sharing.respond(
            await ctx.caller(), request_id=str(input.request_id), accept=input.accept)
        return GroupSharingRequestPayload(request=GroupSharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(GroupSharing.cancel_request),
                         description="The sender withdraws a pending group sharing request.")
    async def cancel_group_sharing_request(
            self, info: Ctx, input: CancelGroupSharingRequestInput
    ) -> GroupSharingRequestPayload:
        ctx = info.context
        request = await ctx.devices.group_sharing.cancel_request(
            await ctx.caller(), request_id=str(input.request_id))
        return GroupSharingRequestPayload(request=GroupSharingRequestType.of(request))

    @strawberry.mutation(metadata=uses(GroupSharing.unshare_groups),
                         description="Removes a user's share of groups (a primary removes "
                                     "another user; naming yourself leaves them).")
    async def unshare_groups(self, info: Ctx, input: UnshareGroupsInput) -> OkPayload:
        ctx = info.context
        await ctx.devices.group_sharing.unshare_groups(
            await ctx.caller(), groups=[str(g) for g in input.group_ids],
            user_name=input.user_name)
        return OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(GroupSharing.leave_group),
                         description="The caller gives up a group shared with it (its own "
                                     "share of that group, not one through a parent group).")
    async def leave_group(self, info: Ctx, input: LeaveGroupInput) -> OkPayload:
        ctx = info.context
        await ctx.devices.group_sharing.leave_group(await ctx.caller(),
                                                    group_id=str(input.group_id))
        return OkPayload(ok=True)
