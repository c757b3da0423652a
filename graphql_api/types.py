"""GraphQL types: thin DTOs built from domain objects."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain.accounts.model import ApiKey, User
from domain.accounts.profile import OrganizationView
from domain.accounts.tokens import SessionTokens
from domain.billing.service import Billing
from graphql_api.context import Ctx, uses

if TYPE_CHECKING:
    from graphql_api.billing import SubscriptionType, UsageType


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
    async def subscription(self, info: Ctx) -> Annotated[
            SubscriptionType, strawberry.lazy("graphql_api.billing")]:
        from graphql_api.billing import organization_subscription

        return await organization_subscription(info)

    @strawberry.field(description="What the organization uses against each quota of its plan.",
                      metadata=uses(Billing.usage))
    async def usage(self, info: Ctx) -> Annotated[
            UsageType, strawberry.lazy("graphql_api.billing")]:
        from graphql_api.billing import organization_usage

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


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(f"k:{value}".encode()).decode()


def decode_cursor(cursor: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return raw[2:] if raw.startswith("k:") and 0 < len(raw) <= 66 else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], *, has_next: bool, has_previous: bool) -> PageInfo:
        """The page info of a page whose edges carry these cursors, in order."""
        return cls(has_next_page=has_next, has_previous_page=has_previous,
                   start_cursor=cursors[0] if cursors else None,
                   end_cursor=cursors[-1] if cursors else None)


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
class OkPayload:
    ok: bool


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
