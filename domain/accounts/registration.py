"""Use cases that create and confirm accounts and organizations."""

from __future__ import annotations

from domain.access.model import Caller, public
from domain.accounts.model import (
    END_USER,
    SUPERADMIN,
    CodePurpose,
    Organization,
    User,
    check_display_name,
    check_hostname,
    check_org_name,
    check_password_policy,
    normalize_user_name,
)
from domain.accounts.probing import Limits, throttle
from domain.accounts.verification_codes import check_code, code_message, issue_code
from domain.billing.model import Metric
from domain.errors import Conflict, NotFound, ValidationFailed
from ports.billing import QuotaCheck
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import (
    Authorizer,
    Clock,
    IdGenerator,
    Outbox,
    PasswordHasher,
    RateLimiter,
)

DEFAULT_ORG_NAME = "default"


class Registration:
    """Sign-up, confirmation and the operator's direct user creation."""

    def __init__(self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, ids: IdGenerator,
                 clock: Clock, outbox: Outbox, limiter: RateLimiter, authorizer: Authorizer,
                 limits: Limits | None = None, quotas: QuotaCheck | None = None) -> None:
        self._uow, self._hasher, self._ids, self._clock = uow, hasher, ids, clock
        self._outbox, self._limiter, self.authorizer = outbox, limiter, authorizer
        self._limits, self._quotas = limits or Limits(), quotas

    async def _org_for(self, uow: UnitOfWork, caller: Caller) -> Organization:
        """API key's org, else the org whose host name the request used, else the default."""
        if caller.principal is not None:
            org = await uow.organizations.get(caller.principal.org_id)
        elif caller.host and (by_host := await uow.organizations.get_by_hostname(caller.host)):
            org = by_host
        else:
            org = await uow.organizations.get_by_name(DEFAULT_ORG_NAME)
        if org is None:
            org = Organization(id=self._ids.new_id(), name=DEFAULT_ORG_NAME,
                               created_at=self._clock.now())
            await uow.organizations.add(org)
        return org

    @public
    async def sign_up(self, caller: Caller, *, user_name: object, password: object,
                      organization_name: object = None, name: object = None) -> User:
        """Creates an unconfirmed user and sends a verification code.

        - user names are e-mail addresses or E.164 numbers, unique in the deployment;
        - passwords follow RainMaker's policy and are stored as argon2id hashes only;
        - a confirmed user name cannot be taken again: "User account already exist"
          (RainMaker apps rely on that answer, so it stays distinct; the per-IP limit below
          bounds how many names one address can probe); an unconfirmed one is re-issued a
          code with the new password, since nobody owns it yet;
        - with organization_name a new organization is created and the user is its
          superadmin; otherwise the user joins the caller's organization as an end user;
        - attempts are rate-limited per IP and per user name (the login limits,
          FLEETGATE_LOGIN_LIMIT_PER_IP / _PER_USER), counted before the name is looked up.
        """
        normalized = normalize_user_name(user_name)
        await throttle(self._limiter, "sign_up", caller, normalized, self._limits)
        check_password_policy(password)
        assert isinstance(password, str)
        display = check_display_name(name) if name not in (None, "") else ""
        new_org = check_org_name(organization_name) if organization_name not in (None, "") else None
        password_hash = self._hasher.hash(password)
        async with self._uow(SYSTEM_SCOPE) as uow:
            existing = await uow.users.get_by_user_name(normalized)
            if existing is not None and existing.confirmed:
                raise Conflict("User account already exist", reason="user_exists")
            if new_org is not None:
                if await uow.organizations.get_by_name(new_org) is not None:
                    raise Conflict("Organization name is taken", reason="org_exists")
                if existing is not None:
                    await uow.users.delete(existing)
                    existing = None
                org = Organization(id=self._ids.new_id(), name=new_org,
                                   created_at=self._clock.now())
                await uow.organizations.add(org)
                roles = {SUPERADMIN, END_USER}
            else:
                org = await self._org_for(uow, caller)
                roles = {END_USER}
            if existing is not None:
                user = existing
                user.password_hash = password_hash
                user.name = display or user.name
                await uow.users.save(user)
            else:
                if self._quotas is not None and roles == {END_USER}:  # joins an organization
                    await self._quotas.require(uow, org.id, Metric.USERS)
                user = User(id=self._ids.new_id(), org_id=org.id, user_name=normalized,
                            password_hash=password_hash, created_at=self._clock.now(),
                            name=display, roles=roles)
                await uow.users.add(user)
            code = await issue_code(uow, user=user, purpose=CodePurpose.SIGN_UP, ids=self._ids,
                                    clock=self._clock)
            await uow.commit()
        await self._outbox.send(code_message(user, CodePurpose.SIGN_UP, code))
        return user

    @public
    async def confirm_sign_up(self, caller: Caller, *, user_name: object, code: object) -> User:
        """Confirms a user with the code sent at sign-up.

        - wrong codes count against a limit of attempts; expired codes are refused;
        - an already confirmed user gets "already verified";
        - an unknown user name answers like a wrong code, so names cannot be probed.
        """
        normalized = normalize_user_name(user_name)
        await throttle(self._limiter, "confirm", caller, normalized, self._limits)
        async with self._uow(SYSTEM_SCOPE) as uow:
            user = await uow.users.get_by_user_name(normalized)
            if user is None:
                raise ValidationFailed("Verification code is incorrect", reason="code_incorrect")
            if user.confirmed:
                raise ValidationFailed("User name already verified", reason="already_verified")
            await check_code(uow, user=user, purpose=CodePurpose.SIGN_UP, code=code,
                             clock=self._clock)
            user.confirm()
            await uow.users.save(user)
            await uow.commit()
        return user

    async def provision_user(self, *, user_name: str, password: str, superadmin: bool = False,
                             org_name: str | None = None, name: str = "") -> User:
        """Operator-only (the CLI): creates a confirmed user, optionally in a new organization.

        - an org_name that does not exist yet is created, and its first user is superadmin;
        - the password policy and user-name rules are the same as for sign-up.
        """
        normalized = normalize_user_name(user_name)
        check_password_policy(password)
        async with self._uow(SYSTEM_SCOPE) as uow:
            if await uow.users.get_by_user_name(normalized) is not None:
                raise Conflict("User account already exist", reason="user_exists")
            wanted = check_org_name(org_name) if org_name else DEFAULT_ORG_NAME
            org = await uow.organizations.get_by_name(wanted)
            roles = {END_USER}
            if org is None:
                org = Organization(id=self._ids.new_id(), name=wanted, created_at=self._clock.now())
                await uow.organizations.add(org)
                if org_name:
                    roles.add(SUPERADMIN)
            if superadmin:
                roles.add(SUPERADMIN)
            user = User(id=self._ids.new_id(), org_id=org.id, user_name=normalized,
                        password_hash=self._hasher.hash(password), created_at=self._clock.now(),
                        name=name, confirmed=True, roles=roles)
            await uow.users.add(user)
            await uow.commit()
        return user

    async def create_organization(self, *, name: str, hostname: str | None = None
                                  ) -> Organization:
        """Operator-only: a new organization; sign-ups arriving on `hostname` join it.

        - names are unique (CONFLICT), host names too.
        """
        clean = check_org_name(name)
        host = check_hostname(hostname) if hostname else None
        async with self._uow(SYSTEM_SCOPE) as uow:
            if await uow.organizations.get_by_name(clean) is not None or (
                    host and await uow.organizations.get_by_hostname(host) is not None):
                raise Conflict("Organization name or host name is taken", reason="org_exists")
            org = Organization(id=self._ids.new_id(), name=clean, hostname=host,
                               created_at=self._clock.now())
            await uow.organizations.add(org)
            await uow.commit()
        return org

    async def find_organization(self, name: str) -> Organization:
        """Operator-only: an organization by name (NOT_FOUND when there is none)."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            org = await uow.organizations.get_by_name(name)
        require_found(org, "Organization")
        assert org is not None
        return org

    async def ensure_default_organization(self) -> Organization:
        """Operator-only: the organization that sign-ups join when nothing selects another."""
        async with self._uow(SYSTEM_SCOPE) as uow:
            org = await uow.organizations.get_by_name(DEFAULT_ORG_NAME)
            if org is None:
                org = Organization(id=self._ids.new_id(), name=DEFAULT_ORG_NAME,
                                   created_at=self._clock.now())
                await uow.organizations.add(org)
                await uow.commit()
        return org


def require_found(value: object, what: str) -> None:
    if value is None:
        raise NotFound(f"{what} does not exist", reason="not_found")
