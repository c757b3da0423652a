"""The sharing engine, the same for both kinds of request (nodes and groups): the sender
offers, the receiver accepts or declines, the sender cancels, either lists. A kind
(NodeSharing, GroupSharing) says only what differs: which items a sender may offer, whether
the receiver reaches them already, what accepting grants and which events follow."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from domain.access.model import Caller
from domain.accounts.model import normalize_user_name
from domain.devices.model import PRIMARY
from domain.errors import NotFound, ValidationFailed
from domain.identifiers import is_record_id
from domain.jsonshape import nesting_exceeds
from domain.sharing.model import (
    ACCEPTED,
    CANCELLED,
    DECLINED,
    DEFAULT_SHARING_TTL_SECONDS,
    GROUP_KIND,
    NEW_ROLES,
    NODE_KIND,
    SharingRequest,
)
from ports.events import EventPublisher
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator

MAX_REQUESTS_PAGE = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPage:
    requests: list[SharingRequest]
    next_request_id: str | None = None
    next_user_name: str | None = None
    group_names: dict[str, str] = field(default_factory=dict)
    """For group requests: the name of every group they name (a deleted group has none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SharingWords:
    """How one kind of request reads in errors (RainMaker words them per kind)."""

    noun: str
    """"node" or "group"."""
    prefix: str
    """What the kind's error reasons start with ("" or "group_")."""

    def reason(self, tail: str) -> str:
        return f"{self.prefix}{tail}"


NODE_WORDS = SharingWords(noun="node", prefix="")
GROUP_WORDS = SharingWords(noun="group", prefix="group_")


def check_request_id(request_id: object, words: SharingWords) -> str:
    if not isinstance(request_id, str) or not request_id:
        raise ValidationFailed("Error RequestId is missing",
                               reason=words.reason("sharing_request_id_missing"))
    if not is_record_id(request_id):
        raise ValidationFailed("Error, invalid request_id", reason="invalid_body")
    return request_id


def check_new_role(new_role: object, transfer: bool, words: SharingWords) -> str | None:
    """What a transferring sender keeps (secondary, none); only with transfer."""
    if new_role is not None and not transfer:
        raise ValidationFailed("Please specify transfer:true when new_role is specified",
                               reason=words.reason("sharing_new_role_needs_transfer"))
    if new_role is not None and new_role not in NEW_ROLES:
        raise ValidationFailed("Invalid new role specified, [Valid values are secondary, "
                               "none]", reason=words.reason("sharing_invalid_new_role"))
    return str(new_role) if new_role is not None and transfer else None


async def other_user(uow: UnitOfWork, user_name: object, caller_id: str,
                     words: SharingWords) -> tuple[str, str]:
    """(id, user name) of the user named, in the caller's organization; an unknown user and
    one of another organization are the same answer."""
    if not isinstance(user_name, str) or not user_name.strip():
        raise ValidationFailed("User name is missing",
                               reason=words.reason("sharing_user_name_missing"))
    unknown = NotFound("User does not exist for sharing",
                       reason=words.reason("sharing_user_not_found"))
    try:
        normalized = normalize_user_name(user_name)
    except ValidationFailed as exc:
        raise unknown from exc
    user = await uow.users.get_by_user_name(normalized)
    if user is None:
        raise unknown
    if user.id == caller_id:
        raise ValidationFailed(f"Self {words.noun} sharing operations [add/remove] are not "
                               "allowed.", reason=words.reason("sharing_self"))
    return user.id, user.user_name


def visible_people(roles: Iterable[tuple[str, str]], caller_role: str | None
                   ) -> tuple[list[str], list[str]]:
    """(primaries, secondaries) by name from (role, name) pairs: a secondary caller sees
    no other secondaries."""
    pairs = list(roles)
    primaries = sorted(name for role, name in pairs if role == PRIMARY)
    secondaries = sorted(name for role, name in pairs if role != PRIMARY) \
        if caller_role == PRIMARY else []
    return primaries, secondaries


def upgrade_needed(current_role: str | None, role: str) -> bool:
    """Whether granting `role` changes a current grant: sharing never demotes a primary."""
    return current_role is None or (current_role != role and current_role != PRIMARY)


class SharingEngine:
    """The requests of one kind, for the use cases that own that kind. A kind implements
    _check_offer, _reached, _apply and _announce."""

    kind: ClassVar[str] = NODE_KIND
    words: ClassVar[SharingWords] = NODE_WORDS

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, events: EventPublisher,
                 ttl_seconds: int = DEFAULT_SHARING_TTL_SECONDS) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._events, self._ttl = events, ttl_seconds

    # what a kind says -------------------------------------------------------------------

    async def _check_offer(self, uow: UnitOfWork, item_ids: list[str], user_id: str, *,
                           transfer: bool) -> Any:
        """Raises unless the user may offer these items; returns what _announce needs."""
        raise NotImplementedError

    async def _reached(self, uow: UnitOfWork, request: SharingRequest) -> bool:
        """The receiver reaches every item already (then no approval is needed)."""
        raise NotImplementedError

    async def _apply(self, uow: UnitOfWork, request: SharingRequest, now: datetime) -> None:
        """Grants what an accepted request offers, in the same transaction."""
        raise NotImplementedError

    async def _announce(self, request: SharingRequest, user_name: str, now: datetime,
                        offered: Any) -> None:
        """Publishes the events of a granted request, once committed (offered: what
        _check_offer returned, None after a response)."""
        raise NotImplementedError

    # the machinery ----------------------------------------------------------------------

    async def _receiver(self, uow: UnitOfWork, user_name: object, caller_id: str
                        ) -> tuple[str, str]:
        return await other_user(uow, user_name, caller_id, self.words)

    async def _target(self, uow: UnitOfWork, user_name: object, caller_id: str) -> str:
        """The user whose access an unshare removes: another user, or the caller itself."""
        try:
            return (await self._receiver(uow, user_name, caller_id))[0]
        except ValidationFailed as exc:
            if exc.reason != self.words.reason("sharing_self"):
                raise
            return caller_id

    async def _offer(self, caller: Caller, items: object, check: Callable[[object], list[str]],
                     **offer: object) -> SharingRequest:
        """A pending request offering the items (`check` reads their ids), granted at once
        when the receiver reaches them all already; nothing is written when any rule fails.
        `offer`: user_name, primary, metadata, transfer and new_role, as the API gave them."""
        principal, user_id = caller.require_user()
        item_ids = check(items)
        user_name, primary, metadata, transfer, new_role = (
            offer.get(k) for k in ("user_name", "primary", "metadata", "transfer", "new_role"))
        if not isinstance(primary, bool) or not isinstance(transfer, bool):
            raise ValidationFailed("primary and transfer must be true or false",
                                   reason="invalid_body")
        role_after = check_new_role(new_role, transfer, self.words)
        if metadata is not None and (not isinstance(metadata, dict)
                                     or nesting_exceeds(metadata, 8)):
            raise ValidationFailed("metadata must be a JSON object", reason="invalid_body")
        now = self._clock.now()
        nodes = self.kind == NODE_KIND
        async with self._uow(principal.org_id) as uow:
            offered = await self._check_offer(uow, item_ids, user_id, transfer=transfer)
            to_id, to_name = await self._receiver(uow, user_name, user_id)
            request = SharingRequest(
                id=self._ids.new_id(), org_id=principal.org_id, from_user_id=user_id,
                to_user_id=to_id, node_ids=item_ids if nodes else [],
                group_ids=[] if nodes else item_ids, kind=self.kind, created_at=now,
                expires_at=now + timedelta(seconds=self._ttl) if self._ttl else None,
                primary=primary, transfer=transfer, new_role=role_after, metadata=metadata)
            applied_at_once = await self._reached(uow, request)
            if applied_at_once:
                request.settle(ACCEPTED, now)
                await self._apply(uow, request, now)
            await uow.sharing_requests.add(request)
            await uow.commit()
        request.from_user_name, request.to_user_name = principal.user_name or "", to_name
        if applied_at_once:
            await self._announce(request, to_name, now, offered)
        return request

    async def _mine(self, uow: UnitOfWork, request_id: str) -> SharingRequest | None:
        request = await uow.sharing_requests.get(request_id)
        return request if request is not None and request.kind == self.kind else None

    def _not_found(self) -> NotFound:
        return NotFound(f"{self.words.noun.capitalize()} sharing request not found",
                        reason=self.words.reason("sharing_request_not_found"))

    async def _respond(self, caller: Caller, request_id: object, accept: object
                       ) -> SharingRequest:
        """The receiver settles a pending request (anyone else: NOT_FOUND; one no longer
        pending: VALIDATION); accepting grants what it offers, in the same transaction."""
        principal, user_id = caller.require_user()
        checked = check_request_id(request_id, self.words)
        if not isinstance(accept, bool):
            raise ValidationFailed("Specify accept parameter correctly. Valid values are "
                                   "[true/false]",
                                   reason=self.words.reason("sharing_accept_invalid"))
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            request = await self._mine(uow, checked)
            if request is None or request.to_user_id != user_id:
                raise self._not_found()
            request.settle(ACCEPTED if accept else DECLINED, now)
            if accept:
                await self._apply(uow, request, now)
            await uow.sharing_requests.save(request)
            await uow.commit()
        if request.status == ACCEPTED:
            await self._announce(request, principal.user_name or "",
                                 request.settled_at or self._clock.now(), None)
        return request

    async def _cancel(self, caller: Caller, request_id: object) -> SharingRequest:
        """The sender withdraws a pending request (anyone else: NOT_FOUND; a declined one
        cannot be removed, nor one accepted, cancelled or expired: VALIDATION)."""
        principal, user_id = caller.require_user()
        checked = check_request_id(request_id, self.words)
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            request = await self._mine(uow, checked)
            if request is None or request.from_user_id != user_id:
                raise self._not_found()
            if request.status == DECLINED:
                raise ValidationFailed("Error occurred while removing request as it was "
                                       "declined by the user",
                                       reason=self.words.reason("sharing_cancel_declined"))
            request.settle(CANCELLED, now)
            await uow.sharing_requests.save(request)
            await uow.commit()
        return request

    async def _page(self, caller: Caller, *, sent: bool, request_id: object,
                    start_request_id: object, num_records: int) -> RequestPage:
        """Requests the caller sent (sent=True) or received, ordered by id, a page at a time
        (start_request_id: the previous page's next_request_id; 1..10 per page), or the one
        request_id names; statuses as of now (past its expiry a pending one reads expired)."""
        principal, user_id = caller.require_user()
        if not 1 <= num_records <= MAX_REQUESTS_PAGE:
            raise ValidationFailed("num_records must be 1..10", reason="invalid_page")
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            if request_id is not None:
                one = await self._mine(uow, check_request_id(request_id, self.words))
                if one is None or user_id not in (one.from_user_id, one.to_user_id):
                    raise self._not_found()
                found: list[SharingRequest] = [one]
            else:
                start = start_request_id if isinstance(start_request_id, str) \
                    and is_record_id(start_request_id) else None
                found = list(await uow.sharing_requests.page(
                    user_id, sent=sent, start_id=start, limit=num_records + 1,
                    kind=self.kind))
            names: dict[str, str] = {}
            for request in found:
                for uid in (request.from_user_id, request.to_user_id):
                    if uid not in names:
                        user = await uow.users.get(uid)
                        names[uid] = user.user_name if user is not None else ""
            group_names: dict[str, str] = {}
            if self.kind == GROUP_KIND:
                wanted = sorted({g for r in found for g in r.group_ids})
                group_names = {g.id: g.name for g in await uow.groups.get_many(wanted)}
        for request in found:
            request.status = request.status_at(now)
            request.from_user_name = names[request.from_user_id]
            request.to_user_name = names[request.to_user_id]
        page, more = found[:num_records], found[num_records:]
        if not more:
            return RequestPage(requests=page, group_names=group_names)
        following = more[0]
        return RequestPage(requests=page, next_request_id=following.id,
                           next_user_name=following.to_user_name if sent
                           else following.from_user_name, group_names=group_names)
