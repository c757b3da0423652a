"""Who is calling and what a use case needs: principals and permissions.

A permission is the canonical REST path as the resource (a constant of permissions.py) and the
HTTP method as the action, so one policy governs a REST route and its GraphQL equivalent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from domain.errors import Unauthenticated, ValidationFailed


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"


REQUEST_PRINCIPAL = "fleetgate.principal"
"""Where an HTTP request's scope keeps (token, Principal) once its token was authenticated,
so the rate limiter, REST and GraphQL authenticate a request once."""

@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    kind: PrincipalKind
    org_id: str
    roles: frozenset[str]
    user_id: str | None = None
    user_name: str | None = None
    api_key_id: str | None = None
    session_id: str | None = None

    @property
    def subject(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"apikey:{self.api_key_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """The principal (if signed in) and where the request came from (rate limits, org choice)."""

    principal: Principal | None = None
    ip: str = "unknown"
    host: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("Authentication required", reason="missing_token")
        return self.principal

    def require_user(self) -> tuple[Principal, str]:
        """The principal and its user id; API keys act for an organization, not a user."""
        principal = self.require_principal()
        if principal.user_id is None:
            raise ValidationFailed("This operation needs a signed-in user, not an API key",
                                   reason="not_a_user")
        return principal, principal.user_id


def user_subject(user_id: str) -> str:
    """How a user is named as a principal (as Principal.subject does; ports.signals)."""
    return f"user:{user_id}"


def api_key_subject(key_id: str) -> str:
    """How an API key is named as a principal (as Principal.subject does; ports.signals)."""
    return f"apikey:{key_id}"


@dataclass(frozen=True, slots=True)
class Permission:
    resource: str
    action: str


P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")  # a use-case class: it holds the ports.services.Authorizer as .authorizer
UseCase = Callable[Concatenate[S, Caller, P], Awaitable[R]]


def requires(resource: str, action: str) -> Callable[[UseCase[S, P, R]], UseCase[S, P, R]]:
    """Declares the permission a use case needs and checks it through the Authorizer first."""
    permission = Permission(resource, action)

    def decorate(fn: UseCase[S, P, R]) -> UseCase[S, P, R]:
        @wraps(fn)
        async def run(self: S, caller: Caller, *args: P.args, **kwargs: P.kwargs) -> R:
            await cast(Any, self).authorizer.authorize(caller.require_principal(), permission)
            return await fn(self, caller, *args, **kwargs)

        run.__permission__ = permission  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def public(fn: UseCase[S, P, R]) -> UseCase[S, P, R]:
    """Marks a use case reachable without signing in (sign-up, login, password reset)."""
    fn.__public__ = True  # type: ignore[attr-defined]
    return fn


def declared_access(fn: object) -> Permission | str | None:
    """What a use case declares: its Permission, "public", or None when it declares nothing."""
    permission = getattr(fn, "__permission__", None)
    if isinstance(permission, Permission):
        return permission
    if getattr(fn, "__public__", False):
        return "public"
    return None
