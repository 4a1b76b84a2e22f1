"""Something a test, benchmark or the demo starts for the length of an ``async with`` block."""

from __future__ import annotations

import abc
import ssl
from types import TracebackType
from typing import Any, Self

from aiohttp import web

SHUTDOWN_TIMEOUT = 2.0
"""Seconds a loopback site waits for open connections when it stops."""


class Service(abc.ABC):
    """``async with`` runs ``start``, and ``end`` when the block ends or ``start`` fails."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Get it going."""

    @abc.abstractmethod
    async def end(self) -> None:
        """Stop whatever ``start`` got going (safe to call when nothing is running)."""

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.end()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.end()


class LoopbackSite(Service):
    """A Service that serves an aiohttp application on a free port (``port``) until the
    block ends; its ``start`` builds the application and calls ``listen``."""

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def listen(
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        **runner_options: Any,
    ) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, **runner_options
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, host, 0, ssl_context=ssl_context).start()
        addresses = self._runner.addresses
        self.port = next(address[1] for address in addresses if isinstance(address, tuple))

    async def end(self) -> None:
        """Stop listening (what it saw stays readable)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
