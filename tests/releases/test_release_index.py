"""ReleaseIndex: latest revision per release from watch events of helm's release
Secrets (ADDED, MODIFIED, DELETED), custom labels separated from helm's own,
malformed Secrets ignored, and the metadata-only transform applied before caching; waiting
for a record (``until``): answered at once, handed the record as it arrives (which the
index then says), or given up;
plus the record format's behaviour on input that is not a release."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.keys import ReleaseKey
from controller.releases import (
    ObservedRelease,
    ReleaseIndex,
    decode_release,
    encode_release,
    observe,
)
from testkit import wait_for

KEY = ReleaseKey("team-a", "web")


def record(
    name: str = "web",
    revision: int = 1,
    status: str = "deployed",
    namespace: str = "team-a",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.{name}.v{revision}",
            "namespace": namespace,
            "resourceVersion": str(revision * 10),
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": {
                "owner": "helm",
                "name": name,
                "status": status,
                "version": str(revision),
                "createdAt": "1700000000",
                **(labels or {}),
            },
        },
        "data": {"release": "cGF5bG9hZA=="},
        "type": "helm.sh/release.v1",
    }


def test_latest_is_the_highest_revision() -> None:
    index = ReleaseIndex()
    index.apply("ADDED", record(revision=2, status="deployed"))
    index.apply("ADDED", record(revision=1, status="superseded"))
    index.apply("ADDED", record(name="other", revision=7))
    latest = index.latest(KEY)
    assert latest is not None
    assert (latest.revision, latest.status) == (2, "deployed")
    assert latest.secret_name == "sh.helm.release.v1.web.v2"
    assert index.latest(ReleaseKey("team-b", "web")) is None


def deployed_at(revision: int) -> Any:
    def found(latest: ObservedRelease | None) -> bool:
        return latest is not None and latest.revision == revision and not latest.pending

    return found


async def test_until_answers_at_once_when_the_record_is_there() -> None:
    index = ReleaseIndex()
    index.apply("ADDED", record(revision=1))
    found = await index.until(KEY, deployed_at(1), within=0)
    assert found is not None
    assert found.revision == 1


async def test_until_wakes_when_the_record_arrives() -> None:
    index = ReleaseIndex()
    index.apply("ADDED", record(revision=1))
    waiting = asyncio.create_task(index.until(KEY, deployed_at(2), within=600))
    await wait_for(lambda: KEY in index._waiting, what="the waiter to wait")
    assert not index.apply("ADDED", record(revision=2, status="pending-upgrade"))
    assert index.apply("MODIFIED", record(revision=2))  # taken by the waiter
    found = await waiting
    assert found is not None
    assert (found.revision, found.pending) == (2, False)
    assert not index._waiting  # nothing left behind


async def test_until_gives_up_after_its_time() -> None:
    index = ReleaseIndex()
    index.apply("ADDED", record(name="other", revision=3))
    assert await index.until(KEY, deployed_at(1), within=0) is None
    assert not index._waiting


def test_modified_and_deleted_records() -> None:
    index = ReleaseIndex()
    index.apply("ADDED", record(revision=1))
    index.apply("ADDED", record(revision=2, status="pending-upgrade"))
    latest = index.latest(KEY)
    assert latest is not None
    assert latest.pending

    index.apply("MODIFIED", record(revision=2, status="failed"))
    assert index.latest(KEY) == ObservedRelease(KEY, 2, "failed", {}, 1700000000.0)

    index.apply("DELETED", record(revision=2, status="failed"))
    latest = index.latest(KEY)
    assert latest is not None
    assert latest.revision == 1
    index.apply("DELETED", record(revision=1))
    assert index.latest(KEY) is None


def test_custom_labels_and_creation_time() -> None:
    """The revision's time is its Secret's: helm's time labels are copied between revisions."""
    observed = observe(
        record(labels={"modifiedAt": "1700000500", "app.example.com/owner": "hr", "team": "a"})
    )
    assert observed is not None
    assert dict(observed.labels) == {"app.example.com/owner": "hr", "team": "a"}
    assert observed.created_at == 1700000000.0


@pytest.mark.parametrize(
    ("timestamp", "created_at"),
    [
        ("2023-11-14T22:13:20Z", 1700000000.0),
        ("2023-11-14T23:13:20+01:00", 1700000000.0),
        ("2023-11-14T22:13:20", None),  # no zone: no point in time
        ("yesterday", None),
        (1700000000, None),
        (None, None),
    ],
)
def test_creation_time_is_read_only_from_a_zoned_timestamp(
    timestamp: Any, created_at: float | None
) -> None:
    secret = record()
    secret["metadata"]["creationTimestamp"] = timestamp
    observed = observe(secret)
    assert observed is not None
    assert observed.created_at == created_at


@pytest.mark.parametrize(
    "secret",
    [
        {},
        {"metadata": None},
        {"metadata": {"name": "x", "namespace": "team-a"}},
        record(labels={"owner": "someone-else"}),
        record(labels={"version": "latest"}),
        record(labels={"version": "0"}),
        {"metadata": {**record()["metadata"], "namespace": None}},
    ],
)
def test_secrets_that_are_not_helm_records_are_ignored(secret: dict[str, Any]) -> None:
    index = ReleaseIndex()
    index.apply("ADDED", secret)
    assert observe(secret) is None
    assert index.latest(KEY) is None


def test_other_event_types_are_ignored() -> None:
    index = ReleaseIndex()
    index.apply("BOOKMARK", record())
    index.apply("ERROR", {"kind": "Status", "code": 410})
    assert index.latest(KEY) is None


def test_strip_keeps_identity_labels_and_creation_only() -> None:
    stripped = ReleaseIndex.strip(record(revision=4, labels={"team": "a"}))
    assert stripped == {
        "metadata": {
            "name": "sh.helm.release.v1.web.v4",
            "namespace": "team-a",
            "resourceVersion": "40",
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "labels": record(revision=4, labels={"team": "a"})["metadata"]["labels"],
        }
    }
    assert observe(stripped) == observe(record(revision=4, labels={"team": "a"}))
    assert ReleaseIndex.strip({"kind": "Secret"}) == {"metadata": {}}


events = st.lists(
    st.tuples(
        st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
        st.sampled_from(["web", "api"]),
        st.integers(min_value=1, max_value=6),
        st.sampled_from(["deployed", "superseded", "failed", "pending-upgrade"]),
    ),
    max_size=40,
)


@given(events)
def test_latest_matches_a_model_of_the_stored_secrets(
    history: list[tuple[str, str, int, str]],
) -> None:
    index = ReleaseIndex()
    stored: dict[tuple[str, int], str] = {}
    for event_type, name, revision, status in history:
        index.apply(event_type, record(name=name, revision=revision, status=status))
        if event_type == "DELETED":
            stored.pop((name, revision), None)
        else:
            stored[(name, revision)] = status
    for name in ("web", "api"):
        revisions = [revision for (owner, revision) in stored if owner == name]
        latest = index.latest(ReleaseKey("team-a", name))
        if not revisions:
            assert latest is None
        else:
            assert latest is not None
            assert latest.revision == max(revisions)
            assert latest.status == stored[(name, max(revisions))]


@pytest.mark.parametrize(
    "data", ["not base64!", "aGVsbG8=", "Y29ycnVwdA==", encode_release({"name": "x"})]
)
def test_decoding_something_else_raises_value_error(data: str) -> None:
    with pytest.raises(ValueError, match="not a helm release record"):
        decode_release(data)


def test_encoding_round_trips() -> None:
    release = {"name": "web", "version": 3, "info": {"status": "deployed"}, "config": {"ü": 1}}
    assert decode_release(encode_release(release)) == release
