"""Use cases of an organization's admins over its nodes: listing with filters and counts,
activation, tags, and user-node mappings made directly. Every read and write stays inside the
caller's organization (the unit of work is scoped to it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from domain.access.model import Caller, Permission, Principal, requires
from domain.access.permissions import (
    ADMIN_NODE_MAPPING,
    ADMIN_NODE_TAGS,
    ADMIN_NODES,
    ADMIN_USER_NODES,
)
from domain.access.rbac.model import NODES_RESOURCE, NodeReach
from domain.accounts.model import normalize_user_name
from domain.devices.admin_requests import (
    MAX_TAG_FILTER,
    NO_NODES,
    NO_USER,
    ROLES,
    ActivitySummary,
    AdminNodePage,
    Association,
    NamePage,
    NodeOutcome,
    check_node_ids,
    optional_text,
    page_of,
    parse_tag_filter,
    tags_to_change,
)
from domain.devices.model import (
    ACTIVITY_STATUSES,
    NODE_STATUSES,
    PRIMARY,
    SECONDARY,
    TAG,
    Node,
    NodeFilter,
    check_node_id,
)
from domain.devices.ownership import forget_node_data
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.paging import check_page_size
from domain.sharing.model import NodeMembership, strongest_per_user
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock


class AdminNodes:
    """An admin's operations on the nodes and user-node mappings of the organization."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, authorizer: Authorizer) -> None:
        self._uow, self._clock, self.authorizer = uow, clock, authorizer

    def _filter(self, *, type: object, model: object, fw_version: object, subtype: object,
                project_name: object, tags: object, node_status: object,
                start_time: object) -> NodeFilter:
        """RainMaker's rules: model needs type; fw_version needs type and model."""
        kind, model_, fw = optional_text(type, "type"), optional_text(model, "model"), \
            optional_text(fw_version, "fw_version")
        if model_ is not None and kind is None:
            raise ValidationFailed("Error, if model is provided then type also needs to be "
                                   "provided", reason="model_needs_type")
        if fw is not None and (kind is None or model_ is None):
            raise ValidationFailed("Error, if firmware version is provided then type and model "
                                   "also needs to be provided", reason="fw_version_needs_model")
        if node_status is not None and node_status not in NODE_STATUSES + ACTIVITY_STATUSES:
            raise ValidationFailed("Invalid node status provided. Valid Status are "
                                   f"{list(NODE_STATUSES + ACTIVITY_STATUSES)}",
                                   reason="invalid_node_status")
        if start_time is not None and (not isinstance(start_time, int)
                                       or isinstance(start_time, bool) or start_time < 0):
            raise ValidationFailed("Please provide a valid start time [Example: "
                                   "1672531200000]", reason="invalid_start_time")
        wanted: tuple[str, ...] = ()
        all_of = False
        if tags is not None:
            if not isinstance(tags, str) or len(tags) > MAX_TAG_FILTER:
                raise ValidationFailed("tags must be text of at most 4096 characters",
                                       reason="invalid_tags")
            wanted, all_of = parse_tag_filter(tags)
        since = start_time if isinstance(start_time, int) \
            else int(self._clock.now().timestamp() * 1000)
        return NodeFilter(type=kind, model=model_, fw_version=fw,
                          subtype=optional_text(subtype, "subtype"),
                          project_name=optional_text(project_name, "project_name"), tags=wanted,
                          tags_all=all_of, status=node_status if isinstance(node_status, str)
                          else None, active_since_ms=since)

    @requires(ADMIN_NODES, "GET")
    async def list_nodes(self, caller: Caller, *, node_id: object = None,
                         type: object = None, model: object = None,
                         fw_version: object = None, subtype: object = None,
                         project_name: object = None, tags: object = None,
                         node_status: object = None, start_time: object = None,
                         start_id: object = None, num_records: object = 25) -> AdminNodePage:
        """The organization's nodes matching every filter given, ordered by id, a page at a time.

        - model needs type, fw_version needs type and model (RainMaker's rule);
        - tags "k:v OR k2:v2" (any) or "k:v AND k2:v2" (all), one operator per filter;
        - node_status online, offline, deactivated, not_activated; or active/inactive: a
          connection at or after start_time (epoch ms; default now) or not;
        - start_id is the previous page's next_id; num_records 1..100; total counts all matches;
        - node_id: that node alone, whatever the filters (which are still checked); a node of
          another organization is NOT_FOUND, like an unknown one;
        - filtering, paging and counting run in the database: two queries per page.
        """
        principal = caller.require_principal()
        size = check_page_size(num_records)
        node_filter = self._filter(type=type, model=model, fw_version=fw_version,
                                   subtype=subtype, project_name=project_name, tags=tags,
                                   node_status=node_status, start_time=start_time)
        node_filter = replace(node_filter, reach=self._reach(principal, "GET"))
        start = optional_text(start_id, "start_id", 64)
        async with self._uow(principal.org_id) as uow:
            if node_id is not None:
                node = await uow.nodes.get(check_node_id(node_id))
                if node is None or not node_filter.within_reach(node):
                    raise NotFound(NO_NODES, reason="nodes_not_found")
                return AdminNodePage(nodes=[node], next_id=None, total=1)
            found, total = await uow.nodes.search(node_filter, start_id=start, limit=size + 1)
        page = list(found[:size])
        return AdminNodePage(nodes=page, next_id=found[size].id if len(found) > size else None,
                             total=total)

    @requires(ADMIN_NODES, "GET")
    async def activity_summary(self, caller: Caller, *, start_time: object,
                               type: object = None, model: object = None,
                               fw_version: object = None, subtype: object = None,
                               project_name: object = None, tags: object = None,
                               node_status: object = None) -> ActivitySummary:
        """How many matching nodes were active (connected at or after start_time, epoch ms),
        inactive (connected once, not since) and never activated; one query.

        - start_time is required here.
        """
        principal = caller.require_principal()
        if start_time is None:
            raise ValidationFailed("Please provide a valid start time [Example: 1672531200000]",
                                   reason="invalid_start_time")
        node_filter = self._filter(type=type, model=model, fw_version=fw_version,
                                   subtype=subtype, project_name=project_name, tags=tags,
                                   node_status=node_status, start_time=start_time)
        node_filter = replace(node_filter, reach=self._reach(principal, "GET"))
        async with self._uow(principal.org_id) as uow:
            counts = await uow.nodes.activity_counts(node_filter, node_filter.active_since_ms)
        return ActivitySummary(active_count=counts.get("active", 0),
                               inactive_count=counts.get("inactive", 0),
                               not_activated_count=counts.get("not_activated", 0))

    @requires(ADMIN_NODES, "PUT")
    async def update_nodes(self, caller: Caller, *, node_ids: object, activate: object = None,
                           tags: object = None) -> list[NodeOutcome]:
        """Activates or deactivates nodes and/or attaches tags to them, for 1..25 nodes.

        - at least one of activate (True/False) and tags; tags are "key:value", at least one;
        - a deactivated node's broker credentials are refused from then on, and ingest drops
          what it still sends; activating it again restores both;
        - nodes of other organizations are like unknown ones; when none exists: NOT_FOUND;
          otherwise one outcome per node (a node whose tags would pass 64 fails alone);
        - one read and at most two batched writes, whatever the number of nodes.
        """
        principal = caller.require_principal()
        ids = check_node_ids(node_ids)
        if activate is None and tags is None or \
                (activate is not None and not isinstance(activate, bool)):
            raise ValidationFailed("Please specify valid operation to be performed "
                                   "[activate=true or activate=false]",
                                   reason="invalid_node_operation")
        wanted = tags_to_change(tags) if tags is not None else None
        reach = self._reach(principal, "PUT")
        async with self._uow(principal.org_id) as uow:
            outcomes, changed = await self._each_node(
                uow, ids, (lambda n: n.add_tags(wanted)) if wanted else (lambda n: None),
                reach)
            done = [o.node_id for o in outcomes if o.error is None]
            if isinstance(activate, bool) and done:
                await uow.nodes.set_active_many(done, activate)
            if wanted and changed:
                await uow.nodes.save_tags_many(changed)
            await uow.commit()
        return outcomes

    @requires(ADMIN_NODES, "DELETE")
    async def remove_tags(self, caller: Caller, *, node_ids: object,
                          tags: object) -> list[NodeOutcome]:
        """Detaches tags from 1..25 nodes (tags a node does not have are ignored).

        - nodes of other organizations are like unknown ones; when none exists: NOT_FOUND.
        """
        principal = caller.require_principal()
        ids = check_node_ids(node_ids)
        gone = tags_to_change(tags)
        reach = self._reach(principal, "DELETE")
        async with self._uow(principal.org_id) as uow:
            outcomes, changed = await self._each_node(uow, ids, lambda n: n.remove_tags(gone),
                                                      reach)
            if changed:
                await uow.nodes.save_tags_many(changed)
            await uow.commit()
        return outcomes

    def _reach(self, principal: Principal, action: str) -> tuple[NodeReach, ...] | None:
        """The node filters of the caller's policies for /v1/admin/nodes (None: all)."""
        return self.authorizer.node_reach(principal, Permission(NODES_RESOURCE, action))

    @staticmethod
    async def _each_node(uow: UnitOfWork, ids: list[str], change: Callable[[Node], None],
                         reach: tuple[NodeReach, ...] | None = None
                         ) -> tuple[list[NodeOutcome], list[Node]]:
        """Applies change to each node found (one read) within the caller's reach; unknown
        ids, and nodes outside the reach, fail one by one."""
        scope = NodeFilter(reach=reach)
        found = {n.id: n for n in await uow.nodes.get_many(ids) if scope.within_reach(n)}
        if not found:
            raise NotFound(NO_NODES, reason="nodes_not_found")
        outcomes, changed = [], []
        for node_id in ids:
            node = found.get(node_id)
            if node is None:
                outcomes.append(NodeOutcome(node_id=node_id, error=NotFound(
                    NO_NODES, reason="nodes_not_found")))
                continue
            try:
                change(node)
            except ValidationFailed as exc:
                outcomes.append(NodeOutcome(node_id=node_id, error=exc))
                continue
            outcomes.append(NodeOutcome(node_id=node_id))
            changed.append(node)
        return outcomes, changed

    @requires(ADMIN_NODE_TAGS, "GET")
    async def tag_names(self, caller: Caller, *, tag_name: object = None,
                        start_id: object = None, num_records: object = 25) -> NamePage:
        """The tag names used on the organization's nodes or, with tag_name, that tag's
        values; sorted, a page at a time (one query)."""
        principal = caller.require_principal()
        size = check_page_size(num_records)
        name = optional_text(tag_name, "tag_name", 64)
        start = optional_text(start_id, "start_id", 192)
        async with self._uow(principal.org_id) as uow:
            pairs = [t.split(":", 1) for t in await uow.nodes.tag_values() if TAG.match(t)]
        wanted = sorted({k if name is None else v for k, v in pairs
                         if name is None or k == name})
        page, next_id = page_of(wanted, start, size)
        return NamePage(items=page, next_id=next_id, total=len(wanted))

    @requires(ADMIN_USER_NODES, "GET")
    async def associations(self, caller: Caller, *, user_id: object = None,
                           user_name: object = None, node_id: object = None,
                           role: object = None, node_details: bool = False,
                           start_id: object = None, num_records: object = 25) -> Association:
        """A user's nodes (by user_id, or user_name) or a node's users (node_id), by role.

        - user_id wins over user_name; a node with a user is a VALIDATION error, and so is
          neither; role primary or secondary narrows the answer;
        - users and nodes of other organizations are NOT_FOUND, like unknown ones;
        - paged by node id (a user's nodes) or user id (a node's users); node_details adds the
          nodes of the page (one more query).
        """
        principal = caller.require_principal()
        if role is not None and role not in ROLES:
            raise ValidationFailed("Error, invalid role. Enter one of [primary, secondary]",
                                   reason="invalid_role")
        if node_id is not None and user_id is not None:
            raise ValidationFailed("Please provide either a user ID or a node ID, but not both "
                                   "simultaneously.", reason="user_id_and_node")
        if node_id is not None and user_name is not None:
            raise ValidationFailed("Please provide either a username or a node ID, but not "
                                   "both simultaneously.", reason="user_name_and_node")
        if node_id is None and user_id is None and user_name is None:
            raise ValidationFailed("Please provide either a user ID, a node ID, or a username",
                                   reason="user_or_node_missing")
        name = normalize_user_name(user_name) if user_name is not None else None
        size = check_page_size(num_records)
        start = optional_text(start_id, "start_id", 64)
        roles = (role,) if isinstance(role, str) else ROLES
        async with self._uow(principal.org_id) as uow:
            if node_id is not None:
                node = await uow.nodes.get(check_node_id(node_id))
                if node is None:
                    raise NotFound(NO_NODES, reason="nodes_not_found")
                members = sorted(((m, n) for m, n in strongest_per_user(
                    await uow.memberships.members_of(node.id)) if m.role in roles),
                    key=lambda pair: pair[0].user_id)
                page, next_id = page_of([m.user_id for m, _ in members], start, size)
                shown = set(page)
                users: dict[str, list[tuple[str, str]]] = {r: [] for r in roles}
                for m, name in members:
                    if m.user_id in shown:
                        users[m.role].append((m.user_id, name))
                return Association(
                    by_role=dict(users.items()), next_id=next_id,
                    totals={r: sum(1 for m, _ in members if m.role == r) for r in roles},
                    details=[node] if node_details else [])
            user = await (uow.users.get(optional_text(user_id, "user_id", 64) or "")
                          if user_id is not None
                          else uow.users.get_by_user_name(name or ""))
            if user is None:
                raise NotFound(NO_USER, reason="user_not_found")
            mine = sorted((m for m in await uow.memberships.for_user(user.id)
                           if m.role in roles), key=lambda m: m.node_id)
            page, next_id = page_of([m.node_id for m in mine], start, size)
            shown = set(page)
            details = list(await uow.nodes.get_many(page)) if node_details and page else []
        nodes: dict[str, list[str]] = {r: [] for r in roles}
        for m in mine:
            if m.node_id in shown:
                nodes[m.role].append(m.node_id)
        return Association(by_role=dict(nodes.items()), next_id=next_id,
                           totals={r: sum(1 for m in mine if m.role == r) for r in roles},
                           details=sorted(details, key=lambda n: n.id),
                           mappings={m.node_id: m for m in mine if m.node_id in shown})

    async def _user_and_node(self, uow: UnitOfWork, user_id: object, node_id: object
                             ) -> tuple[str, Node]:
        user = await uow.users.get(user_id) if isinstance(user_id, str) and user_id \
            and len(user_id) <= 64 else None
        if user is None:
            raise NotFound(NO_USER, reason="user_not_found")
        node = await uow.nodes.get(check_node_id(node_id))
        if node is None:
            raise NotFound(NO_NODES, reason="nodes_not_found")
        return user.id, node

    @requires(ADMIN_NODE_MAPPING, "PUT")
    async def map_user_node(self, caller: Caller, *, user_id: object, node_id: object,
                            role: object = PRIMARY) -> NodeMembership:
        """Maps a user of the organization to one of its nodes, without the device's consent.

        - primary, for a user not mapped to the node yet: every other mapping of the node
          goes, and with them the node's params history (the node changes hands, as
          RainMaker does);
        - primary, for a secondary of the node: promoted; the former primary stays, as a
          secondary (a node has one primary);
        - secondary: added next to the others; a primary is not demoted (CONFLICT);
        - mapping again with the same role changes nothing;
        - users and nodes of other organizations are NOT_FOUND, like unknown ones.
        """
        principal = caller.require_principal()
        if role not in ROLES:
            raise ValidationFailed("Error, invalid role. Enter one of [primary, secondary]",
                                   reason="invalid_role")
        now = self._clock.now()
        async with self._uow(principal.org_id) as uow:
            uid, node = await self._user_and_node(uow, user_id, node_id)
            members = {m.user_id: m for m in await uow.memberships.for_node(node.id)}
            mine = members.get(uid)
            if mine is not None and mine.role == role:
                return mine
            if mine is not None and mine.role == PRIMARY:
                raise Conflict("The user is the node's primary; remove the mapping first",
                               reason="user_is_primary")
            if role == PRIMARY and mine is None:  # the node changes hands
                if members:
                    await uow.memberships.remove_all(node.id)
                    await forget_node_data(uow, node.id)  # the old owners' history goes
            elif role == PRIMARY:  # a secondary promoted; the former primary steps down
                await uow.memberships.remove(node.id, uid)
                for other in members.values():
                    if other.role == PRIMARY:
                        await uow.memberships.remove(node.id, other.user_id)
                        await uow.memberships.add(NodeMembership(
                            node_id=node.id, org_id=node.org_id, user_id=other.user_id,
                            role=SECONDARY, created_at=other.created_at, source=other.source))
            mapping = NodeMembership(node_id=node.id, org_id=node.org_id, user_id=uid,
                                     role=str(role), created_at=now)
            await uow.memberships.add(mapping)
            await uow.commit()
        return mapping

    @requires(ADMIN_NODE_MAPPING, "DELETE")
    async def unmap_user_node(self, caller: Caller, *, user_id: object,
                              node_id: object) -> None:
        """Removes a user's mapping to a node of the organization.

        - an unknown (or foreign) user or node is NOT_FOUND; so is a user not mapped to it;
        - the last mapping gone, the node's params history goes too.
        """
        principal = caller.require_principal()
        async with self._uow(principal.org_id) as uow:
            uid, node = await self._user_and_node(uow, user_id, node_id)
            if await uow.memberships.get_direct(node.id, uid) is None:
                raise NotFound("Node does not belong to user", reason="node_not_mapped_to_user")
            await uow.memberships.remove(node.id, uid)
            if not await uow.memberships.for_node(node.id):
                await forget_node_data(uow, node.id)  # the last mapping gone
            await uow.commit()
