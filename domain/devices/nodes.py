"""Use cases on nodes a user reaches: claiming (user-node mapping) and reading their state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.access.model import Caller, Permission, requires
from domain.access.permissions import (
    NODE_CONFIG,
    NODE_MAPPING,
    NODE_PARAMS,
    NODE_STATUS,
    USER_NODE,
    USER_NODES,
)
from domain.devices.mapping_requests import (
    DEFAULT_TTL_SECONDS,
    check_secret_key,
    confirm,
    expiry,
    pending_node_half,
)
from domain.devices.model import (
    BY_HANDSHAKE,
    CONFIRMED,
    NODE_HALF,
    PRIMARY,
    REQUESTED,
    MappingRequest,
    Node,
    check_node_id,
    check_tags,
)
from domain.devices.node_values import (
    BATCH_NODE_FAILURES,
    MAX_PAGE,
    MAX_PARAMS_BATCH,
    NodePage,
    NodeStatus,
    ParamsOutcome,
    ParamsWrite,
    parse_tag_filter,
)
from domain.devices.ownership import (
    check_extras,
    check_own_group,
    forget_node_data,
    grant_primary,
)
from domain.devices.provisioning import device_secret_matches
from domain.devices.reach import NO_NODE, reachable_node
from domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from domain.hashing import sha256_hex
from domain.identifiers import is_record_id
from domain.jsonshape import nesting_exceeds
from ports.commands import NodeCommands
from ports.repositories.uow import UnitOfWork, UnitOfWorkFactory
from ports.services import Authorizer, Clock, IdGenerator

UNSET: Any = object()
"""metadata not given (None means: delete it)."""


class UserNodes:
    """Claiming nodes and reading the state of the nodes a user reaches."""

    def __init__(self, *, uow: UnitOfWorkFactory, ids: IdGenerator, clock: Clock,
                 authorizer: Authorizer, commands: NodeCommands,
                 mapping_ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._uow, self._ids, self._clock, self.authorizer = uow, ids, clock, authorizer
        self._commands, self._ttl = commands, mapping_ttl_seconds

    @requires(NODE_MAPPING, "PUT")
    async def map_node(self, caller: Caller, *, node_id: object, operation: object,
                       secret_key: object = None, tags: object = None,
                       metadata: object = None, group_id: object = None) -> MappingRequest:
        """Adds or removes the caller's mapping to a node.

        - add with the secret_key issued at provisioning: confirmed at once, the caller
          becomes the node's primary; a node owned by someone else is CONFLICT; mapping
          again is idempotent;
        - add with any other secret_key: the two-sided handshake. The request is confirmed
          when the node publishes the same secret_key on node/<id>/user/mapping (at once if
          it already did), else it stays requested and times out;
        - tags and metadata are applied when the mapping is confirmed;
        - remove: drops the caller's own mapping (a stranger's remove is NOT_FOUND); the last
          mapping gone, the node's stored params history goes too;
        - a node of another organization is NOT_FOUND, like an unknown one.
        """
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        if operation not in ("add", "remove"):
            raise ValidationFailed("Invalid operation specified.[Valid operation values are "
                                   "add/remove]", reason="invalid_operation")
        checked = check_node_id(node_id)
        now = self._clock.now()
        request = MappingRequest(id=self._ids.new_id(), org_id=org_id, user_id=user_id,
                                 node_id=checked, operation=str(operation), status=CONFIRMED,
                                 created_at=now)
        async with self._uow(org_id) as uow:
            if operation == "remove":
                await reachable_node(uow, checked, user_id)
                if await uow.memberships.get_direct(checked, user_id) is None:
                    raise ValidationFailed("The node is shared with this user through a group;"
                                           " leave the group instead",
                                           reason="node_access_through_group")
                await uow.memberships.remove(checked, user_id)
                if not await uow.memberships.for_node(checked):
                    await forget_node_data(uow, checked)
            else:
                secret = check_secret_key(secret_key)
                extras = check_extras(tags, metadata, group_id)
                await check_own_group(uow, extras, user_id)
                request.tags, request.metadata = extras.tags, extras.metadata
                request.group_id = extras.group_id
                node = await uow.nodes.get(checked)
                secrets = await uow.nodes.secrets(checked)
                if node is None or secrets is None:
                    raise NotFound(NO_NODE, reason="node_not_found")
                if device_secret_matches(secrets.secret_key_hash, secret):
                    if not await grant_primary(uow, node, user_id, now, extras=extras):
                        raise Conflict("Node is already mapped to another user",
                                       reason="node_already_mapped")
                else:
                    request.kind, request.secret_hash = BY_HANDSHAKE, sha256_hex(secret)
                    request.status, request.expires_at = REQUESTED, expiry(now, self._ttl)
                    half = await pending_node_half(uow, checked, user_id,
                                                   request.secret_hash, now)
                    if half is not None:
                        await uow.mapping_requests.add(request)
                        await confirm(uow, request, node, now, reset=half.reset)
                        half.status = CONFIRMED
                        await uow.mapping_requests.save(half)
                        await uow.commit()
                        return request
            await uow.mapping_requests.add(request)
            await uow.commit()
        return request

    @requires(USER_NODES, "GET")
    async def list_nodes(self, caller: Caller, *, node_id: object = None, start_id: object = None,
                         num_records: object = 25, tags: object = None) -> NodePage:
        """The nodes the caller reaches, ordered by node id, a page at a time.

        - start_id is the next_id of the previous page; num_records 1..100;
        - tags "k:v,k2:v2" keeps nodes having any of them (OR);
        - node_id narrows to that one node (NOT_FOUND when the caller does not reach it);
        - a page costs the same whatever the number of nodes the caller reaches: its ids
          are walked in id order from an index, then only the page's memberships and nodes
          are read (two queries, no N+1); the total is an index-only count, skipped when
          the page holds the whole list.
        """
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        if not isinstance(num_records, int) or isinstance(num_records, bool) \
                or not 1 <= num_records <= MAX_PAGE:
            raise ValidationFailed("num_records must be 1..100", reason="invalid_page")
        wanted_tags = parse_tag_filter(tags)
        async with self._uow(org_id) as uow:
            if node_id is not None:
                node = await reachable_node(uow, node_id, user_id)
                membership = await uow.memberships.get(node.id, user_id)
                assert membership is not None
                return NodePage(entries=[(node, membership)], next_id=None, total=1)
            start = start_id if isinstance(start_id, str) and start_id else None
            page, following, total = await uow.memberships.page_for_user(
                user_id, start_id=start, limit=num_records, tags=sorted(wanted_tags or ()))
            found = {n.id: n for n in await uow.nodes.get_many([m.node_id for m in page])}
        return NodePage(entries=[(found[m.node_id], m) for m in page if m.node_id in found],
                        next_id=following, total=total)

    @requires(NODE_MAPPING, "GET")
    async def mapping_status(self, caller: Caller, *, request_id: object) -> MappingRequest:
        """Where a mapping request of the caller stands (others' requests are NOT_FOUND)."""
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        if not isinstance(request_id, str) or not request_id or len(request_id) > 64:
            raise ValidationFailed("RequestId is missing", reason="request_id_missing")
        async with self._uow(org_id) as uow:
            request = await uow.mapping_requests.get(request_id) \
                if is_record_id(request_id) else None
        if request is None or request.user_id != user_id or request.kind == NODE_HALF:
            raise NotFound("User node mapping request not found", reason="mapping_not_found")
        request.status = request.status_at(self._clock.now())
        return request

    @requires(NODE_PARAMS, "GET")
    async def node_params(self, caller: Caller, *, node_id: object) -> dict[str, Any]:
        """The node's reported params (members only)."""
        return (await self.node_params_versioned(caller, node_id=node_id))[0]

    @requires(NODE_PARAMS, "GET")
    async def node_params_versioned(self, caller: Caller, *, node_id: object
                                    ) -> tuple[dict[str, Any], int]:
        """The node's reported params and the shadow version a writer may send back."""
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        async with self._uow(org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
        return node.reported, node.params_version

    @requires(NODE_PARAMS, "PUT")
    async def set_params(self, caller: Caller, *, node_id: object, params: object,
                         expected_version: int | None = None) -> int:
        """Sets desired params on a node the caller reaches and sends them on params/remote.

        - with expected_version (the version the writer read), a stale write is CONFLICT and
          changes nothing; concurrent writers with one version: exactly one wins;
        - an offline node (or broker) keeps the desired state; it is re-sent on reconnect;
        - returns the new shadow version.
        """
        return await self._write_params(caller, ParamsWrite(
            node_id=node_id, params=params, expected_version=expected_version))

    @requires(NODE_PARAMS, "PUT")
    async def set_params_many(self, caller: Caller, *,
                              writes: Sequence[ParamsWrite]) -> list[ParamsOutcome]:
        """Sets desired params on several nodes in one transaction, one outcome per write, in
        order (RainMaker's multi-node form answers per node: 207).

        - 1..25 writes (VALIDATION otherwise); the caller is authorized once for the batch;
        - each write follows set_params' rules: a node's own failure (not found or not
          reached, invalid params, stale expected_version) is its outcome and changes nothing
          on that node, the others are written;
        - the writes commit together, and only then go to the nodes: a failure of the
          moment (the database unavailable) writes nothing and is raised, so no outcome
          claims a write that did not happen.
        """
        if not 0 < len(writes) <= MAX_PARAMS_BATCH:
            raise ValidationFailed(f"Give 1..{MAX_PARAMS_BATCH} nodes", reason="invalid_batch")
        principal, user_id = caller.require_user()
        outcomes: list[ParamsOutcome] = []
        sends: list[tuple[str, dict[str, Any]]] = []
        async with self._uow(principal.org_id) as uow:
            for write in writes:
                try:
                    node, sent = await self._stage_params(uow, user_id, write)
                except BATCH_NODE_FAILURES as error:
                    outcomes.append(ParamsOutcome(node_id=write.node_id, error=error))
                    continue
                sends.append((node.id, sent))
                outcomes.append(ParamsOutcome(node_id=write.node_id,
                                              params_version=node.params_version))
            await uow.commit()
        for node_id, sent in sends:
            await self._commands.send_params(node_id, sent)
        return outcomes

    async def _stage_params(self, uow: UnitOfWork, user_id: str, write: ParamsWrite
                            ) -> tuple[Node, dict[str, Any]]:
        """Writes one node's desired params in the caller's transaction (not committed);
        the node and what to send it."""
        node = await reachable_node(uow, write.node_id, user_id)
        sent = node.set_desired(write.params, self._clock.now(),
                                expected_version=write.expected_version)
        node.events = []
        if not await uow.nodes.save_if_version(node, node.params_version - 1):
            raise Conflict("params changed concurrently; read them again",
                           reason="stale_version")
        return node, sent

    async def _write_params(self, caller: Caller, write: ParamsWrite) -> int:
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            node, sent = await self._stage_params(uow, user_id, write)
            await uow.commit()
        await self._commands.send_params(node.id, sent)
        return node.params_version

    @requires(NODE_CONFIG, "GET")
    async def node_config(self, caller: Caller, *, node_id: object) -> dict[str, Any]:
        """The config the node reported (members only; {} before it reported one)."""
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        async with self._uow(org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
        return dict(node.config or {})

    @requires(NODE_STATUS, "GET")
    async def node_status(self, caller: Caller, *, node_id: object) -> NodeStatus:
        """Connectivity as the connection topic and last will reported it (members only)."""
        principal, user_id = caller.require_user()
        org_id = principal.org_id
        async with self._uow(org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
        return NodeStatus(connected=node.connectivity.connected,
                          timestamp_ms=node.connectivity.timestamp_ms)

    @requires(USER_NODES, "PUT")
    async def update_node(self, caller: Caller, *, node_id: object, tags: object = None,
                          metadata: object = UNSET) -> Node:
        """Adds tags and merges metadata (thing-shadow rules: null deletes the document,
        {} changes nothing, nested keys merge, arrays replace) on a node the caller reaches.

        - tags are "key:value" strings (at most 64 per node), added once each;
        - metadata omitted leaves it as is; the caller must pass at least one of the two.
        """
        principal, user_id = caller.require_user()
        if tags is None and metadata is UNSET:
            raise ValidationFailed("Give tags or metadata to update", reason="invalid_body")
        async with self._uow(principal.org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
            if tags is not None:
                node.add_tags(tags)
            if metadata is not UNSET:
                node.update_metadata(metadata)
                if node.metadata is not None and nesting_exceeds(node.metadata, 16):
                    raise ValidationFailed("metadata nests too deep", reason="invalid_body")
            await uow.nodes.save(node)
            await uow.commit()
        return node

    @requires(USER_NODES, "DELETE")
    async def remove_tags(self, caller: Caller, *, node_id: object, tags: object) -> Node:
        """Removes tags from a node the caller reaches (tags it does not have are ignored)."""
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
            node.remove_tags(tags)
            await uow.nodes.save(node)
            await uow.commit()
        return node

    @requires(USER_NODES, "PUT")
    async def retag_node(self, caller: Caller, *, node_id: object, add: object = None,
                         remove: object = None) -> Node:
        """Removes then adds tags on a node the caller reaches, in one transaction.

        - give add, remove or both ("key:value" lists); both are checked before anything is
          written, and a failure leaves the node's tags as they were;
        - removals first (tags the node lacks are ignored), then additions (added once each,
          at most 64 per node);
        - removing needs DELETE /v1/user/nodes as well, as remove_tags does.
        """
        principal, user_id = caller.require_user()
        if add is None and remove is None:
            raise ValidationFailed("Give tags to add or to remove", reason="invalid_tags")
        for tags in (add, remove):
            if tags is not None:
                check_tags(tags)
        if remove is not None:
            await self.authorizer.authorize(principal, Permission(USER_NODES, "DELETE"))
        async with self._uow(principal.org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
            if remove is not None:
                node.remove_tags(remove)
            if add is not None:
                node.add_tags(add)
            await uow.nodes.save(node)
            await uow.commit()
        return node

    @requires(USER_NODE, "DELETE")
    async def delete_node(self, caller: Caller, *, node_id: object) -> None:
        """Deletes every user association of a node (primary only): memberships, pending
        mapping requests, tags, metadata and the stored params history. The node itself
        stays provisioned, so it can be claimed again.

        - a secondary user is FORBIDDEN (RainMaker 107085); a stranger NOT_FOUND.
        """
        principal, user_id = caller.require_user()
        async with self._uow(principal.org_id) as uow:
            node = await reachable_node(uow, node_id, user_id)
            # primary through a shared group is not enough to drop everyone's access
            membership = await uow.memberships.get_direct(node.id, user_id)
            if membership is None or membership.role != PRIMARY:
                raise Forbidden("User should be primary owner of all nodes in the request",
                                reason="not_primary")
            await uow.memberships.remove_all(node.id)
            await uow.mapping_requests.delete_for_node(node.id)
            await forget_node_data(uow, node.id)
            node.tags, node.metadata = [], None
            await uow.nodes.save(node)
            await uow.commit()
