"""Group sharing in GraphQL: shareGroups, respondToGroupSharingRequest,
cancelGroupSharingRequest, unshareGroups, leaveGroup, groupSharingRequests and the types
Group.sharing / Group.role return. Resolvers translate, call the use cases named in "uses",
and map the result; what both kinds of request share is in sharing_common.py."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.scalars import JSON

from domain.devices.model import PRIMARY, SECONDARY
from domain.sharing.groups import GroupPeople, GroupSharing
from domain.sharing.model import SharingRequest
from graphql_api import sharing_common as common
from graphql_api.context import Ctx, uses
from graphql_api.payloads import OkPayload


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


@strawberry.type
class GroupIds:
    group_ids: list[strawberry.ID]


@strawberry.type(name="GroupSharingRequest")
class GroupSharingRequestType(common.RequestHead, GroupIds, common.RequestTail):
    names: strawberry.Private[dict[str, str] | None]

    @strawberry.field(description="The name of each group, in groupIds order (null for a "
                                  "group deleted since).",
                      metadata=uses(GroupSharing.list_requests))
    async def group_names(self, info: Ctx) -> list[str | None]:
        names = self.names
        if names is None:  # a mutation payload: read the request back with its names
            ctx = info.context
            page = await ctx.sharing.groups.list_requests(
                await ctx.caller(), request_id=str(self.id))
            names = page.group_names
        return [names.get(str(g)) for g in self.group_ids]

    @classmethod
    def of(cls, request: SharingRequest,
           names: dict[str, str] | None = None) -> GroupSharingRequestType:
        return cls(group_ids=[strawberry.ID(g) for g in request.group_ids], names=names,
                   **common.request_fields(request))


(ShareGroupsInput, RespondToGroupSharingRequestInput, CancelGroupSharingRequestInput,
 UnshareGroupsInput) = common.sharing_inputs("Groups", "GroupSharing",
                                             leaving="leaving groups shared with you")
GroupSharingRequestPayload = common.payload_type("GroupSharingRequestPayload",
                                                 GroupSharingRequestType)


@strawberry.input
class LeaveGroupInput:
    group_id: strawberry.ID


@strawberry.type
class GroupSharingQueries:
    group_sharing_requests = common.listing_field(
        GroupSharing.list_requests, lambda ctx: ctx.sharing.groups.list_requests,
        common.connection(GroupSharingRequestType, "GroupSharingRequest"),
        lambda request, page: GroupSharingRequestType.of(request, page.group_names),
        "Group sharing requests the caller sent or received, by id.")


@strawberry.type
class GroupSharingMutations:
    share_groups = common.share_mutation(
        GroupSharing.share_groups, lambda ctx: ctx.sharing.groups.share_groups,
        "groups", ShareGroupsInput, GroupSharingRequestPayload, GroupSharingRequestType.of,
        "Offers groups the caller is primary of (with their sub-groups and nodes) to another "
        "user of the organization: a pending request (accepted at once when the user "
        "already reaches every group).")
    respond_to_group_sharing_request = common.settle_mutation(
        GroupSharing.respond, lambda ctx: ctx.sharing.groups.respond,
        RespondToGroupSharingRequestInput, GroupSharingRequestPayload,
        GroupSharingRequestType.of,
        "The receiver accepts or declines a pending group sharing request.")
    cancel_group_sharing_request = common.settle_mutation(
        GroupSharing.cancel_request, lambda ctx: ctx.sharing.groups.cancel_request,
        CancelGroupSharingRequestInput, GroupSharingRequestPayload,
        GroupSharingRequestType.of, "The sender withdraws a pending group sharing request.")

    unshare_groups = common.unshare_mutation(
        GroupSharing.unshare_groups, lambda ctx: ctx.sharing.groups.unshare_groups,
        "groups", UnshareGroupsInput,
        "Removes a user's share of groups (a primary removes another user; naming yourself "
        "leaves them).")

    @strawberry.mutation(metadata=uses(GroupSharing.leave_group),
                         description="The caller gives up a group shared with it (its own "
                                     "share of that group, not one through a parent group).")
    async def leave_group(self, info: Ctx, input: LeaveGroupInput) -> OkPayload:
        ctx = info.context
        await ctx.sharing.groups.leave_group(await ctx.caller(),
                                                    group_id=str(input.group_id))
        return OkPayload(ok=True)
