"""LIST semantics: resourceVersion, resourceVersionMatch, limit and continue.

With the real kubectl, ``get --chunk-size=2`` pages through many objects with the real
continue tokens. Over plain HTTP: pages form one consistent list however the objects change
between them, with remainingItemCount only when no selector filters; an Exact LIST of an old
resourceVersion shows the objects as they were, and 410 once the history is compacted; a
continue token of a compacted state gets 410 with a token that goes on at the latest state;
resourceVersion 0 ignores the limit; NotOlderThan waits for a resourceVersion the store has
not reached (504 when it never does); invalid combinations get the real 422 and 400 answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from apitesting import Client, Run

from apiserver import ApiServer
from apiserver.resources import GroupResource
from apiserver.routes import handlers
from testkit import wait_for

CM = "/api/v1/namespaces/default/configmaps"
ALL_CM = "/api/v1/configmaps"
MERGE = "application/merge-patch+json"
CONFIGMAPS = GroupResource("", "configmaps")


def configmap(name: str, value: str = "1", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"v": value},
    }


def names(reply: Any) -> list[str]:
    return [item["metadata"]["name"] for item in reply.body["items"]]


def token(reply: Any) -> dict[str, Any]:
    text = reply.body["metadata"]["continue"]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return decoded


async def test_kubectl_get_pages_through_many_objects(apiserver: ApiServer, run: Run) -> None:
    for namespace in ("team", "team-b"):
        (await run("kubectl", "create", "namespace", namespace)).check()
        for i in range(3):
            created = await run("kubectl", "create", "configmap", f"cm-{i}", "-n", namespace)
            created.check()
    start = len(apiserver.audit)
    listed = await run("kubectl", "get", "configmaps", "-A", "--chunk-size=2", "--no-headers")
    rows = [tuple(line.split()[:2]) for line in listed.check().stdout.splitlines()]
    # storage-key order: "team-b/..." sorts before "team/..." ("-" before "/")
    assert rows == [("team-b", f"cm-{i}") for i in range(3)] + [
        ("team", f"cm-{i}") for i in range(3)
    ]
    pages = [r for r in apiserver.audit[start:] if r.verb == "list"]
    assert len(pages) == 3
    table = await run("kubectl", "get", "configmaps", "-n", "team", "--chunk-size=1", "-o", "name")
    assert table.check().stdout.split() == [f"configmap/cm-{i}" for i in range(3)]


async def test_pages_are_one_consistent_list(client: Client) -> None:
    for name in ("a", "b", "c", "d", "e"):
        await client.post(CM, configmap(name))
    first = await client.get(CM, limit="2")
    assert names(first) == ["a", "b"]
    assert first.body["metadata"]["remainingItemCount"] == 3
    listed_rv = first.body["metadata"]["resourceVersion"]
    assert token(first) == {"v": "meta.k8s.io/v1", "rv": int(listed_rv), "start": "b\u0000"}

    await client.patch(f"{CM}/c", {"data": {"v": "changed"}}, MERGE)
    await client.delete(f"{CM}/d")
    await client.post(CM, configmap("bb"))
    second = await client.get(CM, limit="2", **{"continue": first.body["metadata"]["continue"]})
    assert names(second) == ["c", "d"]  # as they were when the first page was read
    assert second.body["items"][0]["data"] == {"v": "1"}
    assert second.body["metadata"]["resourceVersion"] == listed_rv
    assert second.body["metadata"]["remainingItemCount"] == 1
    last = await client.get(CM, limit="2", **{"continue": second.body["metadata"]["continue"]})
    assert names(last) == ["e"]
    assert "continue" not in last.body["metadata"]
    assert "remainingItemCount" not in last.body["metadata"]
    assert names(await client.get(CM)) == ["a", "b", "bb", "c", "e"]


async def test_pages_across_namespaces_and_with_selectors(client: Client) -> None:
    await client.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    await client.post(CM, configmap("x", tier="a"))
    await client.post("/api/v1/namespaces/other/configmaps", configmap("w", tier="a"))
    await client.post(CM, configmap("y", tier="b"))
    first = await client.get(ALL_CM, limit="1", labelSelector="tier=a")
    assert names(first) == ["x"]
    assert token(first)["start"] == "default/x\u0000"
    assert "remainingItemCount" not in first.body["metadata"]  # not counted with selectors
    rest = await client.get(
        ALL_CM,
        limit="1",
        labelSelector="tier=a",
        **{"continue": first.body["metadata"]["continue"]},
    )
    assert names(rest) == ["w"]
    assert "continue" not in rest.body["metadata"]


async def test_exact_list_of_an_old_resource_version(client: Client) -> None:
    created = (await client.post(CM, configmap("old", "before"))).body
    rv = created["metadata"]["resourceVersion"]
    await client.patch(f"{CM}/old", {"data": {"v": "after"}}, MERGE)
    await client.post(CM, configmap("new"))
    exact = await client.get(CM, resourceVersion=rv, resourceVersionMatch="Exact")
    assert exact.status == 200
    assert exact.body["metadata"]["resourceVersion"] == rv
    assert names(exact) == ["old"]
    assert exact.body["items"][0]["data"] == {"v": "before"}
    assert exact.body["items"][0]["metadata"]["resourceVersion"] == rv
    legacy = await client.get(CM, resourceVersion=rv, limit="10")  # the legacy exact form
    assert names(legacy) == ["old"]
    not_older = await client.get(CM, resourceVersion=rv, resourceVersionMatch="NotOlderThan")
    assert names(not_older) == ["new", "old"]
    assert int(not_older.body["metadata"]["resourceVersion"]) > int(rv)


async def test_exact_list_of_a_compacted_resource_version_is_expired(
    apiserver: ApiServer, client: Client
) -> None:
    created = (await client.post(CM, configmap("gone"))).body
    await client.post(CM, configmap("later"))
    apiserver.faults.compact()
    reply = await client.get(
        CM, resourceVersion=created["metadata"]["resourceVersion"], resourceVersionMatch="Exact"
    )
    assert reply.status == 410
    assert reply.body["reason"] == "Expired"
    assert reply.body["message"] == "The resourceVersion for the provided list is too old."


async def test_continue_of_a_compacted_list_gets_a_token_to_the_latest(
    apiserver: ApiServer, client: Client
) -> None:
    for name in ("a", "b", "c"):
        await client.post(CM, configmap(name))
    first = await client.get(CM, limit="1")
    await client.post(CM, configmap("ab"))
    apiserver.faults.compact()
    expired = await client.get(CM, limit="1", **{"continue": first.body["metadata"]["continue"]})
    assert expired.status == 410
    assert expired.body["reason"] == "Expired"
    assert expired.body["message"].startswith(
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter, or use the continue token in this "
        "response to retrieve the remainder of the results."
    )
    latest_token = expired.body["metadata"]["continue"]
    padded = latest_token + "=" * (-len(latest_token) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {
        "v": "meta.k8s.io/v1",
        "rv": -1,
        "start": "a\u0000",
    }
    inconsistent = await client.get(CM, limit="10", **{"continue": latest_token})
    assert names(inconsistent) == ["ab", "b", "c"]  # goes on at the latest state


async def test_resource_version_zero_ignores_the_limit(client: Client) -> None:
    for name in ("a", "b", "c"):
        await client.post(CM, configmap(name))
    reply = await client.get(CM, resourceVersion="0", limit="1")
    assert names(reply) == ["a", "b", "c"]
    assert "continue" not in reply.body["metadata"]


async def test_not_older_than_waits_for_the_store_to_get_there(
    apiserver: ApiServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    future = str(apiserver.store.resource_version + 1)
    waiting = len(apiserver.store.listeners)
    listing = asyncio.create_task(
        client.get(CM, resourceVersion=future, resourceVersionMatch="NotOlderThan")
    )
    await wait_for(
        lambda: len(apiserver.store.listeners) > waiting, what="the LIST to wait for the store"
    )
    arrived = configmap("arrived")
    arrived["metadata"]["namespace"] = "default"
    apiserver.store.create(CONFIGMAPS, arrived, {})
    reply = await listing
    assert reply.status == 200
    assert names(reply) == ["arrived"]
    assert int(reply.body["metadata"]["resourceVersion"]) >= int(future)

    monkeypatch.setattr(handlers, "WAIT_FOR_RESOURCE_VERSION", 0.05)
    far = str(apiserver.store.resource_version + 100)
    too_large = await client.get(CM, resourceVersion=far, resourceVersionMatch="Exact")
    assert too_large.status == 504
    assert too_large.body["reason"] == "Timeout"
    assert too_large.body["message"] == (
        f"Timeout: Too large resource version: {far}, current: {apiserver.store.resource_version}"
    )
    assert too_large.body["details"]["retryAfterSeconds"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"resourceVersionMatch": "NotOlderThan"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            {"resourceVersion": "0", "resourceVersionMatch": "Exact"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
            'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        ),
        (
            {"resourceVersion": "5", "resourceVersionMatch": "Newest"},
            'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: '
            '"Newest": supported values: "Exact", "NotOlderThan", ""',
        ),
        (
            {"resourceVersionMatch": "Exact", "continue": "abc"},
            'ListOptions.meta.k8s.io "" is invalid: [resourceVersionMatch: Forbidden: '
            "resourceVersionMatch is forbidden unless resourceVersion is provided, "
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue "
            "is provided]",
        ),
        (
            {"sendInitialEvents": "true"},
            'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
            "sendInitialEvents is forbidden for list",
        ),
    ],
)
async def test_invalid_list_options_are_refused(
    client: Client, params: dict[str, str], message: str
) -> None:
    reply = await client.get(CM, **params)
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert reply.body["message"] == message


async def test_bad_tokens_and_resource_versions_are_bad_requests(client: Client) -> None:
    await client.post(CM, configmap("a"))
    await client.post(CM, configmap("b"))
    first = await client.get(CM, limit="1")
    with_rv = await client.get(
        CM, resourceVersion="5", **{"continue": first.body["metadata"]["continue"]}
    )
    assert with_rv.status == 400
    assert with_rv.body["message"] == (
        "specifying resource version is not allowed when using continue"
    )
    garbage = await client.get(CM, **{"continue": "not a token"})
    assert garbage.status == 400
    assert garbage.body["message"].startswith("invalid continue token: continue key is not valid")
    unknown = base64.urlsafe_b64encode(b'{"v":"v2","rv":1,"start":"a"}').decode().rstrip("=")
    assert (await client.get(CM, **{"continue": unknown})).body["message"] == (
        "invalid continue token: continue key is not valid: server does not recognize this "
        "encoded version v2"
    )
    bad_rv = await client.get(CM, resourceVersion="abc")
    assert bad_rv.status == 400
    assert bad_rv.body["message"] == (
        'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: '
        'parsing "abc": invalid syntax'
    )
