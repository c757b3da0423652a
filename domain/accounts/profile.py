"""Use cases on the signed-in user's own account: profile, password, deletion."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access.model import Caller, public, requires, user_subject
from domain.access.permissions import ORGANIZATION, PASSWORD, PROFILE
from domain.accounts.model import (
    CodePurpose,
    Organization,
    User,
    check_password_policy,
    normalize_user_name,
)
from domain.accounts.probing import Limits, answer_after, throttle
from domain.accounts.verification_codes import check_code, code_message, issue_code, wrong_code
from domain.errors import NotFound, Unauthenticated, ValidationFailed
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator, Outbox, PasswordHasher, RateLimiter
from ports.signals import SessionSignals, announce


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganizationView:
    organization: Organization
    user_count: int


async def _load_self(uow: UnitOfWork, user_id: str) -> User:
    user = await uow.users.get(user_id)
    if user is None:
        raise Unauthenticated("You were logged out, please login again", reason="session_ended")
    return user


class Profiles:
    """The signed-in user's own profile, password and account."""

    def __init__(self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, ids: IdGenerator,
                 clock: Clock, outbox: Outbox, limiter: RateLimiter, authorizer: Authorizer,
                 limits: Limits | None = None, signals: SessionSignals | None = None) -> None:
        self._uow, self._hasher, self._ids, self._clock = uow, hasher, ids, clock
        self._signals = signals
        self._outbox, self._limiter, self.authorizer = outbox, limiter, authorizer
        self._limits = limits or Limits()

    @requires(PROFILE, "GET")
    async def get_profile(self, caller: Caller) -> User:
        """The caller's own user record (never another user's)."""
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            return await _load_self(uow, user_id)

    @requires(PROFILE, "PUT")
    async def update_profile(self, caller: Caller, *, name: object) -> User:
        """Sets the caller's display name (1..256 printable characters)."""
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            user = await _load_self(uow, user_id)
            user.rename(name)
            await uow.users.save(user)
            await uow.commit()
        return user

    @requires(PASSWORD, "PUT")
    async def change_password(self, caller: Caller, *, password: object,
                              new_password: object) -> None:
        """Changes the caller's password and ends all of their sessions.

        - the current password must be given and right (attempts are rate-limited);
        - the new one follows the password policy;
        - the user's live connections (subscriptions) are closed at once, on every replica.
        """
        principal, user_id = caller.require_user()
        if new_password in (None, ""):
            raise ValidationFailed("New Password is missing", reason="new_password_missing")
        check_password_policy(new_password)
        assert isinstance(new_password, str)
        await throttle(self._limiter, "password", caller, principal.user_name, self._limits)
        async with self._uow(principal.org_id) as uow:
            user = await _load_self(uow, user_id)
            if not isinstance(password, str) or not self._hasher.verify(user.password_hash,
                                                                         password):
                raise ValidationFailed("The password you entered is incorrect",
                                       reason="wrong_password")
            user.password_hash = self._hasher.hash(new_password)
            await uow.users.save(user)
            await uow.sessions.revoke_all_for_user(user.id, self._clock.now())
            await uow.commit()
        await announce(self._signals, user_subject(user.id))

    @public
    async def request_password_reset(self, caller: Caller, *, user_name: object) -> None:
        """Sends a reset code to a confirmed user.

        - rate-limited per IP and per user name;
        - an unknown or unconfirmed user name gets the same answer, and nothing is mailed;
          every answer takes at least ANSWER_FLOOR_SECONDS, so neither the answer nor its
          timing tells whether the address has an account (issue 15 item 9).
        """
        normalized = normalize_user_name(user_name)
        await throttle(self._limiter, "forgot", caller, normalized, self._limits)
        async with answer_after():  # the transaction ends before the wait
            async with self._uow(SYSTEM_SCOPE) as uow:
                user = await uow.users.get_by_user_name(normalized)
                if user is None or not user.confirmed:
                    return
                code = await issue_code(uow, user=user, purpose=CodePurpose.RESET_PASSWORD,
                                        ids=self._ids, clock=self._clock)
                await uow.commit()
            await self._outbox.send(code_message(user, CodePurpose.RESET_PASSWORD, code))

    @public
    async def reset_password(self, caller: Caller, *, user_name: object, code: object,
                             new_password: object) -> None:
        """Sets a new password with a reset code and ends every session of the user.

        - wrong codes count against a limit of attempts; the code works once;
        - an unknown or unconfirmed user name answers like a wrong code; those answers take at
          least ANSWER_FLOOR_SECONDS, so their timing does not tell the two apart.
        """
        normalized = normalize_user_name(user_name)
        await throttle(self._limiter, "forgot", caller, normalized, self._limits)
        if new_password in (None, ""):
            raise ValidationFailed("Password is missing", reason="password_missing")
        check_password_policy(new_password)
        assert isinstance(new_password, str)
        async with answer_after(), self._uow(SYSTEM_SCOPE) as uow:
            user = await uow.users.get_by_user_name(normalized)
            if user is None or not user.confirmed:
                raise wrong_code()
            await check_code(uow, user=user, purpose=CodePurpose.RESET_PASSWORD, code=code,
                             clock=self._clock)
            user.password_hash = self._hasher.hash(new_password)
            await uow.users.save(user)
            await uow.sessions.revoke_all_for_user(user.id, self._clock.now())
            await uow.commit()
        await announce(self._signals, user_subject(user.id))

    @requires(PROFILE, "DELETE")
    async def request_account_deletion(self, caller: Caller) -> None:
        """Sends the caller a code that confirms deleting their account.

        - superadmins cannot delete themselves (an organization must keep one).
        """
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            user = await _load_self(uow, user_id)
            user.ensure_deletable()
            code = await issue_code(uow, user=user, purpose=CodePurpose.DELETE_ACCOUNT,
                                    ids=self._ids, clock=self._clock)
            await uow.commit()
        await self._outbox.send(code_message(user, CodePurpose.DELETE_ACCOUNT, code))

    @requires(PROFILE, "DELETE")
    async def confirm_account_deletion(self, caller: Caller, *, code: object) -> None:
        """Deletes the caller's account with the code from request_account_deletion.

        - without a pending request: "No delete request exists for the user";
        - the account, its sessions, codes and roles go in one transaction.
        """
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            user = await _load_self(uow, user_id)
            user.ensure_deletable()
            if await uow.codes.latest(user.id, CodePurpose.DELETE_ACCOUNT.value) is None:
                raise ValidationFailed("No delete request exists for the user",
                                       reason="no_delete_request")
            await check_code(uow, user=user, purpose=CodePurpose.DELETE_ACCOUNT, code=code,
                             clock=self._clock)
            await uow.users.delete(user)
            await uow.commit()
        await announce(self._signals, user_subject(user.id))

    @requires(ORGANIZATION, "GET")
    async def get_organization(self, caller: Caller) -> OrganizationView:
        """The caller's organization (users and API keys see only their own)."""
        principal = caller.require_principal()
        async with self._uow(principal.org_id) as uow:
            org = await uow.organizations.get(principal.org_id)
            if org is None:
                raise NotFound("Organization does not exist", reason="not_found")
            return OrganizationView(organization=org, user_count=await uow.users.count())
