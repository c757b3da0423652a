"""Access through shared device groups is derived in SQL, not per group or per node: listing
the nodes a user reaches through 50 shared groups of 40 nodes (2,000 nodes) issues as many SQL
statements as through 5 groups of 30, over REST (GET /v1/user/nodes) and GraphQL (`nodes`).

The groups, their members and shares are written straight into the tables (one transaction)
so that thousands of nodes cost no use-case round trips; the listing runs through the app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert

from adapters.sql.tables.devices import nodes
from adapters.sql.tables.groups import node_group_members, node_groups
from adapters.sql.tables.sharing import node_group_shares, node_memberships
from domain.devices.model import PRIMARY, SECONDARY
from ports.repositories.uow import SYSTEM_SCOPE
from tests.api.test_graphql_nodes import NODES, counting_statements
from tests.conftest import Env

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Viewer:
    token: str
    nodes: int


async def user_id(env: Env, user_name: str) -> tuple[str, str]:
    """(user id, org id) of a signed-up user."""
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        user = await uow.users.get_by_user_name(user_name)
    assert user is not None
    return user.id, user.org_id


async def viewer_through_groups(env: Env, name: str, groups: int, per_group: int) -> Viewer:
    """An owner holding groups * per_group nodes, in `groups` groups all shared with a
    viewer who holds none of the nodes directly; returns the viewer."""
    await env.signup(f"{name}-owner@example.com")
    token = (await env.user(f"{name}-viewer@example.com"))
    owner, org_id = await user_id(env, f"{name}-owner@example.com")
    viewer, _ = await user_id(env, f"{name}-viewer@example.com")
    node_ids = [f"{name}-{i:05d}" for i in range(groups * per_group)]
    group_ids = [str(uuid.uuid4()) for _ in range(groups)]
    async with env.container.uow()(SYSTEM_SCOPE) as uow:
        conn = await uow.connection()
        await conn.execute(insert(nodes), [{
            "id": node_id, "org_id": org_id, "name": "Lamp", "type": "Lightbulb",
            "model": "m", "fw_version": "1.0", "config_version": "",
            "config": {"node_id": node_id, "info": {"type": "Lightbulb"}},
            "reported": {"Light": {"power": True}}, "desired": {}, "params_version": 1,
            "connected": True, "connection_ts": 1_700_000_000_000, "tags": [],
            "metadata": None, "active": True, "created_at": NOW} for node_id in node_ids])
        await conn.execute(insert(node_memberships), [{
            "node_id": node_id, "user_id": owner, "org_id": org_id, "role": PRIMARY,
            "source": "NODE", "created_at": NOW} for node_id in node_ids])
        await conn.execute(insert(node_groups), [{
            "id": gid, "org_id": org_id, "user_id": owner, "name": f"Group {g}",
            "parent_id": None, "type": "", "description": "", "mutually_exclusive": False,
            "metadata": None, "custom_data": None, "created_at": NOW}
            for g, gid in enumerate(group_ids)])
        await conn.execute(insert(node_group_members), [{
            "group_id": group_ids[i // per_group], "node_id": node_id, "org_id": org_id,
            "position": i % per_group} for i, node_id in enumerate(node_ids)])
        await conn.execute(insert(node_group_shares), [{
            "group_id": gid, "user_id": viewer, "org_id": org_id, "role": SECONDARY,
            "share_metadata": None, "created_at": NOW} for gid in group_ids])
        await uow.commit()
    return Viewer(token=token, nodes=len(node_ids))


async def count_rest(env: Env, viewer: Viewer) -> tuple[int, int]:
    """(all statements, those reading nodes or memberships) of one page of 100 over REST."""
    headers = {"Authorization": viewer.token}
    with counting_statements(env) as statements:
        r = await env.client.get("/v1/user/nodes?num_records=100", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == viewer.nodes
    assert len(body["nodes"]) == min(100, viewer.nodes)
    return len(statements), sum("node" in s.lower() for s in statements)


async def count_graphql(env: Env, viewer: Viewer) -> tuple[int, int]:
    """The same over GraphQL, with the nodes' state and the viewer's role."""
    with counting_statements(env) as statements:
        body = await env.gql(NODES, {"first": 100}, viewer.token)
    assert "errors" not in body, body
    connection = body["data"]["nodes"]
    assert connection["totalCount"] == viewer.nodes
    edges = connection["edges"]
    assert len(edges) == min(100, viewer.nodes)
    assert all(e["node"]["role"] == "SECONDARY"
               and e["node"]["params"] == {"Light": {"power": True}} for e in edges)
    return len(statements), sum("node" in s.lower() for s in statements)


async def test_listing_nodes_reached_through_groups_costs_constant_statements(env: Env
                                                                              ) -> None:
    # both more than a page (100): a page that holds the whole list needs no count
    small = await viewer_through_groups(env, "small", groups=5, per_group=30)
    large = await viewer_through_groups(env, "large", groups=50, per_group=40)
    for viewer in (small, large):  # warm caches (authentication, policies)
        await count_rest(env, viewer)
        await count_graphql(env, viewer)

    rest = (await count_rest(env, small), await count_rest(env, large))
    graphql = (await count_graphql(env, small), await count_graphql(env, large))
    print(f"SQL statements (all, on nodes) 5x30 -> 50x40 nodes through groups: "
          f"REST {rest[0]} -> {rest[1]}, GraphQL {graphql[0]} -> {graphql[1]}")
    assert rest[0] == rest[1]
    assert graphql[0] == graphql[1]
    # the page of memberships (direct and through groups, one query), the total (a count
    # of index entries), then the page's nodes
    assert rest[0][1] <= 3 and graphql[0][1] <= 3
