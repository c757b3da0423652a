"""The device load generator of bench/ingest: K devices publishing N params/local each.

Two kinds, both outside the measuring process so the consumer keeps its core:

* ``mosquitto_pub``  one Mosquitto C client per device (``mosquitto_pub -l -q 1``, each with
  the device's own credentials and client id = node id, as the broker's ACL requires),
  managed from one child process; a client's PUBACKs are counted from its debug output,
  and it stays connected until stop (amqtt forgets the queued messages of a client that
  disconnects before they were forwarded, although it acknowledged them);
* ``processes``      P spawned Python processes, each publishing for a slice of the devices
  with aiomqtt (a few QoS 1 messages in flight per device).

The parent talks to each child over a Pipe: "ready" once every device is connected, "go",
("done", seconds from go to the last PUBACK), "stop".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

IN_FLIGHT_PER_DEVICE = 16
CONNECT_DEADLINE_S = 60.0
PHASE_DEADLINE_S = 300.0
KINDS = ("mosquitto_pub", "processes")


@dataclass(frozen=True)
class Device:
    node_id: str
    password: str


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    authenticated: bool  # False: an anonymous broker (device credentials are left out)


def payload(phase: str, seq: int) -> bytes:
    return json.dumps({"Bench": {"seq": seq, "phase": phase, "level": seq % 101}}).encode()


def topic(device: Device) -> str:
    return f"node/{device.node_id}/params/local"


def _c_client_usable() -> bool:
    # stdbuf: mosquitto_pub's debug lines (CONNACK, PUBACK) must reach us as they happen
    return shutil.which("mosquitto_pub") is not None and shutil.which("stdbuf") is not None


def resolve_kind(kind: str) -> str:
    """auto: the C clients when installed, else Python processes."""
    if kind == "auto":
        return "mosquitto_pub" if _c_client_usable() else "processes"
    if kind == "mosquitto_pub" and not _c_client_usable():
        raise RuntimeError("mosquitto_pub or stdbuf is not installed (apt-get install "
                           "mosquitto-clients coreutils)")
    return kind


# ------------------------------------------------------------------------ the aiomqtt kind


async def _aiomqtt_devices(target: Target, devices: Sequence[Device], count: int, phase: str,
                           conn: Connection) -> None:
    import aiomqtt

    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for device in devices:
            client = aiomqtt.Client(
                target.host, target.port, identifier=device.node_id,
                username=device.node_id if target.authenticated else None,
                password=device.password if target.authenticated else None,
                max_inflight_messages=IN_FLIGHT_PER_DEVICE)
            clients.append(await stack.enter_async_context(client))
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        started = time.perf_counter()

        async def run(device: Device, client: aiomqtt.Client) -> None:
            for first in range(0, count, IN_FLIGHT_PER_DEVICE):
                # started in order, so paho sends them in order on this one connection
                await asyncio.gather(*(client.publish(topic(device), payload(phase, seq), qos=1)
                                       for seq in range(first, min(first + IN_FLIGHT_PER_DEVICE,
                                                                   count))))

        await asyncio.gather(*(run(d, c) for d, c in zip(devices, clients, strict=True)))
        conn.send(("done", time.perf_counter() - started))
        await asyncio.to_thread(conn.recv)  # "stop": stay connected until the consumer is done


# ------------------------------------------------------------------ the mosquitto_pub kind


class _CClient:
    """One mosquitto_pub process for one device, reading messages from stdin (-l)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.acked = 0
        self.connected = asyncio.Event()
        self.done = asyncio.Event()
        self.expected = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        pending = b""
        while chunk := await self.process.stdout.read(65536):
            pending += chunk
            cut = pending.rfind(b"\n") + 1  # whole lines only: a marker is never split
            lines, pending = pending[:cut], pending[cut:]
            if b"received CONNACK" in lines:
                self.connected.set()
            self.acked += lines.count(b"received PUBACK")
            if self.expected and self.acked >= self.expected:
                self.done.set()
        self.connected.set()  # exited: the caller finds out from the counts
        self.done.set()


async def _c_devices(target: Target, devices: Sequence[Device], count: int, phase: str,
                     conn: Connection) -> None:
    binary, stdbuf = shutil.which("mosquitto_pub"), shutil.which("stdbuf")
    assert binary is not None and stdbuf is not None
    clients: list[_CClient] = []
    try:
        for device in devices:
            args = [stdbuf, "-oL", binary, "-h", target.host, "-p", str(target.port),
                    "-q", "1", "-l", "-d", "-M", str(IN_FLIGHT_PER_DEVICE),
                    "-i", device.node_id, "-t", topic(device)]
            if target.authenticated:
                args += ["-u", device.node_id, "-P", device.password]
            process = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT)
            clients.append(_CClient(process))
        async with asyncio.timeout(CONNECT_DEADLINE_S):
            await asyncio.gather(*(c.connected.wait() for c in clients))
        refused = [c for c in clients if c.process.returncode is not None]
        if refused:
            raise RuntimeError(f"{len(refused)} mosquitto_pub clients could not connect "
                               f"(exit code {refused[0].process.returncode})")
        lines = [b"".join(payload(phase, seq) + b"\n" for seq in range(count))
                 for _ in devices]
        conn.send("ready")
        await asyncio.to_thread(conn.recv)  # "go"
        started = time.perf_counter()
        for client, data in zip(clients, lines, strict=True):
            client.expected = client.acked + count
            assert client.process.stdin is not None
            client.process.stdin.write(data)
        await asyncio.gather(*(c.process.stdin.drain() for c in clients
                               if c.process.stdin is not None))
        async with asyncio.timeout(PHASE_DEADLINE_S):
            await asyncio.gather(*(c.done.wait() for c in clients))
        elapsed = time.perf_counter() - started
        short = [c.acked - (c.expected - count) for c in clients if c.acked < c.expected]
        if short:
            raise RuntimeError(f"mosquitto_pub exited early: {len(short)} clients, "
                               f"acknowledged {short[:5]} of {count}")
        conn.send(("done", elapsed))
        await asyncio.to_thread(conn.recv)  # "stop"
    finally:
        for client in clients:
            if client.process.stdin is not None:
                client.process.stdin.close()  # EOF: mosquitto_pub disconnects and exits
        for client in clients:
            try:
                async with asyncio.timeout(5):
                    await client.process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    client.process.kill()
            client.reader.cancel()


# ------------------------------------------------------------------------------ the parent


def generator_process(kind: str, target: Target, devices: list[Device], count: int,
                      phase: str, conn: Connection) -> None:
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # paho's "pending publish calls"
    work = _c_devices if kind == "mosquitto_pub" else _aiomqtt_devices
    try:
        asyncio.run(work(target, devices, count, phase, conn))
    except BaseException as exc:  # report, the parent raises it
        with contextlib.suppress(OSError):
            conn.send(("error", repr(exc)))


class Generator:
    """The K devices in child processes: connected first, publishing on go()."""

    def __init__(self, kind: str, processes: int, target: Target, devices: list[Device],
                 count: int, phase: str) -> None:
        context = multiprocessing.get_context("spawn")
        parts = 1 if kind == "mosquitto_pub" else max(1, min(processes, len(devices)))
        slices = [devices[i::parts] for i in range(parts)]
        self._children: list[tuple[Connection, Any]] = []
        for part in slices:
            conn, child = context.Pipe()
            process = context.Process(target=generator_process,
                                      args=(kind, target, part, count, phase, child),
                                      daemon=True)
            self._children.append((conn, process))

    async def _recv(self, conn: Connection, within: float) -> Any:
        message = await asyncio.wait_for(asyncio.to_thread(conn.recv), within)
        if isinstance(message, tuple) and message[0] == "error":
            raise RuntimeError(f"load generator failed: {message[1]}")
        return message

    async def connect(self) -> None:
        for _, process in self._children:
            process.start()
        for conn, _ in self._children:
            if await self._recv(conn, CONNECT_DEADLINE_S) != "ready":
                raise RuntimeError("load generator did not connect")

    def go(self) -> None:
        for conn, _ in self._children:
            conn.send("go")

    async def finished(self) -> float:
        """Seconds from go until the last device had every PUBACK (the slowest child)."""
        done = await asyncio.gather(*(self._recv(conn, PHASE_DEADLINE_S)
                                      for conn, _ in self._children))
        return max(float(value) for _, value in done)

    async def stop(self) -> None:
        for conn, process in self._children:
            if process.is_alive():
                with contextlib.suppress(OSError):
                    conn.send("stop")
        for _, process in self._children:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.kill()
