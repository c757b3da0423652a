"""Accounts in GraphQL: me, organization, apiKeys, and register / confirmRegistration / login /
refreshSession / logout / updateProfile / changePassword / requestPasswordReset / resetPassword /
createApiKey / revokeApiKey / createRegistrationToken, with their types. Resolvers translate
and call the use cases named in "uses"."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.accounts.api_keys import ApiKeys
from domain.accounts.model import ApiKey, User
from domain.accounts.profile import OrganizationView, Profiles
from domain.accounts.registration import Registration
from domain.accounts.sessions import Sessions
from domain.accounts.tokens import SessionTokens
from domain.billing.service import Billing
from domain.devices.provisioning import Provisioning
from domain.errors import ValidationFailed
from graphql_api.billing import (
    SubscriptionType,
    UsageType,
    organization_subscription,
    organization_usage,
)
from graphql_api.context import Ctx, uses
from graphql_api.pagination import PageInfo, decode_cursor, encode_cursor
from graphql_api.payloads import OkPayload


@strawberry.type
class UserType:
    id: strawberry.ID
    user_name: str
    name: str
    organization_id: strawberry.ID
    roles: list[str]
    super_admin: bool

    @classmethod
    def of(cls, user: User) -> UserType:
        return cls(id=strawberry.ID(user.id), user_name=user.user_name, name=user.name,
                   organization_id=strawberry.ID(user.org_id), roles=sorted(user.roles),
                   super_admin=user.is_superadmin)


@strawberry.type(name="Organization")
class OrganizationType:
    id: strawberry.ID
    name: str
    created_at: datetime
    user_count: int

    @strawberry.field(description="The organization's subscription (the free plan when it "
                                  "has none) and the plan whose quotas apply now.",
                      metadata=uses(Billing.subscription))
    async def subscription(self, info: Ctx) -> SubscriptionType:
        return await organization_subscription(info)

    @strawberry.field(description="What the organization uses against each quota of its plan.",
                      metadata=uses(Billing.usage))
    async def usage(self, info: Ctx) -> UsageType:
        return await organization_usage(info)

    @classmethod
    def of(cls, view: OrganizationView) -> OrganizationType:
        org = view.organization
        return cls(id=strawberry.ID(org.id), name=org.name, created_at=org.created_at,
                   user_count=view.user_count)


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    roles: list[str]

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyType:
        return cls(id=strawberry.ID(key.id), name=key.name, prefix=key.prefix,
                   created_at=key.created_at, expires_at=key.expires_at,
                   revoked_at=key.revoked_at, roles=sorted(key.roles))


@strawberry.type
class ApiKeyEdge:
    cursor: str
    node: ApiKeyType


@strawberry.type
class ApiKeyConnection:
    edges: list[ApiKeyEdge]
    page_info: PageInfo


@strawberry.type
class AuthPayload:
    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int

    @classmethod
    def of(cls, tokens: SessionTokens) -> AuthPayload:
        return cls(access_token=tokens.access_token, id_token=tokens.id_token,
                   refresh_token=tokens.refresh_token, expires_in=tokens.expires_in)


@strawberry.type
class RegisterPayload:
    user: UserType
    verification_required: bool


@strawberry.type
class UserPayload:
    user: UserType


@strawberry.type
class CreateApiKeyPayload:
    api_key: ApiKeyType
    key: str = strawberry.field(description="The full key. Shown once; store it now.")


@strawberry.type
class RevokeApiKeyPayload:
    api_key: ApiKeyType


@strawberry.input
class RegisterInput:
    user_name: str
    password: str
    name: str | None = None
    organization_name: str | None = strawberry.field(
        default=None, description="Create this organization; you become its superadmin.")


@strawberry.input
class ConfirmRegistrationInput:
    user_name: str
    verification_code: str


@strawberry.input
class LoginInput:
    user_name: str
    password: str


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class LogoutInput:
    all_sessions: bool = False


@strawberry.input
class UpdateProfileInput:
    name: str


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


@strawberry.input
class RequestPasswordResetInput:
    user_name: str


@strawberry.input
class ResetPasswordInput:
    user_name: str
    verification_code: str
    new_password: str


@strawberry.input
class CreateApiKeyInput:
    name: str
    expires_in_days: int | None = None


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.input
class CreateRegistrationTokenInput:
    node_name: str
    expires_in_minutes: int = 60


@strawberry.type
class RegistrationTokenPayload:
    token: str = strawberry.field(description="One-time token for the device; shown once.")
    id: strawberry.ID
    node_name: str
    expires_at: datetime


@strawberry.type
class AccountQueries:
    @strawberry.field(description="The signed-in user.", metadata=uses(Profiles.get_profile))
    async def me(self, info: Ctx) -> UserType:
        ctx = info.context
        return UserType.of(await ctx.accounts.profiles.get_profile(await ctx.caller()))

    @strawberry.field(description="The caller's organization.",
                      metadata=uses(Profiles.get_organization))
    async def organization(self, info: Ctx) -> OrganizationType:
        ctx = info.context
        return OrganizationType.of(
            await ctx.accounts.profiles.get_organization(await ctx.caller()))

    @strawberry.field(description="The organization's API keys, oldest first.",
                      metadata=uses(ApiKeys.list_api_keys))
    async def api_keys(self, info: Ctx, first: int = 20,
                       after: str | None = None) -> ApiKeyConnection:
        ctx = info.context
        anchor = None
        if after is not None and (anchor := decode_cursor(after)) is None:
            raise ValidationFailed("after is not a valid cursor", reason="invalid_cursor")
        keys, more = await ctx.accounts.api_keys.list_api_keys(await ctx.caller(), after=anchor,
                                                               limit=first)
        edges = [ApiKeyEdge(cursor=encode_cursor(k.id), node=ApiKeyType.of(k))
                 for k in keys]
        return ApiKeyConnection(edges=edges, page_info=PageInfo.of(
            [e.cursor for e in edges], has_next=more, has_previous=anchor is not None))


@strawberry.type
class AccountMutations:
    @strawberry.mutation(metadata=uses(Registration.sign_up),
                         description="Sign up; with organizationName, found a new organization.")
    async def register(self, info: Ctx, input: RegisterInput) -> RegisterPayload:
        ctx = info.context
        user = await ctx.accounts.registration.sign_up(
            await ctx.caller(), user_name=input.user_name, password=input.password,
            organization_name=input.organization_name, name=input.name)
        return RegisterPayload(user=UserType.of(user), verification_required=True)

    @strawberry.mutation(metadata=uses(Registration.confirm_sign_up))
    async def confirm_registration(self, info: Ctx,
                                   input: ConfirmRegistrationInput) -> UserPayload:
        ctx = info.context
        user = await ctx.accounts.registration.confirm_sign_up(
            ctx.anonymous(), user_name=input.user_name, code=input.verification_code)
        return UserPayload(user=UserType.of(user))

    @strawberry.mutation(metadata=uses(Sessions.login))
    async def login(self, info: Ctx, input: LoginInput) -> AuthPayload:
        ctx = info.context
        return AuthPayload.of(await ctx.accounts.sessions.login(
            ctx.anonymous(), user_name=input.user_name, password=input.password))

    @strawberry.mutation(metadata=uses(Sessions.refresh))
    async def refresh_session(self, info: Ctx, input: RefreshSessionInput) -> AuthPayload:
        ctx = info.context
        return AuthPayload.of(await ctx.accounts.sessions.refresh(
            ctx.anonymous(), refresh_token=input.refresh_token))

    @strawberry.mutation(metadata=uses(Sessions.logout))
    async def logout(self, info: Ctx, input: LogoutInput | None = None) -> OkPayload:
        ctx = info.context
        await ctx.accounts.sessions.logout(await ctx.caller(),
                                           logout_all=bool(input and input.all_sessions))
        return OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.update_profile))
    async def update_profile(self, info: Ctx, input: UpdateProfileInput) -> UserPayload:
        ctx = info.context
        user = await ctx.accounts.profiles.update_profile(await ctx.caller(), name=input.name)
        return UserPayload(user=UserType.of(user))

    @strawberry.mutation(metadata=uses(Profiles.change_password))
    async def change_password(self, info: Ctx, input: ChangePasswordInput) -> OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.change_password(
            await ctx.caller(), password=input.current_password, new_password=input.new_password)
        return OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.request_password_reset))
    async def request_password_reset(self, info: Ctx,
                                     input: RequestPasswordResetInput) -> OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.request_password_reset(ctx.anonymous(),
                                                           user_name=input.user_name)
        return OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(Profiles.reset_password))
    async def reset_password(self, info: Ctx, input: ResetPasswordInput) -> OkPayload:
        ctx = info.context
        await ctx.accounts.profiles.reset_password(
            ctx.anonymous(), user_name=input.user_name, code=input.verification_code,
            new_password=input.new_password)
        return OkPayload(ok=True)

    @strawberry.mutation(metadata=uses(ApiKeys.create_api_key))
    async def create_api_key(self, info: Ctx, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        ctx = info.context
        issued = await ctx.accounts.api_keys.create_api_key(
            await ctx.caller(), name=input.name, expires_in_days=input.expires_in_days)
        return CreateApiKeyPayload(key=issued.key, api_key=ApiKeyType.of(issued.record))

    @strawberry.mutation(metadata=uses(ApiKeys.revoke_api_key))
    async def revoke_api_key(self, info: Ctx, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        ctx = info.context
        key = await ctx.accounts.api_keys.revoke_api_key(await ctx.caller(), key_id=str(input.id))
        return RevokeApiKeyPayload(api_key=ApiKeyType.of(key))

    @strawberry.mutation(metadata=uses(Provisioning.create_registration_token),
                         description="A one-time token a device exchanges at "
                                     "POST /v1/devices/provision for its identity.")
    async def create_registration_token(self, info: Ctx, input: CreateRegistrationTokenInput
                                        ) -> RegistrationTokenPayload:
        ctx = info.context
        issued = await ctx.devices.provisioning.create_registration_token(
            await ctx.caller(), node_name=input.node_name,
            expires_in_minutes=input.expires_in_minutes)
        return RegistrationTokenPayload(token=issued.token,
                                          id=strawberry.ID(issued.record.id),
                                          node_name=issued.record.node_name,
                                          expires_at=issued.record.expires_at)
