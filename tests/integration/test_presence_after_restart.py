"""Connectivity is true after a gateway restart (issue 15, item 6). The embedded broker dies
with the gateway, so the last wills of devices that vanish meanwhile reach nobody: after the
restart, the nodes still marked online that are not heard from within the grace period are
marked offline (node_disconnected); those that reconnect or report stay online, and one that
comes back later is online again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import aiomqtt

from domain.devices.model import NodeEvent
from domain.devices.presence import NodePresence
from domain.devices.provisioning import ProvisionedNode
from fleetgate.settings import Settings
from ports.repositories.uow import SYSTEM_SCOPE
from tests.conftest import Env, running_gateway
from tests.integration.test_device_runtime import broker_address, node_state, wait_for
from tests.integration.test_mqtt_broker import free_port

GRACE = 2.0


@contextlib.asynccontextmanager
async def device(env: Env, node: ProvisionedNode) -> AsyncIterator[aiomqtt.Client]:
    """A device connected with its last will, left to die with the broker at the end."""
    host, port = broker_address(env)
    will = aiomqtt.Will(f"node/{node.node_id}/connection", json.dumps({"connected": False}),
                        qos=1)
    client = aiomqtt.Client(host, port, identifier=node.node_id, username=node.node_id,
                            password=node.mqtt_password, will=will)
    await client.__aenter__()
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.__aexit__(None, None, None)
        lost = getattr(client, "_disconnected", None)  # the broker died under it: seen,
        if lost is not None and lost.done() and not lost.cancelled():  # not "never retrieved"
            lost.exception()


async def announce(client: aiomqtt.Client, node_id: str) -> None:
    await client.publish(f"node/{node_id}/connection", json.dumps(
        {"connected": True, "timestamp": int(time.time() * 1000)}), qos=1)


def drain(queue: asyncio.Queue[NodeEvent], kind: str) -> list[str]:
    found = []
    while not queue.empty():
        event = queue.get_nowait()
        if event.kind == kind:
            found.append(event.node_id)
    return found


async def test_nodes_unheard_after_a_restart_go_offline_and_the_others_stay_online(
        settings: Settings) -> None:
    settings = replace(settings, mqtt_port=free_port(), device_offline_grace_seconds=GRACE)
    async with contextlib.AsyncExitStack() as devices:
        async with running_gateway(settings) as env:
            nodes = {name: await env.provision_node(org) for name, org in (
                ("gone", "Acme"), ("back", "Initech"), ("talks", "Globex"),
                ("late", "Umbrella"))}
            for node in nodes.values():
                await announce(await devices.enter_async_context(device(env, node)),
                               node.node_id)
            for node in nodes.values():
                await wait_for(env, node.node_id, lambda n: n.connectivity.connected)
        # the gateway stopped with the devices connected: their wills died with its broker
        async with running_gateway(replace(settings, device_offline_grace_seconds=60)) as env:
            for node in nodes.values():
                found = await node_state(env, node.node_id)
                assert found is not None and found.connectivity.connected

    restarted = replace(settings, mqtt_port=free_port())
    async with running_gateway(restarted) as env:
        listening = time.monotonic()
        runtime = env.app.state.devices_runtime
        events = env.container.events().subscribe()
        async with device(env, nodes["back"]) as back, device(env, nodes["talks"]) as talks:
            await announce(back, nodes["back"].node_id)
            await talks.publish(f"node/{nodes['talks'].node_id}/params/local",
                                json.dumps({"Fan": {"speed": 2}}), qos=1)
            await wait_for(env, nodes["talks"].node_id,
                           lambda n: n.reported == {"Fan": {"speed": 2}})

            await wait_for(env, nodes["gone"].node_id, lambda n: not n.connectivity.connected,
                           within=GRACE + 10)
            took = time.monotonic() - listening
            await wait_for(env, nodes["late"].node_id, lambda n: not n.connectivity.connected)
            for name in ("back", "talks"):
                found = await node_state(env, nodes[name].node_id)
                assert found is not None and found.connectivity.connected, name
            assert sorted(drain(events, "node_disconnected")) == sorted(
                [nodes["gone"].node_id, nodes["late"].node_id])
            assert runtime.presence.marked_offline == 2

            async with device(env, nodes["late"]) as late:  # back after the check: online
                await announce(late, nodes["late"].node_id)
                await wait_for(env, nodes["late"].node_id, lambda n: n.connectivity.connected)
            assert drain(events, "node_connected") == [nodes["late"].node_id]
    assert GRACE - 0.3 <= took <= GRACE + 5  # within 1.5 x keepalive + 5 s (M6)
    print(f"\nunheard nodes marked offline {took:.2f}s after the gateway listened "
          f"(grace {GRACE}s)")


async def test_the_check_pages_through_every_organizations_nodes_in_the_database(
        env: Env) -> None:
    ids = [(await env.provision_node(f"Org {i}")).node_id for i in range(5)]
    uow, clock = env.container.uow(), env.container.clock()
    started = clock.now()
    stamp = int(started.timestamp() * 1000) - 60_000  # connected a minute before the restart
    async with uow(SYSTEM_SCOPE) as tx:
        for node in await tx.nodes.get_many(ids):
            node.apply_connection(True, stamp, started)
            await tx.nodes.save(node)
        await tx.commit()
    presence = NodePresence(uow=uow, clock=clock, page_size=2)

    events = await presence.mark_unheard_offline(
        restarted_at=started - timedelta(seconds=GRACE), grace=timedelta(seconds=GRACE),
        last_heard={ids[1]: started, ids[3]: started})

    assert sorted(e.node_id for e in events) == sorted([ids[0], ids[2], ids[4]])
    async with uow(SYSTEM_SCOPE) as tx:
        online = {n.id for n in await tx.nodes.get_many(ids) if n.connectivity.connected}
    assert online == {ids[1], ids[3]}
