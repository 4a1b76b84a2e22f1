"""Watches asking for meta.k8s.io Tables, as ``kubectl get -w`` does.

Covers the real kubectl: ``kubectl get fhr -w`` prints an updated row with the CRD's
printer columns when a flux.weave.works/v1beta1 HelmRelease's status changes (both
HelmRelease CRDs are registered: ``hr`` would list the helm.fluxcd.io/v1 ones). And the
event shapes over plain HTTP: each ADDED, MODIFIED and DELETED event's object is a one-row
Table at the object's resourceVersion, only the stream's first Table carries the column
definitions, ``includeObject`` decides the rows' objects (an invalid one is a 400),
bookmarks and the 410 ERROR event stay as they are, and a plain watcher of the same
resource still gets whole objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from apitesting import (
    DEPLOYED_CHART_VERSION,
    READ_LIMIT,
    Client,
    WatchStream,
    deployed_message,
    deployed_status,
    helmrelease,
)

from apiserver import ApiServer
from testkit import pinned

pytestmark = pytest.mark.usefixtures("crds")

HELMRELEASES = "/apis/flux.weave.works/v1beta1/namespaces/default/helmreleases"
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
KUBECTL_ACCEPT = f"{TABLE_V1},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
COLUMNS = [
    "Name",
    "Release",
    "Phase",
    "ReleaseStatus",
    "Message",
    "Ready",
    "Age",
    "Chart",
    "Version",
]
KUBECTL_COLUMNS = ["NAME", "RELEASE", "PHASE", "RELEASESTATUS", "MESSAGE", "READY", "AGE"]
MERGE_PATCH = "application/merge-patch+json"
KUBECTL_DEADLINE = 60.0


async def create_helmrelease(client: Client, name: str) -> None:
    assert (await client.post(HELMRELEASES, helmrelease(name))).status == 201


async def mark_deployed(client: Client, name: str) -> str:
    """Write the deployed status through the status subresource; the new resourceVersion."""
    patched = await client.patch(
        f"{HELMRELEASES}/{name}/status", deployed_status(name), MERGE_PATCH
    )
    assert patched.status == 200, patched.body
    version: str = patched.body["metadata"]["resourceVersion"]
    return version


@contextlib.asynccontextmanager
async def table_watch(client: Client, accept: str, **params: str) -> AsyncIterator[WatchStream]:
    async with client.session.get(
        client.base + HELMRELEASES,
        params={"watch": "true", **params},
        headers={"Accept": accept},
        timeout=aiohttp.ClientTimeout(total=None, sock_read=READ_LIMIT),
    ) as response:
        assert response.status == 200, await response.text()
        yield WatchStream(response)


def only_row(table: dict[str, Any]) -> dict[str, Any]:
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    (row,) = table["rows"]
    assert isinstance(row, dict)
    return row


# --- the real kubectl ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def kubectl_watching(
    helm_env: dict[str, str], *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``kubectl`` running with ``args`` until the block ends, then terminated."""
    process = await asyncio.create_subprocess_exec(
        str(pinned("kubectl")),
        *args,
        env=helm_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.communicate(), READ_LIMIT)
        except TimeoutError:
            process.kill()
            await process.wait()


async def line_where(
    process: asyncio.subprocess.Process, wanted: list[str], deadline: float
) -> list[list[str]]:
    """kubectl's output lines (split into words) up to the first starting with ``wanted``."""
    assert process.stdout is not None
    loop = asyncio.get_running_loop()
    seen: list[list[str]] = []
    while not seen or seen[-1][: len(wanted)] != wanted:
        raw = await asyncio.wait_for(process.stdout.readline(), deadline - loop.time())
        assert raw, f"kubectl ended after {seen}"
        seen.append(raw.decode().split())
    return seen


async def test_kubectl_get_watch_prints_updated_printer_columns(
    client: Client, helm_env: dict[str, str]
) -> None:
    assert (await client.post(HELMRELEASES, helmrelease("podinfo"))).status == 201
    deadline = asyncio.get_running_loop().time() + KUBECTL_DEADLINE
    async with kubectl_watching(helm_env, "get", "fhr", "-w") as kubectl:
        listed = await line_where(kubectl, ["podinfo"], deadline)
        assert listed[0] == KUBECTL_COLUMNS
        assert len(listed[1]) == 2  # the name and the age: no status yet
        await mark_deployed(client, "podinfo")
        expected = [
            "podinfo",
            "default-podinfo",
            "Succeeded",
            "deployed",
            *deployed_message("podinfo").split(),
            "True",
        ]
        updated = await line_where(kubectl, expected, deadline)
    assert len(updated[-1]) == len(expected) + 1  # and the age


# --- event shapes over plain HTTP ---------------------------------------------------------


async def test_each_event_is_a_one_row_table_with_the_columns_first(client: Client) -> None:
    await create_helmrelease(client, "podinfo")
    async with table_watch(client, KUBECTL_ACCEPT, resourceVersion="0") as stream:
        (added,) = await stream.take(1)
        version = await mark_deployed(client, "podinfo")
        assert (await client.delete(f"{HELMRELEASES}/podinfo")).status == 200
        modified, deleted = await stream.take(2)
    assert [e["type"] for e in (added, modified, deleted)] == ["ADDED", "MODIFIED", "DELETED"]
    first = added["object"]
    assert [c["name"] for c in first["columnDefinitions"]] == COLUMNS
    assert only_row(first)["cells"][:6] == ["podinfo", None, None, None, None, None]
    assert only_row(first)["cells"][7:] == ["podinfo", None]
    assert "columnDefinitions" not in modified["object"]
    assert "columnDefinitions" not in deleted["object"]
    assert modified["object"]["metadata"] == {"resourceVersion": version}
    row = only_row(modified["object"])
    assert row["cells"][:6] == [
        "podinfo",
        "default-podinfo",
        "Succeeded",
        "deployed",
        deployed_message("podinfo"),
        "True",
    ]
    assert row["cells"][7:] == ["podinfo", DEPLOYED_CHART_VERSION]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["resourceVersion"] == version
    assert only_row(deleted["object"])["cells"][0] == "podinfo"


async def test_the_first_live_event_carries_the_columns_of_a_resumed_watch(
    client: Client,
) -> None:
    await create_helmrelease(client, "podinfo")
    since = (await client.get(HELMRELEASES)).body["metadata"]["resourceVersion"]
    async with table_watch(client, TABLE_V1, resourceVersion=since) as stream:
        await mark_deployed(client, "podinfo")
        await client.post(HELMRELEASES, helmrelease("other"))
        modified, added = await stream.take(2)
    assert [c["name"] for c in modified["object"]["columnDefinitions"]] == COLUMNS
    assert "columnDefinitions" not in added["object"]
    assert only_row(added["object"])["cells"][0] == "other"


@pytest.mark.parametrize(
    ("include", "expected_kind"),
    [("Object", "HelmRelease"), ("Metadata", "PartialObjectMetadata"), ("None", None)],
)
async def test_include_object_decides_the_rows_object(
    client: Client, include: str, expected_kind: str | None
) -> None:
    await create_helmrelease(client, "podinfo")
    async with table_watch(client, TABLE_V1, includeObject=include) as stream:
        (added,) = await stream.take(1)
    row = only_row(added["object"])
    assert row.get("object", {}).get("kind") == expected_kind
    if include == "Object":
        assert row["object"]["spec"]["chart"]["name"] == "podinfo"


async def test_an_invalid_include_object_is_a_bad_request(client: Client) -> None:
    await create_helmrelease(client, "podinfo")
    async with client.session.get(
        client.base + HELMRELEASES,
        params={"watch": "true", "includeObject": "Everything"},
        headers={"Accept": TABLE_V1},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        assert response.status == 400
        status = json.loads(await response.read())
    assert status["message"] == 'invalid includeObject "Everything"'


async def test_bookmarks_stay_objects(client: Client) -> None:
    await create_helmrelease(client, "podinfo")
    params = {
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
    }
    async with table_watch(client, TABLE_V1, **params) as stream:
        added, bookmark = await stream.take(2)
    assert only_row(added["object"])["cells"][0] == "podinfo"
    assert bookmark["type"] == "BOOKMARK"
    marker = bookmark["object"]
    assert (marker["kind"], marker["apiVersion"]) == ("HelmRelease", "flux.weave.works/v1beta1")
    assert marker["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_an_expired_watch_gets_a_plain_error_event(
    apiserver: ApiServer, client: Client
) -> None:
    await create_helmrelease(client, "podinfo")
    old = (await client.get(HELMRELEASES)).body["metadata"]["resourceVersion"]
    await mark_deployed(client, "podinfo")
    apiserver.faults.compact()
    async with table_watch(client, TABLE_V1, resourceVersion=old) as stream:
        events = await stream.rest()
    assert [e["type"] for e in events] == ["ERROR"]
    assert (events[0]["object"]["kind"], events[0]["object"]["code"]) == ("Status", 410)


async def test_a_plain_watcher_alongside_still_gets_whole_objects(client: Client) -> None:
    await create_helmrelease(client, "podinfo")
    async with (
        table_watch(client, TABLE_V1, resourceVersion="0") as tables,
        table_watch(client, "application/json", resourceVersion="0") as objects,
    ):
        await tables.take(1)
        await objects.take(1)
        await mark_deployed(client, "podinfo")
        (table_event,) = await tables.take(1)
        (object_event,) = await objects.take(1)
    assert only_row(table_event["object"])["cells"][3:6] == [
        "deployed",
        deployed_message("podinfo"),
        "True",
    ]
    whole = object_event["object"]
    assert (whole["kind"], whole["status"]["phase"]) == ("HelmRelease", "Succeeded")
