"""Watcher: list + watch into the cache and on to workers, through faults, never missing a change.

Against the in-memory API server: 500 HelmReleases created, updated and
deleted in random interleavings end in the right cache state with each key's
last version handed to a worker; the same with every watch cut after every few
batches of changes and a history compaction (410) midway; a 410 relist turns
deletions made while away into deletions; 500 and 429 answers on list and watch are retried (the
latter after Retry-After); bookmarks advance the resourceVersion; a label
selector and metadata-only list and watch serve helm's release Secrets without
their data (a transform drops it from a server that sends it anyway).
Against hand-written servers: a silent watch is dropped by the inactivity timeout,
malformed objects and events are skipped, credentials that cannot be read for a
while (a token file being replaced) are retried rather than stopping the watcher.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubetesting import GROUP, VERSION, helmrelease, helmreleases, plain_client, tiny_server
from prometheus_client import REGISTRY

from apiserver.jsontext import dumps
from apiserver.server import ApiServer
from controller.keys import ObjectKey
from controller.kube.cache import Cache, resource_version
from controller.kube.client import KubeClient, NotFound, resource_path
from controller.kube.watching import WatchedResource, Watcher, drop_bookkeeping
from controller.outcome import Outcome
from controller.queue import WorkQueue
from controller.settings import QueueSettings, WatchSettings
from controller.workers import Workers
from testkit import wait_for

WATCH = WatchSettings(backoff_initial=0.01, backoff_max=0.1, inactivity_timeout=10.0)
QUEUE = QueueSettings(workers=4, retry_initial=0.01, retry_max=0.1)
HELMRELEASES = WatchedResource(GROUP, VERSION, "helmreleases")


def restarts(reason: str) -> float:
    return REGISTRY.get_sample_value("helmrelease_watch_restarts_total", {"reason": reason}) or 0.0


class Pipeline:
    """Watcher -> cache -> queue -> workers, with a reconciler recording what it saw."""

    def __init__(self, client: KubeClient, resource: WatchedResource, watch: WatchSettings) -> None:
        self.queue: WorkQueue[ObjectKey] = WorkQueue(QUEUE)
        self.cache = Cache(on_change=self.queue.add)
        self.watcher = Watcher(client, resource, self.cache, watch)
        self.workers = Workers(self.queue, self.reconcile, QUEUE)
        self.last_seen: dict[ObjectKey, str | None] = {}  # key -> version reconciled last
        self.task: asyncio.Task[None] | None = None

    async def reconcile(self, key: ObjectKey) -> Outcome:
        obj = self.cache.get(key)
        self.last_seen[key] = None if obj is None else resource_version(obj)
        return Outcome.forget()

    def start_watching(self) -> None:
        assert self.task is None, "already watching"
        self.task = asyncio.create_task(self.watcher.run(), name="watcher")

    async def stop_watching(self) -> None:
        """Cancel the watcher and wait until it ended; again if a cancel of ours cut that
        wait short (the task is forgotten only once it is done), never swallowing it."""
        if self.task is None:
            return
        self.task.cancel()
        await asyncio.wait([self.task])
        ended, self.task = self.task, None
        if not ended.cancelled():
            ended.result()  # the watcher failed: say how

    @asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        """Not watching inside the block; watching again after it, even if it is cancelled."""
        await self.stop_watching()
        try:
            yield
        finally:
            self.start_watching()

    def caught_up_with(self, server: dict[ObjectKey, str]) -> bool:
        """The cache equals ``server`` and workers saw each key's final state last."""
        cached = {key: resource_version(self.cache.get(key) or {}) for key in self.cache}
        if cached != server or len(self.queue) or self.workers.busy:
            return False
        if not set(server) <= set(self.last_seen):
            return False
        return all(self.last_seen.get(key) == server.get(key) for key in self.last_seen)


@asynccontextmanager
async def pipeline(
    client: KubeClient, resource: WatchedResource = HELMRELEASES, watch: WatchSettings = WATCH
) -> AsyncIterator[Pipeline]:
    running = Pipeline(client, resource, watch)
    running.workers.start()
    running.start_watching()
    try:
        yield running
    finally:
        await running.stop_watching()
        await running.workers.drain(grace=1.0)


async def server_state(client: KubeClient) -> dict[ObjectKey, str]:
    listed = await client.request("GET", helmreleases())
    return {
        ObjectKey(GROUP, item["metadata"]["namespace"], item["metadata"]["name"]): item["metadata"][
            "resourceVersion"
        ]
        for item in listed["items"]
    }


BatchHook = Callable[[int], Awaitable[None]]


async def no_faults(batch: int) -> None:
    pass


async def churn(
    client: KubeClient, seed: int, names: int, operations: int, after_batch: BatchHook = no_faults
) -> None:
    """Random creates, updates and deletes, 20 names at a time in parallel; ``after_batch``
    runs after each batch (numbered from 1): faults happen at points of the workload."""
    rng = random.Random(seed)
    exists: set[str] = set()

    async def touch(name: str) -> None:
        if name not in exists:
            exists.add(name)
            await client.request("POST", helmreleases("default"), body=helmrelease(name))
        elif rng.random() < 0.3:
            exists.discard(name)
            await client.request("DELETE", helmreleases("default", name))
        else:
            patch = {"spec": {"values": {"n": rng.randrange(1000)}}}
            await client.request(
                "PATCH",
                helmreleases("default", name),
                body=patch,
                content_type="application/merge-patch+json",
            )

    for number, _ in enumerate(range(0, operations, 20), start=1):
        batch = {f"hr-{rng.randrange(names):03d}" for _ in range(20)}
        await asyncio.gather(*(touch(name) for name in sorted(batch)))
        await after_batch(number)


@pytest.mark.usefixtures("crds")
async def test_random_churn_of_500_releases_reaches_the_final_state(client: KubeClient) -> None:
    async with pipeline(client) as running:
        await running.cache.synced.wait()
        await churn(client, seed=1, names=500, operations=1500)
        server = await server_state(client)
        assert 100 < len(server) < 500  # the churn left some alive and deleted others
        await wait_for(lambda: running.caught_up_with(server), what="the pipeline to catch up")


CUT_EVERY = 5
"""Batches of changes between two cuts of every watch."""
COMPACT_AT = 32
"""The batch after which the watcher goes away, the history is compacted, and it returns."""


@pytest.mark.usefixtures("crds")
async def test_nothing_is_missed_with_watches_cut_and_history_compacted(
    client: KubeClient, api: ApiServer
) -> None:
    expired_before = restarts("expired")
    closed_before = restarts("closed")
    cuts = 0
    async with pipeline(client) as running:

        async def faults(batch: int) -> None:
            nonlocal cuts
            if batch % CUT_EVERY == 0:
                await watch_reopened(api)
                api.faults.cut_watches()
                cuts += 1
            if batch == COMPACT_AT:
                await watch_reopened(api)
                await compact_while_away(client, api, running)

        await running.cache.synced.wait()
        await churn(client, seed=2, names=300, operations=1200, after_batch=faults)
        server = await server_state(client)
        await wait_for(lambda: running.caught_up_with(server), what="the pipeline to catch up")
        await wait_for(
            lambda: restarts("closed") >= closed_before + cuts, what="each cut to end a watch"
        )
    assert restarts("expired") == expired_before + 1


async def watch_reopened(api: ApiServer) -> None:
    """Wait until the watcher watches again: it has seen the end of the watch cut before
    (and counted it), so the next cut or cancel ends a watch it knows about."""
    await wait_for(lambda: api.hub.open_count() > 0, what="the watch to reopen")


async def compact_while_away(client: KubeClient, api: ApiServer, running: Pipeline) -> None:
    """Stop watching, let changes happen, compact the history, watch again from the old RV."""
    async with running.away():
        away_from = int(running.watcher.resource_version or 0)
        await client.request("POST", helmreleases("default"), body=helmrelease("while-away"))
        await client.request("DELETE", helmreleases("default", "while-away"))
        listed = await client.request("GET", helmreleases())
        assert int(listed["metadata"]["resourceVersion"]) > away_from
        api.faults.compact()


@pytest.mark.usefixtures("crds")
async def test_expired_watch_relists_and_reports_deletions_made_while_away(
    client: KubeClient, api: ApiServer
) -> None:
    for name in ("stays", "changes", "goes"):
        await client.request("POST", helmreleases("default"), body=helmrelease(name))
    expired_before = restarts("expired")
    async with pipeline(client) as running:
        await wait_for(lambda: len(running.cache) == 3, what="the three listed")
        async with running.away():
            await client.request("DELETE", helmreleases("default", "goes"))
            patch = {"spec": {"values": {"x": 1}}}
            await client.request(
                "PATCH",
                helmreleases("default", "changes"),
                body=patch,
                content_type="application/merge-patch+json",
            )
            await client.request("POST", helmreleases("default"), body=helmrelease("new"))
            api.faults.compact()
        server = await server_state(client)
        await wait_for(lambda: running.caught_up_with(server), what="the pipeline to catch up")
        assert ObjectKey(GROUP, "default", "goes") in running.last_seen
    assert restarts("expired") == expired_before + 1


@pytest.mark.usefixtures("crds")
async def test_list_and_watch_failures_are_retried(client: KubeClient, api: ApiServer) -> None:
    errors_before = restarts("error")
    api.faults.fail_next(2, "list", "helmreleases", status=500)
    api.faults.fail_next(2, "watch", "helmreleases", status=500)
    async with pipeline(client) as running:
        await running.cache.synced.wait()
        await client.request("POST", helmreleases("default"), body=helmrelease("after"))
        await wait_for(lambda: len(running.cache) == 1, what="the object created")
    lists = [r.code for r in api.audit.find(verb="list", resource="helmreleases")]
    watches = [r.code for r in api.audit.find(verb="watch", resource="helmreleases")]
    assert lists[:3] == [500, 500, 200]
    assert watches[:2] == [500, 500]  # an open watch is audited only when it ends
    assert restarts("error") >= errors_before + 4


@pytest.mark.usefixtures("crds")
async def test_throttled_watch_waits_for_retry_after(client: KubeClient, api: ApiServer) -> None:
    api.faults.fail_next(1, "watch", "helmreleases", status=429, retry_after=1)
    async with pipeline(client) as running:
        await running.cache.synced.wait()
        await client.request("POST", helmreleases("default"), body=helmrelease("a"))
        await wait_for(lambda: len(running.cache) == 1, what="a watch to bring the object")
        arrived = time.time()
    (throttled,) = api.audit.find(verb="watch", code=429)
    assert arrived - throttled.time >= 0.9  # Retry-After (1 s) was honoured, not the backoff


@pytest.mark.usefixtures("crds")
async def test_bookmarks_advance_the_resource_version(
    client: KubeClient, make_namespace: Any
) -> None:
    await make_namespace("elsewhere")
    watched = WatchedResource(GROUP, VERSION, "helmreleases", namespace="default")
    async with pipeline(client, watched) as running:
        await running.cache.synced.wait()
        other = await client.request(
            "POST", helmreleases("elsewhere"), body=helmrelease("x", "elsewhere")
        )
        target = int(other["metadata"]["resourceVersion"])
        await wait_for(
            lambda: int(running.watcher.resource_version or 0) >= target,
            what=f"a bookmark at resourceVersion {target} or later",
        )
        assert len(running.cache) == 0


def release_secret(name: str, labels: dict[str, str]) -> dict[str, Any]:
    metadata = {"name": name, "labels": labels}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "data": {"k": "dg=="}}


async def test_release_secrets_are_watched_by_label_as_metadata_only(
    client: KubeClient,
) -> None:
    secrets = resource_path("", "v1", "secrets", "default")
    body = release_secret("sh.helm.release.v1.a.v1", {"owner": "helm"})
    await client.request("POST", secrets, body=body)
    await client.request("POST", secrets, body=release_secret("unrelated", {"app": "x"}))
    cache = Cache()
    resource = WatchedResource("", "v1", "secrets", label_selector="owner=helm", metadata_only=True)
    watcher = Watcher(client, resource, cache, WATCH)
    task = asyncio.create_task(watcher.run())
    try:
        await cache.synced.wait()  # the listed one
        body = release_secret("sh.helm.release.v1.a.v2", {"owner": "helm"})
        await client.request("POST", secrets, body=body)
        await wait_for(lambda: len(cache) == 2, what="the watched Secret too")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for key in cache:
        assert key.group == ""
        assert key.name.startswith("sh.helm.release.v1.a.")
        obj = cache.get(key) or {}
        assert obj["kind"] == "PartialObjectMetadata"  # the server never sent the data
        assert set(obj) == {"kind", "apiVersion", "metadata"}
        assert obj["metadata"]["labels"] == {"owner": "helm"}


async def test_a_transform_drops_what_a_server_sends_beyond_metadata(client: KubeClient) -> None:
    def without_data(obj: dict[str, Any]) -> dict[str, Any]:
        obj.pop("data", None)
        return obj

    secrets = resource_path("", "v1", "secrets", "default")
    body = release_secret("sh.helm.release.v1.a.v1", {"owner": "helm"})
    await client.request("POST", secrets, body=body)
    cache = Cache()
    resource = WatchedResource("", "v1", "secrets", label_selector="owner=helm")
    watcher = Watcher(client, resource, cache, WATCH, transform=without_data)
    task = asyncio.create_task(watcher.run())
    try:
        await cache.synced.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    (key,) = cache
    assert "data" not in (cache.get(key) or {})


async def test_a_watcher_survives_credentials_it_cannot_read_for_a_while(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("expired")
    release_handlers = asyncio.Event()
    refused = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal refused
        if request.headers.get("Authorization") != "Bearer valid":
            refused += 1
            return web.json_response({"reason": "Unauthorized", "code": 401}, status=401)
        if request.query.get("watch") != "true":
            return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})
        response = web.StreamResponse()
        await response.prepare(request)
        await release_handlers.wait()
        return response

    errors_before = restarts("error")
    async with tiny_server(handler) as port:
        try:
            url = f"http://127.0.0.1:{port}"
            client = await plain_client(tmp_path, url, {"tokenFile": str(token_file)})
            token_file.unlink()  # the expired token's file is being replaced
            async with client, pipeline(client) as running:
                await wait_for(
                    lambda: restarts("error") >= errors_before + 2, what="two failed attempts"
                )
                token_file.write_text("valid")
                await running.cache.synced.wait()
        finally:
            release_handlers.set()
    assert refused == 1  # the token was re-read, not resent, until it could be read again


def test_bookkeeping_is_dropped_from_cached_objects() -> None:
    obj = {
        "metadata": {
            "name": "a",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                "keep": "me",
            },
        },
        "spec": {},
    }
    assert drop_bookkeeping(obj) == {
        "metadata": {"name": "a", "annotations": {"keep": "me"}},
        "spec": {},
    }


async def test_a_silent_watch_is_dropped_by_the_inactivity_timeout(tmp_path: Path) -> None:
    release_handlers = asyncio.Event()
    watches = 0
    added = {
        "type": "ADDED",
        "object": {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "2"}},
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal watches
        if request.query.get("watch") != "true":
            return web.json_response({"items": [], "metadata": {"resourceVersion": "1"}})
        watches += 1
        response = web.StreamResponse()
        await response.prepare(request)
        if watches > 1:  # the first watch stays silent, as a dead connection would
            await response.write(json.dumps(added).encode() + b"\n")
        await release_handlers.wait()
        return response

    timeouts_before = restarts("timeout")
    settings = WatchSettings(backoff_initial=0.01, backoff_max=0.1, inactivity_timeout=0.2)
    async with tiny_server(handler) as port:
        try:
            client = await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"})
            async with client, pipeline(client, watch=settings) as running:
                await wait_for(lambda: len(running.cache) == 1, what="the second watch's event")
        finally:
            release_handlers.set()  # let the stalled handlers end before the server stops
    assert restarts("timeout") >= timeouts_before + 1


@asynccontextmanager
async def canned_watch(
    tmp_path: Path, listing: bytes, lines: list[bytes]
) -> AsyncIterator[Pipeline]:
    """A pipeline on a server that lists ``listing``, then streams ``lines`` and holds the
    stream open until the block ends."""
    release_handlers = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") != "true":
            return web.Response(body=listing, content_type="application/json")
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"".join(line + b"\n" for line in lines))
        await release_handlers.wait()
        return response

    async with tiny_server(handler) as port:
        try:
            client = await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"})
            async with client, pipeline(client) as running:
                yield running
        finally:
            release_handlers.set()


async def test_malformed_objects_and_events_are_skipped(tmp_path: Path) -> None:
    good = {"metadata": {"name": "good", "namespace": "default", "resourceVersion": "3"}}
    lines = [
        {"type": "SURPRISE", "object": good},
        {"type": "ADDED"},
        {"type": "ADDED", "object": {"metadata": {"resourceVersion": "2"}}},
        [1, 2],
        {"type": "ADDED", "object": good},
    ]
    nameless = {"metadata": {"namespace": "default"}}
    listing = dumps({"items": [nameless], "metadata": {"resourceVersion": "1"}})
    async with canned_watch(tmp_path, listing, [dumps(line) for line in lines]) as running:
        await wait_for(lambda: len(running.cache) == 1, what="the good object")
        assert running.watcher.resource_version == "3"
    assert list(running.cache) == [ObjectKey(GROUP, "default", "good")]


async def test_watch_of_a_missing_resource_keeps_retrying(client: KubeClient) -> None:
    errors_before = restarts("error")
    missing = WatchedResource("example.com", "v1", "widgets")
    async with pipeline(client, missing):
        await wait_for(lambda: restarts("error") >= errors_before + 2, what="two retries")
    with pytest.raises(NotFound):
        await client.request("GET", missing.path)


def deeply_nested(name: str, depth: int, version: str) -> dict[str, Any]:
    """A HelmRelease whose values are nested ``depth`` levels: a real API server stores up
    to 10,000 levels, deeper than Python's default recursion limit lets JSON be read."""
    values: Any = 1
    for _ in range(depth):
        values = {"a": values}
    return {
        "metadata": {"name": name, "namespace": "default", "resourceVersion": version},
        "spec": {"values": values},
    }


async def test_objects_nested_as_deep_as_a_server_stores_are_listed_and_watched(
    tmp_path: Path,
) -> None:
    listing = dumps({"items": [deeply_nested("listed", 9_000, "2")], "metadata": {}})
    after = {"metadata": {"name": "after", "namespace": "default", "resourceVersion": "4"}}
    lines = [
        dumps({"type": "ADDED", "object": deeply_nested("watched", 9_000, "3")}),
        dumps({"type": "ADDED", "object": after}),
    ]
    async with canned_watch(tmp_path, listing, lines) as running:
        await wait_for(lambda: len(running.cache) == 3, what="all three objects")
        assert running.watcher.resource_version == "4"
