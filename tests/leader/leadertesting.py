"""Helpers of the leader election tests: clients of the in-memory API server, directly or
through a TCP proxy the test can partition (a cut-off replica stops renewing without
releasing, as a killed process would).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from apiserver.server import ApiServer
from controller.kube.client import KubeClient
from controller.settings import KubeSettings

LEASE_NAMESPACE = "operators"


class Partition:
    """A TCP proxy to the API server; ``cut()`` drops its connections and refuses new ones."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink), name="proxy-pipe")
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()


PartitionMaker = Callable[[], Awaitable[Partition]]


async def replica_client(api: ApiServer, kubeconfig: Path, port: int) -> KubeClient:
    """A client of ``api`` reaching it on ``port`` (the server's own, or a proxy's)."""
    text = api.kubeconfig().replace(f":{api.port}", f":{port}")
    await asyncio.to_thread(kubeconfig.write_text, text)
    return await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig), request_timeout=1.0))
