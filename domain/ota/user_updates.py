"""User-approved updates: a node's user sees the user-approval job waiting for it, approves
it (the node is offered it now) and follows its status. Rules live in domain/ota/model.py."""

from __future__ import annotations

from domain.access.model import Caller, requires
from domain.access.permissions import NODE_OTA_STATUS, NODE_OTA_UPDATE
from domain.devices.model import check_node_id
from domain.errors import NotFound, ValidationFailed
from domain.ota.delivery import OtaDelivery
from domain.ota.jobs import job_of
from domain.ota.model import FINAL, NodeJobStatus, NodeStatus, Offer, OtaImage, OtaJob, next_job
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock


async def _user_node(uow: UnitOfWork, caller: Caller, node_id: object) -> str:
    """The node, when the calling user is mapped to it."""
    _, user_id = caller.require_user()
    node = check_node_id(node_id)
    if await uow.memberships.get(node, user_id) is None:
        raise NotFound("User to node mapping does not exist", reason="node_not_mapped")
    return node


class OtaUpdates:
    """The end user's side of user-approval jobs."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, authorizer: Authorizer,
                 delivery: OtaDelivery) -> None:
        self.uow, self.clock, self.authorizer, self.delivery = uow, clock, authorizer, delivery

    @requires(NODE_OTA_UPDATE, "GET")
    async def available_update(self, caller: Caller, *, node_id: object
                               ) -> tuple[OtaJob, OtaImage] | None:
        """The user-approval job waiting for the node, if any.

        - only a node the user is mapped to;
        - the due job of highest priority, as a node is offered (next_job)."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            node = await _user_node(uow, caller, node_id)
            waiting = [(job, st) for job, st in await uow.ota.statuses_of_node(node)
                       if job.user_approval]
            chosen = next_job(waiting, now)
            if chosen is None:
                return None
            image = await uow.ota.get_image(chosen[0].image_id)
        return (chosen[0], image) if image is not None else None

    @requires(NODE_OTA_UPDATE, "POST")
    async def push_update(self, caller: Caller, *, node_id: object, job_id: object) -> Offer:
        """The user approves: the node is offered that job now.

        - only a node the user is mapped to, and a job that targets it;
        - the job must be due and the node not finished with it."""
        principal = caller.require_principal()
        now = self.clock.now()
        async with self.uow(principal.org_id) as uow:
            node = await _user_node(uow, caller, node_id)
            job = await job_of(uow, job_id)
            status = await uow.ota.node_status(job.id, node)
            if status is None:
                raise ValidationFailed("OTA Job is not associated with the node",
                                       reason="job_not_for_node")
            if not job.due(now) or status.status in FINAL:
                raise ValidationFailed("Invalid OTA job specified. Please re-check the "
                                       "available OTA job.", reason="job_not_available")
            status.move(NodeStatus.STARTED, now)
            await uow.ota.save_statuses([status])
            image = await uow.ota.get_image(job.image_id)
            if image is None:
                raise NotFound("OTA image not found", reason="image_not_found")
            await uow.commit()
        return await self.delivery.send(node, job, image, now)

    @requires(NODE_OTA_STATUS, "GET")
    async def user_status(self, caller: Caller, *, node_id: object, job_id: object
                          ) -> NodeJobStatus:
        """The node's status in the job, for a user mapped to the node."""
        principal = caller.require_principal()
        async with self.uow(principal.org_id) as uow:
            node = await _user_node(uow, caller, node_id)
            if not isinstance(job_id, str) or not job_id:
                raise ValidationFailed("OTA Job Id is missing", reason="job_id_missing")
            status = await uow.ota.node_status(job_id, node)
        if status is None:
            raise NotFound("OTA status not found", reason="ota_status_not_found")
        return status
