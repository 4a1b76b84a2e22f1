"""Metadata-only responses of the in-memory API server, as metadata informers ask for them.

Covers: a list asking for ``as=PartialObjectMetadataList`` gets each object's metadata
alone (paginated like any list); a get asking for ``as=PartialObjectMetadata`` gets one;
a watch asking for ``as=PartialObjectMetadata`` gets every event's object (initial
state, changes, deletions and bookmarks) as metadata alone, while a plain watcher of the
same resource still gets whole objects; a form the server does not offer for a request
(PartialObjectMetadata for a list) falls through to the next media range, as on a real
server; both meta.k8s.io versions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from apitesting import Client, WatchStream

from controller.kube.client import METADATA_ONLY_LIST, METADATA_ONLY_WATCH

SECRETS = "/api/v1/namespaces/default/secrets"
PARTIAL_V1BETA1 = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1beta1"


def secret(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": {"owner": "helm"}},
        "data": {"release": "cGF5bG9hZA=="},
    }


async def get(client: Client, path: str, accept: str, **params: str) -> dict[str, Any]:
    async with client.session.get(
        client.base + path,
        params=params,
        headers={"Accept": accept},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = json.loads(await response.read())
        return body


@contextlib.asynccontextmanager
async def watch(
    client: Client, path: str, accept: str, **params: str
) -> AsyncIterator[WatchStream]:
    async with client.session.get(
        client.base + path,
        params={"watch": "true", **params},
        headers={"Accept": accept},
        timeout=aiohttp.ClientTimeout(total=None, sock_read=10),
    ) as response:
        assert response.status == 200, await response.text()
        yield WatchStream(response)


def assert_partial(obj: dict[str, Any], name: str, version: str = "v1") -> None:
    assert set(obj) == {"kind", "apiVersion", "metadata"}
    assert (obj["kind"], obj["apiVersion"]) == ("PartialObjectMetadata", f"meta.k8s.io/{version}")
    assert obj["metadata"]["name"] == name
    assert obj["metadata"]["resourceVersion"]


def assert_bookmark(obj: dict[str, Any]) -> None:
    assert (obj["kind"], obj["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1")
    assert obj["metadata"]["resourceVersion"]


async def test_list_serves_metadata_only_page_by_page(client: Client) -> None:
    for name in ("a", "b", "c"):
        await client.post(SECRETS, secret(name))
    first = await get(client, SECRETS, METADATA_ONLY_LIST, limit="2")
    assert (first["kind"], first["apiVersion"]) == ("PartialObjectMetadataList", "meta.k8s.io/v1")
    assert first["metadata"]["resourceVersion"]
    second = await get(
        client,
        SECRETS,
        METADATA_ONLY_LIST,
        limit="2",
        **{"continue": first["metadata"]["continue"]},
    )
    items = first["items"] + second["items"]
    for item, name in zip(items, ("a", "b", "c"), strict=True):
        assert_partial(item, name)
        assert item["metadata"]["labels"] == {"owner": "helm"}


async def test_get_serves_metadata_only(client: Client) -> None:
    await client.post(SECRETS, secret("a"))
    assert_partial(await get(client, f"{SECRETS}/a", METADATA_ONLY_WATCH), "a")
    assert_partial(await get(client, f"{SECRETS}/a", PARTIAL_V1BETA1), "a", "v1beta1")


@pytest.mark.parametrize(
    "accept",
    [
        METADATA_ONLY_WATCH,  # no single PartialObjectMetadata for a list: the next range
        "application/json",
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v2,application/json",
    ],
)
async def test_list_falls_back_to_whole_objects(client: Client, accept: str) -> None:
    await client.post(SECRETS, secret("a"))
    listed = await get(client, SECRETS, accept)
    assert listed["kind"] == "SecretList"
    assert listed["items"][0]["data"] == {"release": "cGF5bG9hZA=="}


async def test_watch_serves_every_event_as_metadata_only(client: Client) -> None:
    await client.post(SECRETS, secret("a"))
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    async with watch(client, SECRETS, METADATA_ONLY_WATCH, **params) as stream:
        added, initial_end = await stream.take(2)
        assert added["type"] == "ADDED"
        assert_partial(added["object"], "a")
        assert initial_end["type"] == "BOOKMARK"
        assert_bookmark(initial_end["object"])
        assert initial_end["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"
        }
        await client.post(SECRETS, secret("b"))
        changed = {**secret("a"), "data": {"release": "Y2hhbmdlZA=="}}
        await client.put(f"{SECRETS}/a", changed)
        await client.delete(f"{SECRETS}/b")
        events: list[dict[str, Any]] = []
        while len(events) < 3:
            event = await stream.next()
            assert event is not None
            if event["type"] == "BOOKMARK":
                assert_bookmark(event["object"])
            else:
                events.append(event)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    for event, name in zip(events, ("b", "a", "b"), strict=True):
        assert_partial(event["object"], name)


async def test_whole_object_and_metadata_watchers_each_get_their_form(client: Client) -> None:
    async with (
        watch(client, SECRETS, METADATA_ONLY_WATCH) as partial,
        watch(client, SECRETS, "application/json") as whole,
    ):
        await client.post(SECRETS, secret("a"))
        (metadata_event,) = await partial.take(1)
        (whole_event,) = await whole.take(1)
    assert_partial(metadata_event["object"], "a")
    assert whole_event["object"]["kind"] == "Secret"
    assert whole_event["object"]["data"] == {"release": "cGF5bG9hZA=="}
