"""Watch semantics of the in-memory API server.

Covers resuming from a resourceVersion (history replay then live events, each
once and in order, also as a hypothesis property), the current state as ADDED
when no resourceVersion is given, sendInitialEvents with the initial-events-end
bookmark, periodic bookmarks, timeoutSeconds, 410 Expired after compaction,
label/field/namespace filtering (objects moving out of a selector are DELETED),
closing watchers that fall behind, cut_watches, and many concurrent watchers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from apitesting import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from apiserver import ApiServer
from apiserver.resources import GroupResource, Registry
from apiserver.store import Store
from apiserver.watch import Watcher, WatchHub, WatchOptions

CM = "/api/v1/namespaces/default/configmaps"
CONFIGMAPS = GroupResource("", "configmaps")


def configmap(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
    }


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


async def test_resume_replays_history_then_streams_live_events(client: Client) -> None:
    first = (await client.post(CM, configmap("a"))).body
    await client.post(CM, configmap("b"))
    since = first["metadata"]["resourceVersion"]
    async with client.watch(CM, resourceVersion=since) as stream:
        assert summary(await stream.take(1)) == [("ADDED", "b")]
        await client.post(CM, configmap("c"))
        await client.patch(f"{CM}/c", {"data": {"x": "1"}}, "application/merge-patch+json")
        deleted = (await client.delete(f"{CM}/a")).body
        events = await stream.take(3)
    assert summary(events) == [("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "a")]
    assert (
        events[2]["object"]["metadata"]["resourceVersion"] == deleted["metadata"]["resourceVersion"]
    )
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)


async def test_watch_without_resource_version_starts_with_current_state(client: Client) -> None:
    await client.post(CM, configmap("x"))
    await client.post(CM, configmap("y"))
    async with client.watch(CM) as stream:
        assert summary(await stream.take(2)) == [("ADDED", "x"), ("ADDED", "y")]
    async with client.watch(CM, resourceVersion="0") as stream:
        assert summary(await stream.take(2)) == [("ADDED", "x"), ("ADDED", "y")]


async def test_send_initial_events_ends_with_annotated_bookmark(
    apiserver: ApiServer, client: Client
) -> None:
    await client.post(CM, configmap("one"))
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    async with client.watch(CM, **params) as stream:
        added, bookmark = await stream.take(2)
        assert summary([added]) == [("ADDED", "one")]
        assert bookmark["type"] == "BOOKMARK"
        metadata = bookmark["object"]["metadata"]
        assert metadata["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert int(metadata["resourceVersion"]) == apiserver.store.resource_version
        assert bookmark["object"]["kind"] == "ConfigMap"
        await client.post(CM, configmap("two"))
        assert summary(await stream.take(1)) == [("ADDED", "two")]


async def test_send_initial_events_needs_not_older_than(client: Client) -> None:
    reply = await client.get(CM, watch="true", sendInitialEvents="true")
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"


@pytest.fixture
async def fast_bookmarks() -> AsyncIterator[ApiServer]:
    async with ApiServer(bookmark_interval=0.05) as api:
        yield api


async def test_periodic_bookmarks_carry_the_current_resource_version(
    fast_bookmarks: ApiServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        client = Client(session, fast_bookmarks.url)
        async with client.watch(CM, resourceVersion="1", allowWatchBookmarks="true") as stream:
            event = await stream.next()
        assert event is not None
        assert event["type"] == "BOOKMARK"
        bookmark_rv = int(event["object"]["metadata"]["resourceVersion"])
        assert bookmark_rv == fast_bookmarks.store.resource_version


async def test_timeout_seconds_ends_the_stream(client: Client) -> None:
    async with client.watch(CM, timeoutSeconds="1") as stream:
        assert await stream.rest(within=5) == []


async def test_compacted_history_gives_410_expired_event(
    apiserver: ApiServer, client: Client
) -> None:
    old = (await client.post(CM, configmap("old"))).body["metadata"]["resourceVersion"]
    await client.post(CM, configmap("new"))
    apiserver.faults.compact()
    async with client.watch(CM, resourceVersion=old) as stream:
        events = await stream.rest()
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["code"] == 410
    assert status["reason"] == "Expired"


def test_bounded_history_expires_old_resource_versions() -> None:
    store = Store(history_limit=3)
    first = store.resource_version
    for index in range(10):
        store.create(CONFIGMAPS, configmap(f"cm{index}"), {})
    assert store.events_since(first) is None
    recent = store.events_since(store.resource_version - 2)
    assert recent is not None
    assert len(recent) == 2


async def test_label_selector_watch_sees_objects_move_in_and_out(client: Client) -> None:
    await client.post(CM, configmap("mover", tier="back"))
    merge = "application/merge-patch+json"
    async with client.watch(CM, labelSelector="tier=front", resourceVersion="1") as stream:
        await client.patch(f"{CM}/mover", {"metadata": {"labels": {"tier": "front"}}}, merge)
        await client.patch(f"{CM}/mover", {"data": {"k": "v"}}, merge)
        await client.patch(f"{CM}/mover", {"metadata": {"labels": {"tier": "back"}}}, merge)
        await client.post(CM, configmap("other", tier="back"))
        await client.post(CM, configmap("front", tier="front"))
        events = await stream.take(4)
    assert summary(events) == [
        ("ADDED", "mover"),
        ("MODIFIED", "mover"),
        ("DELETED", "mover"),
        ("ADDED", "front"),
    ]


async def test_field_selector_and_namespace_filter_watches(client: Client) -> None:
    await client.post("/api/v1/namespaces/kube-system/configmaps", configmap("a", "kube-system"))
    await client.post(CM, configmap("a"))
    await client.post(CM, configmap("b"))
    async with client.watch(CM, fieldSelector="metadata.name=b") as stream:
        assert summary(await stream.take(1)) == [("ADDED", "b")]
    all_namespaces = "/api/v1/configmaps"
    async with client.watch(all_namespaces, fieldSelector="metadata.name=a") as stream:
        events = await stream.take(2)
    assert sorted(e["object"]["metadata"]["namespace"] for e in events) == [
        "default",
        "kube-system",
    ]
    async with client.watch(f"{CM}/b") as stream:
        assert summary(await stream.take(1)) == [("ADDED", "b")]
        await client.post(CM, configmap("c"))
        await client.delete(f"{CM}/b")
        assert summary(await stream.take(1)) == [("DELETED", "b")]
    bad = await client.get(CM, watch="true", fieldSelector="spec.nothing=1")
    assert bad.status == 400


async def test_watcher_that_falls_behind_is_closed() -> None:
    small = ApiServer(max_pending_events=5)
    async with small, aiohttp.ClientSession() as session:
        client = Client(session, small.url)
        async with client.watch(CM, resourceVersion=str(small.store.resource_version)) as stream:
            assert small.hub.open_count() == 1  # registered before the headers were sent
            for index in range(10):  # one synchronous burst: no chance to drain in between
                small.store.create(CONFIGMAPS, configmap(f"burst{index}"), {})
            assert await stream.rest() == []
        assert small.hub.open_count() == 0


async def test_cut_watches_ends_every_stream(apiserver: ApiServer, client: Client) -> None:
    async with (
        client.watch(CM, resourceVersion="1") as first,
        client.watch("/api/v1/secrets", resourceVersion="1") as second,
    ):
        assert apiserver.hub.open_count() == 2
        apiserver.faults.cut_watches()
        assert await first.rest() == []
        assert await second.rest() == []


async def test_watch_ends_when_its_client_disconnects(apiserver: ApiServer, client: Client) -> None:
    async with client.watch(CM, resourceVersion="1"):
        [watcher] = apiserver.hub.open_watchers()
    await asyncio.wait_for(watcher.finished.wait(), 5)
    assert apiserver.hub.open_count() == 0
    [record] = apiserver.audit.find(verb="watch")
    assert record.code == 499


async def test_hundred_watchers_each_get_every_event(apiserver: ApiServer, client: Client) -> None:
    since = str(apiserver.store.resource_version)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        responses = [
            await session.get(
                f"{apiserver.url}{CM}", params={"watch": "1", "resourceVersion": since}
            )
            for _ in range(100)
        ]
        try:
            assert apiserver.hub.open_count() == 100
            await client.post(CM, configmap("broadcast"))
            lines = await asyncio.gather(
                *(asyncio.wait_for(r.content.readline(), 5) for r in responses)
            )
        finally:
            for response in responses:
                response.close()
    assert {json.loads(line)["object"]["metadata"]["name"] for line in lines} == {"broadcast"}


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.sampled_from(["a", "b", "c"])),
    min_size=1,
    max_size=30,
)


def _run(store: Store, operations: list[tuple[str, str]]) -> None:
    for op, name in operations:
        entry = store.get(CONFIGMAPS, "default", name)
        if op == "delete":
            if entry is not None:
                store.delete(CONFIGMAPS, "default", name)
        elif entry is None:
            store.create(CONFIGMAPS, configmap(name), {})
        else:
            changed = {**entry.obj, "data": {"n": str(store.resource_version)}}
            store.update(CONFIGMAPS, changed, entry.managed)


@settings(max_examples=60, deadline=None)
@given(before=OPERATIONS, after=OPERATIONS, resume=st.integers(min_value=0, max_value=40))
def test_resumed_watch_delivers_every_later_event_once_in_order(
    before: list[tuple[str, str]], after: list[tuple[str, str]], resume: int
) -> None:
    store = Store()
    start = store.resource_version
    _run(store, before)
    since = min(start + resume, store.resource_version)
    hub = WatchHub(store)
    resource_type = Registry().lookup("", "v1", "configmaps")
    assert resource_type is not None
    options = WatchOptions(None, None, None, bookmarks=False, send_initial_events=False)
    watcher = hub.open(resource_type, options, since)
    assert isinstance(watcher, Watcher)
    _run(store, after)
    expected = store.events_since(since)
    assert expected is not None
    delivered = [json.loads(line) for line in watcher.pending]
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in delivered] == [
        (e.type, str(e.rv)) for e in expected if e.resource == CONFIGMAPS
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in delivered]
    assert all(v > since for v in versions)
    assert versions == sorted(set(versions))
