"""Use cases of organization admins on the users of their organization (RainMaker's
/v1/admin/user2): create, change built-in roles, list, delete, count the active ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.access.model import Caller, Principal, requires, user_subject
from domain.access.permissions import ADMIN_USERS, ADMIN_USERS_SUMMARY
from domain.access.rbac.model import AuditEntry, actor_of, level_of
from domain.accounts.admin_requests import (
    DEFAULT_PAGE,
    check_page,
    parse_epoch,
    parse_flag,
    parse_role_names,
    refuse_self,
    role_flag_changes,
    user_query,
)
from domain.accounts.model import (
    ADMIN,
    END_USER,
    SUPERADMIN,
    CodePurpose,
    User,
    normalize_user_name,
)
from domain.accounts.verification_codes import issue_code
from domain.billing.model import Metric
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ports.access import UserRoles
from ports.billing import QuotaCheck
from ports.repositories.uow import SYSTEM_SCOPE, UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator, Outbox, OutgoingMessage, PasswordHasher
from ports.signals import SessionSignals, announce


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPage:
    users: Sequence[User]
    total: int  # every user the filters match, on all pages
    next_id: str | None  # start_id of the next page, None on the last one


class AdminUsers:
    """The users of the caller's organization, as its admins and superadmins manage them.

    Another organization's users are never seen: every unit of work is scoped to the
    caller's organization, so they answer like unknown ones.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 hasher: PasswordHasher, outbox: Outbox, authorizer: Authorizer,
                 roles: UserRoles, quotas: QuotaCheck | None = None,
                 signals: SessionSignals | None = None) -> None:
        self.uow, self.ids, self.clock, self.hasher = uow, ids, clock, hasher
        self.outbox, self.authorizer, self.quotas = outbox, authorizer, quotas
        self.roles, self.signals = roles, signals

    async def _audit(self, uow: UnitOfWork, actor: Principal, action: str, user: User,
                     before: object, after: object) -> None:
        subject, name = actor_of(actor)
        await uow.access.add_audit(AuditEntry(
            id=self.ids.new_id(), org_id=user.org_id, at=self.clock.now(), actor=subject,
            actor_name=name, action=action, target=user.user_name, before=before,
            after=after))

    @requires(ADMIN_USERS, "POST")
    async def create_user(self, caller: Caller, *, user_name: object, super_admin: object = None,
                          admin: object = None, roles: object = None) -> User:
        """Creates a user of the caller's organization and mails them a code to set a password.

        - user names are e-mail addresses or E.164 numbers, unique in the deployment: one
          taken in the caller's organization is "User account already exist"; one taken in
          another organization gets the answer a fresh address gets, after the same work
          (the creation is rehearsed and rolled back), so organizations cannot probe each
          other's addresses: nothing is created, and the address's owner is mailed that an
          administrator elsewhere tried (issue 15 item 9);
        - the account is confirmed (the admin vouches for the address) but has a random
          password nobody knows: the mailed code is a password-reset code, used with
          PUT /v1/forgotpassword2 (user_name, verification_code, password); when it has
          expired, forgotpassword2 with the user name alone sends a new one;
        - super_admin adds role superadmin, admin adds admin, roles adds those roles; each
          through change_user_roles, so only holders of a strictly lower level may give them
          (an admin cannot create admins or superadmins);
        - the creation and the role grant are audited.
        """
        principal = caller.require_principal()
        normalized = normalize_user_name(user_name)
        wanted = set(parse_role_names(roles))
        if parse_flag(super_admin, "super_admin"):
            wanted.add(SUPERADMIN)
        if parse_flag(admin, "admin"):
            wanted.add(ADMIN)
        wanted.discard(END_USER)  # every user holds it already
        async with self.uow(SYSTEM_SCOPE) as everywhere:
            taken = await everywhere.users.get_by_user_name(normalized)
        if taken is not None and taken.org_id == principal.org_id:
            raise Conflict("User account already exist", reason="user_exists")
        user = User(id=self.ids.new_id(), org_id=principal.org_id, user_name=normalized,
                    password_hash=self.hasher.hash(self.ids.secret()),
                    created_at=self.clock.now(), confirmed=True, roles={END_USER})
        # taken elsewhere: the same checks and writes on a stand-in name, then rolled back
        stored = user if taken is None else User(
            id=user.id, org_id=user.org_id, user_name=f"{user.id}@rehearsal.invalid",
            password_hash=user.password_hash, created_at=user.created_at, confirmed=True,
            roles={END_USER})
        async with self.uow(principal.org_id) as uow:
            if self.quotas is not None:
                await self.quotas.require(uow, principal.org_id, Metric.USERS)
            await uow.users.add(stored)
            await self._audit(uow, principal, "user.create", stored, None,
                              {"roles": sorted(stored.roles)})
            if wanted:
                await self.roles.change(uow, actor=principal, user=stored, add=sorted(wanted),
                                        audit_id=self.ids.new_id(), now=self.clock.now())
            code = await issue_code(uow, user=stored, purpose=CodePurpose.RESET_PASSWORD,
                                    ids=self.ids, clock=self.clock)
            if taken is None:
                await uow.commit()
        if taken is not None:
            await self.outbox.send(OutgoingMessage(
                org_id=taken.org_id, to=taken.user_name, subject="Your Fleetgate account",
                body="An administrator of another organization tried to create a Fleetgate "
                     "account for this address. You have one already, so nothing changed; "
                     "if you expected this, tell them.",
                kind="account_exists"))
            user.roles = set(stored.roles)
            return user
        await self.outbox.send(OutgoingMessage(
            org_id=user.org_id, to=user.user_name, subject="Your Fleetgate account",
            body=f"An administrator created a Fleetgate account for you. Your verification "
                 f"code is {code}. Choose your password with it (forgot password); it is valid "
                 "for one hour, after which you can ask for a new one the same way.",
            kind="account_created"))
        return user

    async def _find(self, uow: UnitOfWork, user_name: object) -> User:
        user = await uow.users.get_by_user_name(normalize_user_name(user_name))
        if user is None:
            raise NotFound("User does not exist", reason="user_not_found")
        return user

    @requires(ADMIN_USERS, "PUT")
    async def update_user(self, caller: Caller, *, user_name: object, super_admin: object = None,
                          admin: object = None, roles: object = None) -> User:
        """Grants or takes away the built-in roles of a user of the organization.

        - super_admin true: the user becomes superadmin (an admin loses admin); already one:
          "already a superadmin" (101083); false: loses superadmin, refused when the user is
          none (101081) or the organization's last one;
        - admin true: the user becomes admin (a superadmin is downgraded to admin); already
          one: 101084; false: loses admin, refused when the user is none (101082);
          super_admin true takes precedence over admin;
        - roles attach those roles (they are not removed by omission);
        - nothing to change: 101080; the caller's own roles: self-operations are prohibited;
        - level rules of change_user_roles apply (an admin touches no admin nor superadmin).
        """
        principal = caller.require_principal()
        set_super, set_admin = parse_flag(super_admin, "super_admin"), parse_flag(admin, "admin")
        extra = parse_role_names(roles)
        if set_super is None and set_admin is None and not extra:
            raise ValidationFailed("Please specify either admin or super_admin",
                                   reason="no_role_change")
        async with self.uow(principal.org_id) as uow:
            user = await self._find(uow, user_name)
            refuse_self(principal, user)
            add, remove = role_flag_changes(user, set_super, set_admin)
            add |= {r for r in extra if r not in user.roles}
            if add or remove:
                await self.roles.change(uow, actor=principal, user=user, add=sorted(add),
                                        remove=sorted(remove), audit_id=self.ids.new_id(),
                                        now=self.clock.now())
                await uow.commit()
        if add or remove:  # a live connection may have lost what it needs
            await announce(self.signals, user_subject(user.id))
        return user

    @requires(ADMIN_USERS, "GET")
    async def get_users(self, caller: Caller, *, user_name: object = None, user_id: object = None,
                        all_users: bool = False, admin: bool = False, superadmin: bool = False,
                        start_id: object = None, num_records: object = DEFAULT_PAGE) -> UserPage:
        """A page of the organization's users, by user name.

        - by default the internal users (holding a role besides the end-user one); all: every
          user; admin: the admins; superadmin: the superadmins (admin and superadmin
          together: either);
        - only superadmins see superadmins: others never get them listed, and asking for
          them is forbidden;
        - user_name matches user names starting with it, user_id one user (both: both must
          hold); either one also lists end users;
        - num_records is 1..100 (25 by default); start_id is the next_id of the page before.
        """
        principal = caller.require_principal()
        limit, start = check_page(num_records, start_id)
        sees_superadmins = SUPERADMIN in principal.roles
        if superadmin and not sees_superadmins:
            raise Forbidden("Admins are not allowed to fetch superadmin users",
                            reason="forbidden")
        query = user_query(user_name, user_id, all_users=all_users, admin=admin,
                           superadmin=superadmin, sees_superadmins=sees_superadmins)
        async with self.uow(principal.org_id) as uow:
            found, total = await uow.users.page(query, start=start, limit=limit + 1)
        following = found[limit].user_name if len(found) > limit else None
        return UserPage(users=found[:limit], total=total, next_id=following)

    @requires(ADMIN_USERS, "DELETE")
    async def delete_user(self, caller: Caller, *, user_name: object) -> None:
        """Deletes a user of the organization with their sessions, codes and roles.

        - superadmins cannot be deleted ("Super-admin user deletion is restricted!");
        - nobody deletes their own account here (self-operations are prohibited; users
          delete themselves through DELETE /v1/user2 and its mailed code);
        - a user holding a role with a level needs a caller of strictly lower level (admins
          cannot delete admins);
        - unlike RainMaker's request / verification_code two-step, the deletion is
          immediate: the caller is already authenticated as an admin of the organization;
        - the deletion is audited; the user's live connections (subscriptions) close at once.
        """
        principal = caller.require_principal()
        normalized = normalize_user_name(user_name)
        async with self.uow(principal.org_id) as uow:
            user = await uow.users.get_by_user_name(normalized)
            if user is None:
                raise NotFound("User does not exist", reason="delete_user_not_found")
            refuse_self(principal, user)
            user.ensure_deletable()
            levels = await self.roles.levels(uow)
            target = level_of(user.roles, levels)
            if target is not None:
                mine = level_of(principal.roles, levels)
                if mine is None or (mine != 0 and mine >= target):
                    raise Forbidden("Current user does not have role sufficient to delete "
                                    "this user", reason="role_level_insufficient")
            await self._audit(uow, principal, "user.delete", user,
                              {"roles": sorted(user.roles)}, None)
            await uow.users.delete(user)
            await uow.commit()
        await announce(self.signals, user_subject(user.id))

    @requires(ADMIN_USERS_SUMMARY, "GET")
    async def active_count(self, caller: Caller, *, start_time: object) -> int:
        """How many distinct users of the organization signed in at or after start_time.

        - start_time is in epoch seconds ("Invalid start time" otherwise);
        - a sign-in is a session: refreshing tokens is not a new one.
        """
        principal = caller.require_principal()
        since = parse_epoch(start_time)
        async with self.uow(principal.org_id) as uow:
            return await uow.users.count_signed_in_since(since)
