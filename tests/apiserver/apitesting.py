"""Helpers for the API server tests: results of real helm/kubectl runs, a HelmRelease, and a
plain HTTP client with a watch reader, for tests of exact request/response semantics."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from testkit import Completed

READ_LIMIT = 30.0
"""Seconds to wait for the next event of a watch: only bounds a failure."""

Run = Callable[..., Coroutine[Any, Any, Completed]]


@dataclass(frozen=True)
class Reply:
    """A JSON reply from the server."""

    status: int
    body: Any
    headers: dict[str, str]


def helmrelease(name: str) -> dict[str, Any]:
    """A HelmRelease in default, of a chart from a repository nothing ever fetches from."""
    return {
        "apiVersion": "flux.weave.works/v1beta1",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "chart": {"repository": "http://127.0.0.1:1/", "name": "podinfo", "version": "~6.7"}
        },
    }


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: nginx:1}]}
"""
"""A Deployment ``web`` as kubectl applies it (YAML), for the tests that need one."""


DEPLOYED_CHART_VERSION = "6.7.1"
"""The chart version ``deployed_status`` says is deployed (it satisfies ``~6.7``)."""


def deployed_message(name: str) -> str:
    """The message of the Ready (and Released) condition of ``deployed_status``."""
    return (
        f"installed chart podinfo {DEPLOYED_CHART_VERSION} as release default/default-{name},"
        " revision 1"
    )


def deployed_status(name: str) -> dict[str, Any]:
    """The status the operator writes after installing the release of ``helmrelease(name)``."""
    message = deployed_message(name)
    return {
        "status": {
            "releaseName": f"default-{name}",
            "releaseStatus": "deployed",
            "revision": DEPLOYED_CHART_VERSION,
            "lastReleaseRevision": 1,
            "lastAttemptedRevision": DEPLOYED_CHART_VERSION,
            "phase": "Succeeded",
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Succeeded", "message": message},
                {"type": "Released", "status": "True", "reason": "Succeeded", "message": message},
            ],
        }
    }


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

    async def next(self, within: float = READ_LIMIT) -> dict[str, Any] | None:
        """The next event, or None at the end of the stream."""
        line = await asyncio.wait_for(self.response.content.readline(), within)
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        return event

    async def take(self, count: int, within: float = READ_LIMIT) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for _ in range(count):
            event = await self.next(within)
            assert event is not None, f"stream ended after {events}"
            events.append(event)
        return events

    async def rest(self, within: float = READ_LIMIT) -> list[dict[str, Any]]:
        """Every event until the server ends the stream."""
        events: list[dict[str, Any]] = []
        while (event := await self.next(within)) is not None:
            events.append(event)
        return events
