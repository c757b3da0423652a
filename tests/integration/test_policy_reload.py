"""Two app instances (two replicas) on one database: a policy change made through one is in
force in the other on its next request — through PostgreSQL LISTEN/NOTIFY when
DATABASE_URL is PostgreSQL, through the in-process watcher on SQLite."""

from __future__ import annotations

import asyncio
import time

from adapters.authz.watcher import LocalPolicyWatcher, PgPolicyWatcher
from fleetgate.settings import Settings
from tests.conftest import ON_POSTGRES, Env, start_env

ALLOW = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                        "Resource": ["/v1/admin/nodes"]}]}
DENY = {"statement": [{"Effect": "Allow", "Action": ["api:Get"],
                       "Resource": ["/v1/admin/nodes"]},
                      {"Effect": "Deny", "Action": ["api:*"], "Resource": ["/v1/admin/*"]}]}


async def _status_on(env: Env, token: str, wanted: int, *, within: float = 5.0) -> float:
    """Seconds until GET /v1/admin/nodes answers `wanted` on this replica."""
    started = time.perf_counter()
    while True:
        r = await env.client.get("/v1/admin/nodes", headers={"Authorization": token})
        if r.status_code == wanted:
            return time.perf_counter() - started
        assert time.perf_counter() - started < within, (r.status_code, r.text)
        await asyncio.sleep(0.01)


async def test_a_change_in_one_replica_is_in_force_in_the_other(settings: Settings) -> None:
    async for a in start_env(settings):
        async for b in start_env(settings):
            watcher = b.container.policy_watcher()
            assert isinstance(watcher, PgPolicyWatcher if ON_POSTGRES else LocalPolicyWatcher)
            admin = {"Authorization": await a.provision("ops@acme.io", org="acme")}
            pat = await a.provision("pat@acme.io", org="acme")
            assert (await b.client.get("/v1/admin/nodes", headers={"Authorization": pat})
                    ).status_code == 400
            r = await a.client.post("/v1/admin/policy", headers=admin,
                                    json={"policy_name": "read", "policy_json": ALLOW})
            assert r.status_code == 200, r.text
            r = await a.client.post("/v1/admin/role", headers=admin, json={
                "role_name": "reader", "policies": ["read"], "role_level": 3})
            assert r.status_code == 200, r.text
            r = await a.client.put("/v1/admin/user_role?user_name=pat@acme.io&operation=add",
                                   headers=admin, json={"roles": ["reader"]})
            assert r.status_code == 200, r.text
            first = await _status_on(b, pat, 200)
            r = await a.client.put("/v1/admin/policy?policy_name=read", headers=admin,
                                   json={"policy_json": DENY})
            assert r.status_code == 200, r.text
            second = await _status_on(b, pat, 400)
            if not ON_POSTGRES:  # in-process: the very next request, no waiting at all
                assert first == second == 0 or (first < 0.05 and second < 0.05)
            else:
                assert watcher.notifications >= 1
            # and the replica that made the change answers with it at once
            r = await a.client.get("/v1/admin/nodes", headers={"Authorization": pat})
            assert r.status_code == 400
