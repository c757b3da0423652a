"""A TCP forwarder in front of a broker, for fault tests: drop its live connections (the
client loses the broker, the broker stays), or cut it (drop and refuse new ones) and start it
again on the same port."""

from __future__ import annotations

import asyncio

from tests.integration.test_mqtt_broker import free_port


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.WriteTransport] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    def drop(self) -> None:
        """Aborts every live connection; new ones are still accepted."""
        for transport in self._transports:
            transport.abort()
        self._transports.clear()

    async def cut(self) -> None:
        """Drops every connection and refuses new ones until start()."""
        assert self._server is not None
        self._server.close()
        self.drop()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self.cut()

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._transports |= {writer.transport, up_writer.transport}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
