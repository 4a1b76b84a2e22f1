"""Release records written by real helm 4 and helm 3 to the in-memory API server:
they decode and re-encode losslessly, read_release and the ReleaseIndex see the latest
revision with its custom labels (kept by a later upgrade without ``--labels``), and
mark_failed unlocks a release, also one left in pending-upgrade by a helm killed
mid-upgrade, so that the next helm upgrade succeeds."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from controller.api import ReleaseOptions
from controller.helm import HelmResult, HelmRunner
from controller.keys import ReleaseKey
from controller.kube.client import Conflict, KubeClient, resource_path
from controller.releases import (
    ObservedRelease,
    ReleaseIndex,
    decode_release,
    encode_release,
    mark_failed,
    read_release,
)
from testkit import CHARTS_DIR, wait_for

PODINFO = CHARTS_DIR / "podinfo-6.7.1.tgz"
KEY = ReleaseKey("default", "web")
LABELS = {"helmrelease.example.com/name": "web", "team": "a"}
SECRETS = resource_path("", "v1", "secrets", namespace="default")


async def upgrade(
    runner: HelmRunner,
    values: dict[str, Any],
    *,
    labels: dict[str, str] | None = None,
    wait: bool = False,
) -> HelmResult:
    return await runner.upgrade(
        release=KEY,
        chart_path=PODINFO,
        values=values,
        options=ReleaseOptions(timeout=120, wait=wait, max_history=5, reset_values=True),
        install=True,
        labels=labels or {},
    )


async def release_secret(client: KubeClient, revision: int) -> dict[str, Any]:
    return await client.request("GET", f"{SECRETS}/sh.helm.release.v1.web.v{revision}")


async def latest(client: KubeClient) -> ObservedRelease:
    observed = await read_release(client, KEY)
    assert observed is not None
    return observed


def helm_children() -> list[int]:
    """Pids of the helm processes this test process started."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # exited meanwhile
        command, rest = text.split("(", 1)[1].rsplit(")", 1)
        parent = int(rest.split()[1])
        if parent == os.getpid() and command.startswith("helm"):
            pids.append(int(stat.parent.name))
    return pids


async def test_records_written_by_helm_round_trip(runner: HelmRunner, client: KubeClient) -> None:
    assert (await upgrade(runner, {"ui": {"message": "héllo"}})).ok
    encoded = (await release_secret(client, 1))["data"]["release"]
    assert base64.b64decode(base64.b64decode(encoded)).startswith(b"\x1f\x8b")  # gzip inside

    release = decode_release(encoded)

    assert (release["name"], release["namespace"], release["version"]) == ("web", "default", 1)
    assert release["info"]["status"] == "deployed"
    assert release["config"] == {"ui": {"message": "héllo"}}
    reencoded = encode_release(release)
    assert decode_release(reencoded) == release
    gzipped = base64.b64decode(base64.b64decode(reencoded))
    assert gzipped[:4] == b"\x1f\x8b\x08\x00"  # deflate, no file name: like Go's gzip writer
    assert gzip.decompress(gzipped).startswith(b'{"name":"web"')


async def test_read_release_and_index_follow_revisions_and_labels(
    runner: HelmRunner, client: KubeClient
) -> None:
    assert await read_release(client, KEY) is None
    assert (await upgrade(runner, {}, labels=LABELS)).ok
    installed = await latest(client)
    assert (installed.revision, installed.status, dict(installed.labels)) == (1, "deployed", LABELS)
    assert installed.created_at is not None
    assert installed.created_at <= time.time()

    assert (await upgrade(runner, {"replicaCount": 2})).ok  # no --labels this time

    upgraded = await latest(client)
    assert (upgraded.revision, upgraded.status) == (2, "deployed")
    assert dict(upgraded.labels) == LABELS
    listing = await client.request("GET", SECRETS, params={"labelSelector": "owner=helm"})
    index = ReleaseIndex()
    for secret in listing["items"]:
        index.apply("ADDED", ReleaseIndex.strip(secret))
    assert index.latest(KEY) == upgraded
    index.apply("DELETED", ReleaseIndex.strip(await release_secret(client, 2)))
    superseded = index.latest(KEY)
    assert superseded is not None
    assert (superseded.revision, superseded.status) == (1, "superseded")
    assert dict(superseded.labels) == LABELS


async def test_mark_failed_then_upgrade_succeeds(runner: HelmRunner, client: KubeClient) -> None:
    assert (await upgrade(runner, {})).ok
    before = time.time()

    await mark_failed(client, await latest(client), "unlocked by a test")

    failed = await latest(client)
    assert (failed.revision, failed.status) == (1, "failed")
    labels = (await release_secret(client, 1))["metadata"]["labels"]
    assert int(labels["modifiedAt"]) >= int(before)
    record = decode_release((await release_secret(client, 1))["data"]["release"])
    assert (record["info"]["status"], record["info"]["description"]) == (
        "failed",
        "unlocked by a test",
    )
    assert (await upgrade(runner, {"replicaCount": 2})).ok
    upgraded = await latest(client)
    assert (upgraded.revision, upgraded.status) == (2, "deployed")


async def test_mark_failed_refuses_a_record_that_changed(
    runner: HelmRunner, client: KubeClient
) -> None:
    assert (await upgrade(runner, {})).ok
    stale = ObservedRelease(KEY, 1, "pending-install")
    with pytest.raises(Conflict):
        await mark_failed(client, stale, "unlocked by a test")
    assert (await latest(client)).status == "deployed"


async def test_release_left_pending_by_a_killed_helm_is_unlocked(
    runner: HelmRunner, client: KubeClient
) -> None:
    assert (await upgrade(runner, {})).ok
    never_ready = {"image": {"repository": "example.com/fail/podinfo"}}
    upgrading = asyncio.create_task(upgrade(runner, never_ready, wait=True))

    async def pending() -> bool:
        observed = await read_release(client, KEY)
        return observed is not None and observed.status == "pending-upgrade"

    await wait_for(pending, what="helm to record revision 2 as pending-upgrade")
    (pid,) = helm_children()
    os.kill(pid, signal.SIGKILL)  # as an OOM kill would: helm records nothing more
    killed = await upgrading
    assert (killed.ok, killed.exit_code) == (False, -signal.SIGKILL)

    refused = await upgrade(runner, {})
    assert not refused.ok
    assert "another operation" in refused.error

    stuck = await latest(client)
    assert (stuck.revision, stuck.status) == (2, "pending-upgrade")
    await mark_failed(client, stuck, "Release unlocked from stale 'pending-upgrade' state")

    assert (await upgrade(runner, {})).ok
    recovered = await latest(client)
    assert (recovered.revision, recovered.status) == (3, "deployed")
