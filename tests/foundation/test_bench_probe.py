"""The bench's /healthz prober: a process of its own, one keep-alive connection, asked
until told to stop, and its figure is the longest answer it waited for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bench.harness import probe
from testkit import wait_for


class Server:
    """Answers every GET; holds the third answer until ``gate`` is set."""

    def __init__(self) -> None:
        self.peers: list[object] = []
        self.gate = asyncio.Event()
        self.held = 0.0
        self.url = ""

    async def answer(self, request: web.Request) -> web.Response:
        transport = request.transport
        self.peers.append(transport.get_extra_info("peername") if transport else None)
        if len(self.peers) == 3:
            started = time.monotonic()
            await self.gate.wait()
            self.held = time.monotonic() - started
        return web.Response(text="ok")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    served = Server()
    app = web.Application()
    app.router.add_get("/healthz", served.answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.url = f"http://127.0.0.1:{port}/healthz"
    try:
        yield served
    finally:
        await runner.cleanup()


async def test_the_longest_answer_is_the_figure(server: Server) -> None:
    stop = asyncio.Event()
    longest = asyncio.create_task(probe(server.url, stop))
    await wait_for(lambda: len(server.peers) >= 3 or None, what="the held request")
    server.gate.set()
    await wait_for(lambda: len(server.peers) >= 5 or None, what="two more requests")
    stop.set()
    assert await longest >= server.held > 0
    assert len(set(server.peers)) == 1  # one connection all along
