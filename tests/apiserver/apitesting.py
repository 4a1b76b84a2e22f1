"""Helpers for the API server tests: results of real helm/kubectl runs and a plain HTTP
client with a watch reader, for tests of exact request/response semantics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from tooltesting import Completed

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"


Run = Callable[..., Coroutine[Any, Any, Completed]]


@dataclass(frozen=True)
class Reply:
    """A JSON reply from the server."""

    status: int
    body: Any
    headers: dict[str, str]


class Client:
    """Plain HTTP against the server, for tests of exact request/response semantics."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self.session.request(
            method,
            self.base + path,
            data=data,
            headers=headers,
            params=params,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as response:
            text = await response.text()
            return Reply(
                response.status, json.loads(text) if text else None, dict(response.headers)
            )

    async def get(self, path: str, **params: str) -> Reply:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any, **params: str) -> Reply:
        return await self.request("POST", path, body, params=params or None)

    async def put(self, path: str, body: Any) -> Reply:
        return await self.request("PUT", path, body)

    async def patch(self, path: str, body: Any, content_type: str, **params: str) -> Reply:
        return await self.request(
            "PATCH", path, body, content_type=content_type, params=params or None
        )

    async def delete(self, path: str, body: Any = None, **params: str) -> Reply:
        return await self.request("DELETE", path, body, params=params or None)

    @contextlib.asynccontextmanager
    async def watch(self, path: str, **params: str) -> AsyncIterator[WatchStream]:
        """Open a watch; the stream yields decoded events."""
        async with self.session.get(
            self.base + path,
            params={"watch": "true", **params},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=10),
        ) as response:
            assert response.status == 200, await response.text()
            yield WatchStream(response)


class WatchStream:
    """Events of one watch response, read with a deadline."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, within: float = 5.0) -> dict[str, Any] | None:
        """The next event, or None at the end of the stream."""
        line = await asyncio.wait_for(self.response.content.readline(), within)
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        return event

    async def take(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, f"stream ended after {events}"
            events.append(event)
        return events

    async def rest(self, within: float = 5.0) -> list[dict[str, Any]]:
        """Every event until the server ends the stream."""
        events: list[dict[str, Any]] = []
        while (event := await self.next(within)) is not None:
            events.append(event)
        return events
