"""Settling and listing sharing requests, the same for both kinds (nodes and groups): the
receiver accepts or declines, the sender cancels, either lists. What accepting grants is the
caller's (NodeSharing, GroupSharing); this book only keeps the request's life cycle."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from domain.access.model import Principal
from domain.errors import NotFound, ValidationFailed
from domain.identifiers import is_record_id
from domain.sharing.model import ACCEPTED, CANCELLED, DECLINED, GROUP_KIND, SharingRequest
from ports.repositories import UnitOfWork, UnitOfWorkFactory
from ports.services import Clock

MAX_REQUESTS_PAGE = 10
Apply = Callable[[UnitOfWork, SharingRequest, datetime], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPage:
    requests: list[SharingRequest]
    next_request_id: str | None = None
    next_user_name: str | None = None
    group_names: dict[str, str] = field(default_factory=dict)
    """For group requests: the name of every group they name (a deleted group has none)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestWords:
    """How one kind of request reads in errors (RainMaker words them per kind)."""

    not_found: str
    not_found_reason: str
    id_missing_reason: str
    accept_reason: str
    declined_reason: str


def check_request_id(request_id: object, missing_reason: str) -> str:
    if not isinstance(request_id, str) or not request_id:
        raise ValidationFailed("Error RequestId is missing", reason=missing_reason)
    if not is_record_id(request_id):
        raise ValidationFailed("Error, invalid request_id", reason="invalid_body")
    return request_id


class RequestBook:
    """The requests of one kind, for the use cases that own that kind."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, kind: str,
                 words: RequestWords) -> None:
        self._uow, self._clock, self.kind, self._words = uow, clock, kind, words

    async def _mine(self, uow: UnitOfWork, request_id: str) -> SharingRequest | None:
        request = await uow.sharing_requests.get(request_id)
        return request if request is not None and request.kind == self.kind else None

    def _not_found(self) -> NotFound:
        return NotFound(self._words.not_found, reason=self._words.not_found_reason)

    async def respond(self, principal: Principal, user_id: str, request_id: object,
                      accept: object, apply: Apply) -> SharingRequest:
        """The receiver settles a pending request (anyone else: NOT_FOUND; one no longer
        pending: VALIDATION); `apply` grants what it offers, in the same transaction."""
        checked = check_request_id(request_id, self._words.id_missing_reason)
        if not isinstance(accept, bool):
            raise ValidationFailed("Specify accept parameter correctly. Valid values are "
                                   "[true/false]", reason=self._words.accept_reason)
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            request = await self._mine(uow, checked)
            if request is None or request.to_user_id != user_id:
                raise self._not_found()
            request.settle(ACCEPTED if accept else DECLINED, now)
            if accept:
                await apply(uow, request, now)
            await uow.sharing_requests.save(request)
            await uow.commit()
        return request

    async def cancel(self, principal: Principal, user_id: str, request_id: object
                     ) -> SharingRequest:
        """The sender withdraws a pending request (anyone else: NOT_FOUND; a declined one
        cannot be removed, nor one accepted, cancelled or expired: VALIDATION)."""
        checked = check_request_id(request_id, self._words.id_missing_reason)
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            request = await self._mine(uow, checked)
            if request is None or request.from_user_id != user_id:
                raise self._not_found()
            if request.status == DECLINED:
                raise ValidationFailed("Error occurred while removing request as it was "
                                       "declined by the user",
                                       reason=self._words.declined_reason)
            request.settle(CANCELLED, now)
            await uow.sharing_requests.save(request)
            await uow.commit()
        return request

    async def page(self, principal: Principal, user_id: str, *, sent: bool,
                   request_id: object, start_request_id: object, num_records: int
                   ) -> RequestPage:
        """Requests the caller sent (sent=True) or received, ordered by id, a page at a time
        (start_request_id: the previous page's next_request_id; 1..10 per page), or the one
        request_id names; statuses as of now (past its expiry a pending one reads expired)."""
        if not 1 <= num_records <= MAX_REQUESTS_PAGE:
            raise ValidationFailed("num_records must be 1..10", reason="invalid_page")
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            if request_id is not None:
                one = await self._mine(uow, check_request_id(
                    request_id, self._words.id_missing_reason))
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
