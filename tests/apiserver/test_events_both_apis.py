"""One Event, two APIs: core/v1 and events.k8s.io/v1 serve the same stored objects.

Covers the real kubectl: an events.k8s.io/v1 Event about a Deployment, posted as the operator
posts its Events, shows in ``kubectl describe deployment`` (which lists core/v1 Events by
``involvedObject`` field selectors) and in ``kubectl get events``; a core/v1 Event kubectl
creates is an events.k8s.io/v1 Event with its fields converted (note, regarding,
deprecatedSource, deprecatedCount, ...). Over plain HTTP: a write through either API is a read
through the other at the same uid and resourceVersion (create, patch, delete), a watch through
one API sees writes through the other, each API's field labels select the same objects (and a
label of the other API is refused), and each version is laid out as its Go type serialises.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from apitesting import DEPLOYMENT, Client, Run

CORE = "/api/v1/namespaces/default/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
MERGE_PATCH = "application/merge-patch+json"


NOTE = "scaled web up to 3 replicas"
NOTE_WORDS = ["scaled", "web", "up", "to", "3", "replicas"]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_event(regarding: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as the operator writes one (``fields`` override)."""
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": f"{regarding['name']}.", "namespace": "default"},
        "eventTime": now(),
        "reportingController": "example.com/scaler",
        "reportingInstance": "scaler-1",
        "action": "Scale",
        "reason": "ScaledUp",
        "note": NOTE,
        "type": "Normal",
        "regarding": regarding,
        **fields,
    }


def core_event(name: str, **fields: Any) -> dict[str, Any]:
    """A core/v1 Event as kubelet writes one (``fields`` override)."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "p-1"},
        "reason": "Pulled",
        "message": "Container image already present on machine",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-01-01T00:00:00Z",
        "lastTimestamp": "2026-01-01T00:05:00Z",
        "count": 3,
        "type": "Normal",
        **fields,
    }


async def posted(client: Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await client.post(path, body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


# --- the real kubectl ---------------------------------------------------------------------


async def test_an_events_v1_event_shows_in_describe_and_get_events(
    client: Client, run: Run
) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=DEPLOYMENT)).check()
    deployment = (await run("kubectl", "get", "deployment", "web", "-o", "json")).json()
    regarding = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "namespace": "default",
        "name": "web",
        "uid": deployment["metadata"]["uid"],
    }
    await posted(client, EVENTS, new_event(regarding))
    await posted(client, EVENTS, new_event({**regarding, "name": "other", "uid": "o"}))

    described = (await run("kubectl", "describe", "deployment", "web")).check().stdout
    events = described.partition("\nEvents:\n")[2].splitlines()
    assert events[0].split() == ["Type", "Reason", "Age", "From", "Message"]
    [line] = [line.split() for line in events[2:] if line.strip()]
    assert line[:2] == ["Normal", "ScaledUp"]
    assert line[3:] == ["example.com/scaler", *NOTE_WORDS]

    table = (await run("kubectl", "get", "events")).check().stdout.splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    rows = sorted(row.split()[1:] for row in table[1:])
    assert rows == [
        ["Normal", "ScaledUp", "deployment/other", *NOTE_WORDS],
        ["Normal", "ScaledUp", "deployment/web", *NOTE_WORDS],
    ]
    selected = "involvedObject.kind=Deployment,involvedObject.name=web"
    listed = await run("kubectl", "get", "events", "--field-selector", selected, "-o", "json")
    [event] = listed.check().json()["items"]
    assert (event["message"], event["reportingComponent"]) == (
        NOTE,
        "example.com/scaler",
    )


async def test_a_core_event_is_an_events_v1_event(run: Run) -> None:
    (await run("kubectl", "create", "-f", "-", stdin=json.dumps(core_event("pulled")))).check()
    core = (await run("kubectl", "get", "events", "pulled", "-o", "json")).check().json()
    served = await run("kubectl", "get", "events.events.k8s.io", "pulled", "-o", "json")
    event = served.check().json()
    assert event["metadata"] == core["metadata"]
    assert {key: value for key, value in event.items() if key != "metadata"} == {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "eventTime": None,
        "reason": "Pulled",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "p-1"},
        "note": "Container image already present on machine",
        "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
        "deprecatedLastTimestamp": "2026-01-01T00:05:00Z",
        "deprecatedCount": 3,
    }
    table = (await run("kubectl", "get", "events.events.k8s.io", "-o", "wide")).check()
    header, row = table.stdout.splitlines()
    assert header.split()[:6] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT"]
    assert "pod/web-1" in row.split()
    assert "kubelet, node-1" in row


# --- over HTTP ----------------------------------------------------------------------------


async def test_writes_through_one_api_are_reads_through_the_other(client: Client) -> None:
    created = await posted(client, CORE, core_event("pulled"))
    through_events = (await client.get(f"{EVENTS}/pulled")).body
    assert (through_events["metadata"]["uid"], through_events["metadata"]["resourceVersion"]) == (
        created["metadata"]["uid"],
        created["metadata"]["resourceVersion"],
    )
    patched = await client.patch(f"{EVENTS}/pulled", {"note": "pulled again"}, MERGE_PATCH)
    assert (patched.status, patched.body["note"]) == (200, "pulled again")
    core = (await client.get(f"{CORE}/pulled")).body
    assert core["message"] == "pulled again"
    assert core["metadata"]["resourceVersion"] == patched.body["metadata"]["resourceVersion"]
    assert (await client.delete(f"{EVENTS}/pulled")).status == 200
    assert (await client.get(f"{CORE}/pulled")).status == 404
    for path in (CORE, EVENTS):
        assert (await client.get(path)).body["items"] == []


async def test_a_watch_through_one_api_sees_writes_through_the_other(client: Client) -> None:
    since = (await client.get(EVENTS)).body["metadata"]["resourceVersion"]
    async with (
        client.watch(EVENTS, resourceVersion=since) as through_events,
        client.watch(CORE, resourceVersion=since, fieldSelector="type=Warning") as warnings,
    ):
        created = await posted(client, CORE, core_event("pulled"))
        regarding = {"kind": "Deployment", "namespace": "default", "name": "web"}
        failed = await posted(client, EVENTS, new_event(regarding, type="Warning"))
        first, second = await through_events.take(2)
        (warning,) = await warnings.take(1)
    assert (first["type"], first["object"]["note"]) == ("ADDED", core_event("x")["message"])
    assert first["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert (second["object"]["apiVersion"], second["object"]["reason"]) == (
        "events.k8s.io/v1",
        "ScaledUp",
    )
    assert (warning["type"], warning["object"]["apiVersion"]) == ("ADDED", "v1")
    assert warning["object"]["metadata"]["name"] == failed["metadata"]["name"]
    assert warning["object"]["involvedObject"] == regarding


SELECTED = {
    # name: (api, regarding / involvedObject, other fields)
    "scaled": ("events", {"kind": "Deployment", "name": "web", "uid": "u-web"}, {}),
    "pulled": ("core", {"kind": "Pod", "name": "web-1", "uid": "u-pod"}, {}),
    "failed": (
        "core",
        {"kind": "Deployment", "name": "api", "uid": "u-api", "fieldPath": "spec"},
        {"type": "Warning", "reason": "Failed", "source": {}, "reportingComponent": "ctl-b"},
    ),
}


@pytest.mark.parametrize(
    ("path", "selector", "expected"),
    [
        (CORE, "involvedObject.kind=Deployment", ["failed", "scaled"]),
        (CORE, "involvedObject.name=web,involvedObject.uid=u-web", ["scaled"]),
        (CORE, "involvedObject.fieldPath=spec", ["failed"]),
        (CORE, "involvedObject.namespace=default,metadata.name=pulled", ["pulled"]),
        (CORE, "source=kubelet", ["pulled"]),
        (CORE, "source=example.com/scaler", ["scaled"]),  # no source: the reporter
        (CORE, "reportingComponent=ctl-b", ["failed"]),
        (CORE, "type=Warning", ["failed"]),
        (CORE, "reason!=Pulled", ["failed", "scaled"]),
        (EVENTS, "regarding.kind=Deployment,regarding.name=web", ["scaled"]),
        (EVENTS, "regarding.uid=u-pod", ["pulled"]),
        (EVENTS, "reportingController=ctl-b", ["failed"]),
        (EVENTS, "source=kubelet", ["pulled"]),
        (EVENTS, "type=Normal,reason=ScaledUp", ["scaled"]),
    ],
)
async def test_each_api_selects_on_its_own_field_labels(
    client: Client, path: str, selector: str, expected: list[str]
) -> None:
    for name, (api, reference, fields) in SELECTED.items():
        reference = {"namespace": "default", **reference}
        if api == "core":
            await posted(client, CORE, core_event(name, involvedObject=reference, **fields))
        else:
            event = new_event(reference, **fields)
            event["metadata"] = {"name": name, "namespace": "default"}
            await posted(client, EVENTS, event)
    listed = await client.get(path, fieldSelector=selector)
    assert listed.status == 200, listed.body
    assert sorted(item["metadata"]["name"] for item in listed.body["items"]) == expected


@pytest.mark.parametrize(
    ("path", "label"),
    [
        (CORE, "regarding.name"),
        (CORE, "reportingController"),
        (EVENTS, "involvedObject.name"),
        (EVENTS, "reportingComponent"),
        (EVENTS, "deprecatedSource.component"),
        ("/api/v1/namespaces/default/configmaps", "involvedObject.name"),
    ],
)
async def test_a_field_label_the_api_does_not_have_is_refused(
    client: Client, path: str, label: str
) -> None:
    for params in ({}, {"watch": "true"}):
        reply = await client.get(path, fieldSelector=f"{label}=x", **params)
        assert (reply.status, reply.body["message"]) == (
            400,
            f"field label not supported: {label}",
        )


async def test_each_version_is_laid_out_as_its_go_type(client: Client) -> None:
    regarding = {"kind": "Deployment", "namespace": "default", "name": "web"}
    new = await posted(client, EVENTS, new_event(regarding))
    as_core = (await client.get(f"{CORE}/{new['metadata']['name']}")).body
    assert {key: value for key, value in as_core.items() if key != "metadata"} == {
        "apiVersion": "v1",
        "kind": "Event",
        "involvedObject": regarding,
        "reason": "ScaledUp",
        "message": NOTE,
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Normal",
        "eventTime": new["eventTime"],
        "action": "Scale",
        "reportingComponent": "example.com/scaler",
        "reportingInstance": "scaler-1",
    }
    assert {key for key, value in new.items() if value in (None, {})} == {
        "deprecatedSource",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
    }
    bare = await posted(client, CORE, {"metadata": {"name": "bare"}, "reason": "Seen"})
    assert {key: value for key, value in bare.items() if key != "metadata"} == {
        "apiVersion": "v1",
        "kind": "Event",
        "involvedObject": {},
        "reason": "Seen",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "eventTime": None,
        "reportingComponent": "",
        "reportingInstance": "",
    }
