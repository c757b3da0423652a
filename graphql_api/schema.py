"""The GraphQL schema: resolvers translate input, call one use case, and map the result.

Each field names the use cases it calls in its metadata ("uses"), so a test can check that
every field reaches only use cases with a declared permission or an explicit public marker.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from domain.accounts.api_keys import ApiKeys
from domain.accounts.profile import Profiles
from domain.accounts.registration import Registration
from domain.accounts.sessions import Sessions
from domain.devices.provisioning import Provisioning
from domain.errors import ValidationFailed
from graphql_api import types as t
from graphql_api.access import AccessMutations, AccessQueries
from graphql_api.admin_groups import AdminGroupMutations, AdminGroupQueries
from graphql_api.billing import BillingMutations, BillingQueries
from graphql_api.context import Ctx, uses
from graphql_api.errors import DomainErrors
from graphql_api.group_sharing import GroupSharingMutations, GroupSharingQueries
from graphql_api.groups import GroupMutations, GroupQueries
from graphql_api.nodes import NodeMutations, NodeQueries, NodeSubscription
from graphql_api.observability import OperationMetrics, OperationObserver
from graphql_api.ota_images import OtaImageMutations, OtaImageQueries
from graphql_api.ota_jobs import OtaJobMutations, OtaJobQueries, OtaJobSubscription
from graphql_api.ota_updates import OtaUpdateMutations, OtaUpdateQueries
from graphql_api.sharing import SharingMutations, SharingQueries


@strawberry.type
class Query(AccessQueries, BillingQueries, OtaImageQueries, OtaJobQueries, OtaUpdateQueries,
            AdminGroupQueries, GroupQueries, GroupSharingQueries, NodeQueries, SharingQueries):
    @strawberry.field(description="The signed-in user.", metadata=uses(Profiles.get_profile))
    async def me(self, info: Ctx) -> t.UserType:
        ctx = info.context
        return t.UserType.of(await ctx.accounts.profiles.get_profile(await ctx.caller()))

    @strawberry.field(description="The caller's organization.",
                      metadata=uses(Profiles.get_organization))
    async def organization(self, info: Ctx) -> t.OrganizationType:
        ctx = info.context
        return t.OrganizationType.of(
            await ctx.accounts.profiles.get_organization(await ctx.caller()))

    @strawberry.field(description="The organization's API keys, oldest first.",
                      metadata=uses(ApiKeys.list_api_keys))
    async def api_keys(self, info: Ctx, first: int = 20,
                       after: str | None = None) -> t.ApiKeyConnection:
        ctx = info.context
        anchor = None
        if after is not None and (anchor := t.decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        keys, more = await ctx.accounts.api_keys.list_api_keys(await ctx.caller(), after=anchor,
                                                               limit=first)
        edges = [t.ApiKeyEdge(cursor=t.encode_cursor(k.id), node=t.ApiKeyType.of(k))
                 for k in keys]
        return t.ApiKeyConnection(edges=edges, page_info=t.PageInfo.of(
            [e.cursor for e in edges], has_next=more, has_previous=anchor is not None))


@strawberry.type
class Subscription(NodeSubscription, OtaJobSubscription):
    pass


@strawberry.type
class Mutation(AccessMutations, BillingMutations, OtaImageMutations, OtaJobMutations,
               OtaUpdateMutations, AdminGroupMutations, GroupMutations, GroupSharingMutations,
               NodeMutations, SharingMutations):
    @strawberry.mutation(metadata=uses(Registration.sign_up),
                         description="Sign up; with organizationName, found a new organization.")
    async def register(self, info: Ctx, input: t.RegisterInput) -> t.RegisterPayload:
        ctx = info.context
        user = await ctx.accounts.registration.sign_up(
            await ctx.caller(), user_name=input.user_name, password=input.password,
            organization_name=input.organization_name, name=input.name)
        return t.RegisterPayload(user=t.UserType.of(user), verification_required=True)

    @strawberry.mutation(metadata=uses(Registration.confirm_sign_up))
    async def confirm_registration(self, info: Ctx,
                                   input: t.ConfirmRegistrationInput) -> t.UserPayload:
        ctx = info.context
        user = await ctx.accounts.registration.confirm_sign_up(
            ctx.anonymous(), user_name=input.user_name, code=input.verification_code)
        return t.UserPayload(user=t.UserType.of(user))

    @strawberry.mutation(metadata=uses(Sessions.login))
    async def login(self, info: Ctx, input: t.LoginInput) -> t.AuthPayload:
        ctx = info.context
        return t.AuthPayload.of(await ctx.accounts.sessions.login(
            ctx.anonymous(), user_name=input.user_name, password=input.password))

    @strawberry.mutation(metadata=uses(Sessions.refresh))
    async def refresh_session(self, info: Ctx, input: t.RefreshSessionInput) -> t.AuthPayload:
        ctx = info.context
        return t.AuthPayload.of(await ctx.accounts.sessions.refresh(
            ctx.anonymous(), refresh_token=input.refresh_token))

    @strawberry.mutation(metadata=uses(Sessions.logout))
    async def logout(self, info: Ctx, input: t.LogoutInput | None = None) -> t.OkPayload:
        ctx = info.context
        await ctx.accounts.sessions.logout(await ctx.caller(),
                                           logout_all=bool(input and input.all_sessions))
        return t.OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.update_profile))
    async def update_profile(self, info: Ctx, input: t.UpdateProfileInput) -> t.UserPayload:
        ctx = info.context
        user = await ctx.accounts.profiles.update_profile(await ctx.caller(), name=input.name)
        return t.UserPayload(user=t.UserType.of(user))

    @strawberry.mutation(metadata=uses(Profiles.change_password))
    async def change_password(self, info: Ctx, input: t.ChangePasswordInput) -> t.OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.change_password(
            await ctx.caller(), password=input.current_password, new_password=input.new_password)
        return t.OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.request_password_reset))
    async def request_password_reset(self, info: Ctx,
                                     input: t.RequestPasswordResetInput) -> t.OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.request_password_reset(ctx.anonymous(),
                                                           user_name=input.user_name)
        return t.OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.reset_password))
    async def reset_password(self, info: Ctx, input: t.ResetPasswordInput) -> t.OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.reset_password(
            ctx.anonymous(), user_name=input.user_name, code=input.verification_code,
            new_password=input.new_password)
        return t.OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(ApiKeys.create_api_key))
    async def create_api_key(self, info: Ctx, input: t.CreateApiKeyInput) -> t.CreateApiKeyPayload:
        ctx = info.context
        issued = await ctx.accounts.api_keys.create_api_key(
            await ctx.caller(), name=input.name, expires_in_days=input.expires_in_days)
        return t.CreateApiKeyPayload(key=issued.key, api_key=t.ApiKeyType.of(issued.record))

    @strawberry.mutation(metadata=uses(ApiKeys.revoke_api_key))
    async def revoke_api_key(self, info: Ctx, input: t.RevokeApiKeyInput) -> t.RevokeApiKeyPayload:
        ctx = info.context
        key = await ctx.accounts.api_keys.revoke_api_key(await ctx.caller(), key_id=str(input.id))
        return t.RevokeApiKeyPayload(api_key=t.ApiKeyType.of(key))

    @strawberry.mutation(metadata=uses(Provisioning.create_registration_token),
                         description="A one-time token a device exchanges at "
                                     "POST /v1/devices/provision for its identity.")
    async def create_registration_token(self, info: Ctx, input: t.CreateRegistrationTokenInput
                                        ) -> t.RegistrationTokenPayload:
        ctx = info.context
        issued = await ctx.devices.provisioning.create_registration_token(
            await ctx.caller(), node_name=input.node_name,
            expires_in_minutes=input.expires_in_minutes)
        return t.RegistrationTokenPayload(token=issued.token,
                                          id=strawberry.ID(issued.record.id),
                                          node_name=issued.record.node_name,
                                          expires_at=issued.record.expires_at)


def build_schema(*, max_depth: int, max_aliases: int, max_tokens: int,
                 production: bool, observer: OperationObserver | None = None
                 ) -> strawberry.Schema:
    # The limiters' validation rules are built once and shared: they are stateless, and
    # ValidationCache keys on the rule classes, so rules rebuilt per request (what a fresh
    # QueryDepthLimiter does) would make every request re-validate its document.
    rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        DomainErrors,
    ]
    if production:
        extensions.insert(0, DisableIntrospection)
    if observer is not None:  # first: it sees errors after DomainErrors classified them
        extensions.insert(0, lambda: OperationMetrics(observer))
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription,
                             extensions=extensions)
