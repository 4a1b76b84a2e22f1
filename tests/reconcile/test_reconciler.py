"""The Reconciler end to end: real chart repository over HTTP, real helm, in-memory API server.

Covers the release lifecycle of one HelmRelease: install -> Ready; a values change
-> upgrade to revision 2; the same spec again -> no helm process and no status write;
deletion -> uninstall and the finalizer removed (with helm 4 and helm 3); helm's
outcome taken from a release index as current as a watch keeps it. Then the
harder paths: a manual rollback, a stale or fresh pending release, a renamed release,
a lagging cache, conflicts (observedGeneration stays the generation acted on), helm
output beyond the output cap, and the failures that end as conditions and Events.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from reconciletesting import watched_index

from apiserver import ApiServer
from controller import metrics
from controller.api import FINALIZER, PLURAL, V1BETA1, RollbackPolicy
from controller.charts import ChartFetcher
from controller.helm import HelmRunner
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.kube.client import KubeClient, resource_path
from controller.outcome import Next, Outcome
from controller.reconcile import Reconciler
from controller.reconcile.locks import ReleaseLocks
from controller.releases import ReleaseIndex, decode_release, encode_release, read_release
from controller.settings import ChartSettings, HelmSettings, KubeSettings, Settings, SourceSettings
from controller.sources import ValuesResolver
from testkit import ChartRepository, FakeClock, exposed, pinned, register_crds, run, tool_env

GROUP, VERSION = V1BETA1.group, V1BETA1.version

HELM4 = pinned("helm")
HELM3 = pinned("helm3")
KEY = ObjectKey(GROUP, "default", "podinfo")
RELEASE = ReleaseKey("default", "default-podinfo")


@dataclass
class World:
    """Everything one Reconciler talks to, plus helpers to drive it like the watchers would."""

    client: KubeClient
    cache: Cache
    index: ReleaseIndex
    runner: HelmRunner
    reconciler: Reconciler
    repository: str
    api: ApiServer
    clock: FakeClock
    """The wall clock the reconciler ages pending records by."""
    listed: list[dict[str, Any]] = field(default_factory=list)
    """The release Secrets of the last sync (what a relist turns into deletions)."""

    def path(self, name: str = KEY.name) -> str:
        return resource_path(GROUP, VERSION, PLURAL, namespace=KEY.namespace, name=name)

    async def sync(self) -> None:
        """Bring the cache and the release index up to date, as their watches would."""
        obj = await self.client.get(self.path())
        if obj is None:
            self.cache.delete(KEY)
        else:
            self.cache.put(KEY, obj)
        secrets = await self.client.request(
            "GET", resource_path("", "v1", "secrets"), params={"labelSelector": "owner=helm"}
        )
        for secret in self.listed:
            self.index.apply("DELETED", secret)
        self.listed = secrets["items"]
        for secret in self.listed:
            self.index.apply("ADDED", secret)

    async def reconcile(self) -> Outcome:
        await self.sync()
        return await self.reconciler(KEY)

    async def hr(self) -> dict[str, Any]:
        obj = await self.client.get(self.path())
        assert obj is not None
        return obj

    async def create(self, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "HelmRelease",
            "metadata": {"name": KEY.name, "namespace": KEY.namespace},
            "spec": spec,
        }
        collection = resource_path(GROUP, VERSION, PLURAL, namespace=KEY.namespace)
        await self.client.request("POST", collection, body=body)

    async def patch_spec(self, spec: dict[str, Any]) -> None:
        await self.client.request(
            "PATCH", self.path(), body={"spec": spec}, content_type="application/merge-patch+json"
        )

    async def events(self) -> list[tuple[str, str, str]]:
        listing = await self.client.request(
            "GET", resource_path("events.k8s.io", "v1", "events", namespace=KEY.namespace)
        )
        ordered = sorted(listing["items"], key=lambda e: e["eventTime"])
        return [(e["type"], e["reason"], e["note"]) for e in ordered]

    def spec(self, version: str = "6.7.1", **values: Any) -> dict[str, Any]:
        return {
            "chart": {"repository": self.repository, "name": "podinfo", "version": version},
            "values": values,
        }


@pytest.fixture
def helm_bin(request: pytest.FixtureRequest) -> Path:
    """helm 4 unless a test asks for another binary (indirect parametrization)."""
    binary: Path = getattr(request, "param", HELM4)
    return binary


@pytest.fixture
def output_limit(request: pytest.FixtureRequest) -> int:
    """HelmSettings.output_limit, unless a test asks for another (indirect parametrization)."""
    limit: int = getattr(request, "param", HelmSettings.output_limit)
    return limit


@pytest.fixture
async def world(
    tmp_path: Path, charts_dir: Path, helm_bin: Path, output_limit: int
) -> AsyncIterator[World]:
    async with (
        ApiServer(simulate=True, simulate_delay=0.01) as api,
        ChartRepository(charts_dir) as repository,
    ):
        kubeconfig = tmp_path / "kubeconfig"
        await api.write_kubeconfig(kubeconfig)
        await register_crds(kubeconfig)
        client = await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig)))
        settings = Settings(
            charts=ChartSettings(cache_dir=tmp_path / "charts"),
            helm=HelmSettings(
                helm_bin=str(helm_bin),
                kill_grace=2.0,
                work_dir=tmp_path,
                output_limit=output_limit,
                kubectl_bin=str(pinned("kubectl")),
            ),
        )
        charts = ChartFetcher(settings.charts)
        runner = HelmRunner(settings.helm, client.helm_env())
        cache, index = Cache(), watched_index(api)
        sources = ValuesResolver(client, SourceSettings())
        clock = FakeClock(time.time())
        reconciler = Reconciler(
            cache, client, charts, runner, index, ReleaseLocks(), sources, clock=clock
        )
        try:
            yield World(client, cache, index, runner, reconciler, repository.url, api, clock)
        finally:
            await sources.close()
            await runner.close()
            await charts.close()
            await client.close()


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


def helm_started() -> float:
    return (
        REGISTRY.get_sample_value(
            "helmrelease_helm_processes_started_total", {"command": "upgrade"}
        )
        or 0.0
    )


def reconciles(result: str, action: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "helmrelease_reconcile_total", {"result": result, "action": action}
        )
        or 0.0
    )


def ready_gauge() -> float | None:
    ready = exposed("helmrelease_release_ready")
    return ready.value("helmrelease_release_ready", namespace=KEY.namespace, name=KEY.name)


@pytest.mark.parametrize("listed", [False, True], ids=["index-listing", "index-listed"])
async def test_helm_outcome_comes_from_a_current_index(world: World, listed: bool) -> None:
    """Fed as helm writes its records (as the watch feeds it), the index tells the outcome:
    the release is not read from the API after helm. Before helm, a first install reads it
    while the index is still being listed, and not once it is listed (a release the index
    does not know then was made at most the watch's lag ago). A first install writes the
    status twice: the progress while helm runs, then the outcome."""
    await world.create(world.spec())
    await world.sync()
    if listed:
        world.index.listed.set()
    audited = len(world.api.audit)
    assert await world.reconciler(KEY) == Outcome.resync()
    status = (await world.hr())["status"]
    assert (status["lastReleaseRevision"], status["releaseStatus"]) == (1, "deployed")
    assert conditions(await world.hr())["Ready"]["reason"] == "Succeeded"
    ours = [r for r in world.api.audit[audited:] if not r.user_agent.startswith("Helm/")]
    assert [r.verb for r in ours if r.resource == "secrets"] == ([] if listed else ["list"])
    # a first install: the finalizer, the progress (kstatus: in progress), the outcome
    patches = [r.subresource for r in ours if (r.verb, r.resource) == ("patch", "helmreleases")]
    assert patches == [None, "status", "status"]


@pytest.mark.parametrize("helm_bin", [HELM4, HELM3], ids=["helm4", "helm3"], indirect=True)
async def test_release_lifecycle(world: World) -> None:
    await world.create(world.spec(replicaCount=1))

    # install
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert FINALIZER in hr["metadata"]["finalizers"]
    status = hr["status"]
    assert status["phase"] == "Succeeded"
    assert (status["releaseName"], status["targetNamespace"]) == ("default-podinfo", "default")
    assert (status["lastReleaseRevision"], status["releaseStatus"]) == (1, "deployed")
    assert (status["revision"], status["lastAttemptedRevision"]) == ("6.7.1", "6.7.1")
    assert status["observedGeneration"] == hr["metadata"]["generation"]
    ready = conditions(hr)["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "Succeeded")
    assert ready["message"] == (
        "installed chart podinfo 6.7.1 as release default/default-podinfo, revision 1"
    )
    assert conditions(hr)["Deployed"]["status"] == "True"
    assert ready_gauge() == 1
    record = await read_release(world.client, RELEASE)
    assert record is not None
    assert record.labels["helmreleases.flux.weave.works/owner-name"] == "podinfo"
    assert record.labels["helmreleases.flux.weave.works/digest"] == status["lastAppliedDigest"][:32]
    first_checksum = status["valuesChecksum"]

    # the same spec again: no helm process, no status write
    started, noops = helm_started(), reconciles("noop", "none")
    version = hr["metadata"]["resourceVersion"]
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    assert (await world.hr())["metadata"]["resourceVersion"] == version
    assert reconciles("noop", "none") == noops + 1

    # a new generation that asks for nothing new: still no helm, only observedGeneration
    await world.patch_spec({"wait": False})
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    hr = await world.hr()
    assert hr["metadata"]["generation"] == 2
    assert hr["status"]["observedGeneration"] == 2
    assert hr["status"]["lastReleaseRevision"] == 1

    # a values change upgrades to revision 2
    await world.patch_spec({"values": {"replicaCount": 2}})
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (2, "deployed")
    assert hr["status"]["valuesChecksum"] != first_checksum
    assert conditions(hr)["Ready"]["reason"] == "Succeeded"
    assert conditions(hr)["Released"]["message"].startswith("upgraded chart podinfo 6.7.1")
    assert helm_started() == started + 1

    reasons = [reason for _, reason, _ in await world.events()]
    assert reasons == ["InstallSucceeded", "UpgradeSucceeded"]

    # deletion: uninstall, then the finalizer goes and the object with it
    await world.client.request("DELETE", world.path())
    assert await world.reconcile() == Outcome.forget()
    assert await world.client.get(world.path()) is None
    assert await read_release(world.client, RELEASE) is None
    assert ready_gauge() is None
    assert await world.reconcile() == Outcome.forget()  # gone from the cache


async def test_lagging_cache_does_not_cause_a_second_upgrade(world: World) -> None:
    """Our own status write not yet in the cache must not look like a manual change."""
    await world.create(world.spec())
    await world.sync()
    stale = copy.deepcopy(world.cache.get(KEY))
    assert stale is not None
    assert await world.reconciler(KEY) == Outcome.resync()
    started = helm_started()
    world.cache.put(KEY, stale)  # the watch has not delivered our writes yet
    assert await world.reconciler(KEY) == Outcome.resync()
    assert helm_started() == started


async def test_a_spec_asking_for_a_feature_not_built_is_reported_without_helm(
    world: World,
) -> None:
    # helm-operator's request to convert a helm 2 release: refused, not ignored
    migrate = {"helm.fluxcd.io/migrate": "true"}
    await world.create(world.spec())
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"annotations": migrate}},
        content_type="application/merge-patch+json",
    )
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    stalled = conditions(hr)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "NotSupported")
    assert "metadata.annotations[helm.fluxcd.io/migrate]" in stalled["message"]
    assert conditions(hr)["Ready"]["status"] == "False"
    assert helm_started() == started
    assert FINALIZER not in hr["metadata"].get("finalizers", [])
    # a resync of the same invalid spec writes nothing and sends no new Event
    version = hr["metadata"]["resourceVersion"]
    assert await world.reconcile() == Outcome.resync()
    assert (await world.hr())["metadata"]["resourceVersion"] == version
    assert [reason for _, reason, _ in await world.events()] == ["NotSupported"]
    # fixed: installed, and nothing stale is left in the conditions
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"annotations": dict.fromkeys(migrate)}},
        content_type="application/merge-patch+json",
    )
    assert await world.reconcile() == Outcome.resync()
    fixed = conditions(await world.hr())
    assert (fixed["Stalled"]["status"], fixed["Ready"]["status"]) == ("False", "True")


async def test_missing_chart_version_is_a_condition_and_event(world: World) -> None:
    await world.create(world.spec(version="9.9.9"))
    outcome = await world.reconcile()
    assert outcome.next in (Next.RETRY, Next.RESYNC)
    hr = await world.hr()
    fetched = conditions(hr)["ChartFetched"]
    assert fetched["status"] == "False"
    assert hr["status"]["phase"] == "ChartFetchFailed"
    assert conditions(hr)["Ready"]["status"] == "False"
    assert FINALIZER in hr["metadata"]["finalizers"]  # held from the first reconcile on
    [(kind, reason, note)] = await world.events()
    assert (kind, reason) == ("Warning", "ChartFetchFailed")
    assert "9.9.9" in note


async def test_failed_finalizer_patch_ends_the_reconcile_before_helm(world: World) -> None:
    """The finalizer PATCH runs while the release is read; its failure (here: the object
    deleted since the cache saw it) ends the reconcile as an API error, without helm."""
    await world.create(world.spec())
    await world.sync()
    await world.client.request("DELETE", world.path())
    started = helm_started()
    assert await world.reconciler(KEY) == Outcome.retry()
    assert helm_started() == started
    assert await read_release(world.client, RELEASE) is None
    assert [reason for _, reason, _ in await world.events()] == ["ReconcileError"]


async def test_release_of_another_owner_is_refused(world: World) -> None:
    await world.create(world.spec())
    await world.reconcile()
    # a second HelmRelease naming the same release
    other = ObjectKey(GROUP, "default", "intruder")
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "HelmRelease",
        "metadata": {"name": "intruder", "namespace": "default"},
        "spec": {**world.spec(), "releaseName": "default-podinfo"},
    }
    await world.client.request(
        "POST", resource_path(GROUP, VERSION, PLURAL, namespace="default"), body=body
    )
    obj = await world.client.get(world.path("intruder"))
    assert obj is not None
    world.cache.put(other, obj)
    started = helm_started()
    assert await world.reconciler(other) == Outcome.resync()
    assert helm_started() == started
    refused = await world.client.get(world.path("intruder"))
    assert refused is not None
    released = conditions(refused)["Released"]
    assert (released["status"], released["reason"]) == ("False", "Failed")
    assert "belongs to HelmRelease default/podinfo" in released["message"]
    stalled = conditions(refused)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "ReleaseRefused")
    # deleting the refused HelmRelease leaves the other's release alone
    await world.client.request("DELETE", world.path("intruder"))
    deleting = await world.client.get(world.path("intruder"))
    assert deleting is not None
    world.cache.put(other, deleting)
    assert await world.reconciler(other) == Outcome.forget()
    assert await world.client.get(world.path("intruder")) is None
    assert await read_release(world.client, RELEASE) is not None


async def test_manual_rollback_is_upgraded_back(world: World) -> None:
    await world.create(world.spec(replicaCount=1))
    await world.reconcile()
    await world.patch_spec({"values": {"replicaCount": 2}})
    await world.reconcile()
    rolled = await world.runner.rollback(
        release=RELEASE, revision=1, policy=RollbackPolicy(timeout=60), max_history=10
    )
    assert rolled.ok
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (4, "deployed")
    assert conditions(hr)["Released"]["reason"] == "Succeeded"
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started


async def set_release_status(world: World, status: str, modified_at: int = 1000) -> None:
    """Rewrite revision 1's record as an interrupted helm would have left it, with the
    ``modifiedAt`` label helm copies from revision to revision (long ago, by default)."""
    path = resource_path("", "v1", "secrets", "default", "sh.helm.release.v1.default-podinfo.v1")
    secret = await world.client.request("GET", path)
    release = decode_release(secret["data"]["release"])
    release["info"]["status"] = status
    secret["data"]["release"] = encode_release(release)
    secret["metadata"]["labels"].update(status=status, modifiedAt=str(modified_at))
    await world.client.request("PUT", path, body=secret)


async def test_an_upgrade_takes_the_record_helm_left_from_the_index(world: World) -> None:
    """helm copies a revision's ``modifiedAt`` label into the next one: the record an upgrade
    left is known by its revision and labels, not by that time, and is not read again."""
    await world.create(world.spec())
    await world.sync()
    world.index.listed.set()
    assert await world.reconciler(KEY) == Outcome.resync()
    await set_release_status(world, "deployed")
    await world.patch_spec(world.spec(replicaCount=2))
    await world.sync()
    audited = len(world.api.audit)
    assert await world.reconciler(KEY) == Outcome.resync()
    status = (await world.hr())["status"]
    assert (status["lastReleaseRevision"], status["releaseStatus"]) == (2, "deployed")
    ours = [r for r in world.api.audit[audited:] if not r.user_agent.startswith("Helm/")]
    assert [r.verb for r in ours if r.resource == "secrets"] == ["list"]  # before helm only


async def test_stale_pending_release_is_unlocked_then_upgraded(world: World) -> None:
    await world.create(world.spec())
    await world.reconcile()
    await set_release_status(world, "pending-upgrade")
    world.clock.advance(300 + HelmSettings.deadline_margin + 1)  # past the helm's lifetime
    assert await world.reconcile() == Outcome.requeue(0.0)
    record = await read_release(world.client, RELEASE)
    assert record is not None
    assert (record.revision, record.status) == (1, "failed")
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (2, "deployed")
    assert conditions(hr)["Ready"]["status"] == "True"
    assert [reason for _, reason, _ in await world.events()] == [
        "InstallSucceeded",
        "Unlocked",
        "UpgradeSucceeded",
    ]


async def test_recently_pending_release_is_waited_for(world: World) -> None:
    """The lock's age is the record's: helm creates a revision pending, and the
    ``modifiedAt`` label it copied from the revision before says nothing of it."""
    await world.create(world.spec())
    await world.reconcile()
    await set_release_status(world, "pending-upgrade", modified_at=1000)
    started = helm_started()
    outcome = await world.reconcile()
    assert outcome.next is Next.REQUEUE
    assert outcome.after is not None
    # the longest the helm holding it can live: its 300 s timeout plus our deadline margin
    assert 300 < outcome.after <= 300 + HelmSettings.deadline_margin
    assert helm_started() == started
    reconciling = conditions(await world.hr())["Reconciling"]
    assert (reconciling["status"], reconciling["reason"]) == ("True", "ReleaseLocked")


async def test_renamed_release_is_moved(world: World) -> None:
    await world.create(world.spec())
    await world.reconcile()
    await world.patch_spec({"releaseName": "podinfo-new"})
    assert await world.reconcile() == Outcome.requeue(0.0)
    assert await read_release(world.client, RELEASE) is None
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["releaseName"], hr["status"]["lastReleaseRevision"]) == ("podinfo-new", 1)
    assert conditions(hr)["Ready"]["status"] == "True"
    assert await read_release(world.client, ReleaseKey("default", "podinfo-new")) is not None


async def test_helm_failure_is_a_condition_and_event_then_a_stop(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    secret_value = "s3cr3t-value-never-shown"
    await world.create(
        {**world.spec(password=secret_value), "targetNamespace": "missing-namespace"}
    )
    assert await world.reconcile() == Outcome.requeue(0.0)
    hr = await world.hr()
    released = conditions(hr)["Released"]
    assert (released["status"], released["reason"]) == ("False", "DeployFailed")
    assert released["message"].startswith("install of chart podinfo 6.7.1 as release")
    assert hr["status"]["phase"] == "DeployFailed"
    assert conditions(hr)["Ready"]["status"] == "False"
    assert "lastAppliedDigest" not in hr["status"]
    [(kind, reason, _)] = await world.events()
    assert (kind, reason) == ("Warning", "InstallFailed")
    assert secret_value not in str(hr["status"])
    assert secret_value not in str(await world.events())
    assert secret_value not in caplog.text
    [failure] = [r for r in caplog.records if r.name == "controller.reconcile.reporter"]
    assert failure.levelname == "WARNING"
    context = {name: getattr(failure, name) for name in ("hr", "release", "action")}
    assert context == {
        "hr": "default/podinfo",
        "release": "missing-namespace/default-podinfo",
        "action": "install",
    }
    # the install left nothing to undo: the next reconcile stops, without helm, and so
    # does every one after it, until the spec changes
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    stalled = conditions(await world.hr())["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "RetriesExceeded")
    assert "not tried again until the spec or its values change" in stalled["message"]
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    assert [reason for _, reason, _ in await world.events()] == ["InstallFailed", "RetriesExceeded"]


async def test_missing_pull_secret_is_a_chart_fetch_failure(world: World) -> None:
    spec = world.spec()
    spec["chart"]["chartPullSecret"] = {"name": "repo-credentials"}
    await world.create(spec)
    assert await world.reconcile() == Outcome.retry()
    fetched = conditions(await world.hr())["ChartFetched"]
    assert (fetched["status"], fetched["reason"]) == ("False", "ChartFetchFailed")
    assert fetched["message"] == "Unauthorized: chart pull secret repo-credentials not found"


async def test_stale_cached_object_is_reread_on_conflict(world: World) -> None:
    await world.create(world.spec())
    await world.sync()
    # changed after the cache saw it: the finalizer and status patches conflict first
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"labels": {"team": "a"}}},
        content_type="application/merge-patch+json",
    )
    assert await world.reconciler(KEY) == Outcome.resync()
    hr = await world.hr()
    assert FINALIZER in hr["metadata"]["finalizers"]
    assert hr["metadata"]["labels"] == {"team": "a"}
    assert conditions(hr)["Ready"]["status"] == "True"


@pytest.mark.parametrize("output_limit", [1024], indirect=True)
async def test_helm_output_beyond_the_output_cap_is_installed_once(world: World) -> None:
    """helm's release output for podinfo is far more than 1 KiB: the revision recorded in
    the status comes from the release record, so the next reconcile has nothing to do."""
    await world.create(world.spec())
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (1, "deployed")
    assert conditions(hr)["Released"]["message"].endswith("revision 1")
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started


async def test_spec_changed_during_the_reconcile_is_not_claimed_observed(world: World) -> None:
    """The finalizer patch conflicts with a newer spec: this reconcile applies the spec it
    parsed, and says so with that spec's generation; the next one applies the newer spec."""
    await world.create(world.spec(replicaCount=1))
    await world.sync()
    await world.patch_spec({"values": {"replicaCount": 2}})  # the cache still has generation 1
    assert await world.reconciler(KEY) == Outcome.resync()
    hr = await world.hr()
    assert hr["metadata"]["generation"] == 2
    assert hr["status"]["observedGeneration"] == 1
    assert {c["observedGeneration"] for c in hr["status"]["conditions"]} == {1}
    assert conditions(hr)["Ready"]["status"] == "True"

    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["observedGeneration"], hr["status"]["lastReleaseRevision"]) == (2, 2)


@pytest.mark.parametrize("helm_bin", [HELM4, HELM3], ids=["helm4", "helm3"], indirect=True)
async def test_the_declared_values_are_the_whole_values(
    world: World, tmp_path: Path, helm_bin: Path
) -> None:
    """Values removed from the spec leave the release too (helm would reuse them if given
    none); ``resetValues: false`` asks for helm's reuse explicitly."""

    async def user_values() -> Any:
        env = tool_env(tmp_path / "home", tmp_path / "kubeconfig")
        argv = (str(helm_bin), "get", "values", RELEASE.name, "-n", RELEASE.namespace)
        return (await run((*argv, "-o", "json"), env)).check().json()

    await world.create(world.spec(replicaCount=2))
    assert await world.reconcile() == Outcome.resync()
    assert await user_values() == {"replicaCount": 2}

    await world.patch_spec({"values": None})
    assert await world.reconcile() == Outcome.resync()
    assert (await world.hr())["status"]["lastReleaseRevision"] == 2
    assert await user_values() in (None, {})

    await world.patch_spec({"values": {"replicaCount": 3}})
    assert await world.reconcile() == Outcome.resync()
    await world.patch_spec({"values": None, "resetValues": False})
    assert await world.reconcile() == Outcome.resync()
    assert (await world.hr())["status"]["lastReleaseRevision"] == 4
    assert await user_values() == {"replicaCount": 3}  # reused, as asked


async def test_release_diffs_name_the_changed_paths_and_never_a_value(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.reconciler.log_release_diffs = True  # --log-release-diffs
    caplog.set_level(logging.DEBUG)
    await world.create(world.spec(replicaCount=1, password="first-secret-value"))
    assert await world.reconcile() == Outcome.resync()
    caplog.clear()
    await world.patch_spec({"values": {"replicaCount": 2, "password": "second-secret-value"}})
    assert await world.reconcile() == Outcome.resync()
    [line] = [r.getMessage() for r in caplog.records if "values changed" in r.getMessage()]
    assert line.endswith("values changed: ~ password, ~ replicaCount")
    assert "secret-value" not in caplog.text


async def test_values_from_a_secret_compose_under_the_spec_and_never_leak(
    world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing source stops the release (retried, named, never shown); once it exists the
    release is installed with the composed values, and a change of it is one upgrade."""
    caplog.set_level(logging.DEBUG)
    secret_path = resource_path("", "v1", "secrets", namespace="default")
    spec = {**world.spec(replicaCount=2), "valuesFrom": [{"secretKeyRef": {"name": "creds"}}]}
    await world.create(spec)
    started = helm_started()
    assert await world.reconcile() == Outcome.retry()
    hr = await world.hr()
    reconciling = conditions(hr)["Reconciling"]
    assert (reconciling["status"], reconciling["reason"]) == ("True", "ProgressingWithRetry")
    assert "spec.valuesFrom[0] (Secret creds key values.yaml)" in conditions(hr)["Ready"]["message"]
    assert helm_started() == started

    def secret_of(document: str) -> dict[str, Any]:
        data = {"values.yaml": base64.b64encode(document.encode()).decode()}
        return {"metadata": {"name": "creds"}, "data": data}

    await world.client.request(
        "POST", secret_path, body=secret_of("password: top-secret-1\nreplicaCount: 1\n")
    )
    assert await world.reconcile() == Outcome.resync()  # recovers without a spec change

    async def user_values() -> Any:
        env = tool_env(tmp_path / "home", tmp_path / "kubeconfig")
        argv = (str(HELM4), "get", "values", RELEASE.name, "-n", RELEASE.namespace, "-o", "json")
        return (await run(argv, env)).check().json()

    assert await user_values() == {"password": "top-secret-1", "replicaCount": 2}
    assert await world.reconcile() == Outcome.resync()  # unchanged source: no upgrade
    assert (await world.hr())["status"]["lastReleaseRevision"] == 1

    changed = secret_of("password: top-secret-2\nreplicaCount: 1\n")
    await world.client.request(
        "PUT", resource_path("", "v1", "secrets", namespace="default", name="creds"), body=changed
    )
    assert await world.reconcile() == Outcome.resync()
    assert (await world.hr())["status"]["lastReleaseRevision"] == 2
    assert (await user_values())["password"] == "top-secret-2"
    shown = json.dumps([await world.hr(), await world.events()]) + caplog.text
    shown += "".join(part() for part in metrics.exposition())  # the metrics
    assert "top-secret" not in shown
    # nor in any file under the work dir, chart cache and helm's home (values files removed)
    assert await asyncio.to_thread(files_holding, tmp_path, b"top-secret") == []


def files_holding(root: Path, text: bytes) -> list[Path]:
    """The files under ``root`` whose content holds ``text`` (blocking: run in a thread)."""
    return [path for path in root.rglob("*") if path.is_file() and text in path.read_bytes()]


async def test_a_values_source_moved_to_another_namespace_is_followed(
    world: World, tmp_path: Path
) -> None:
    """Sources may live in other namespaces (as with helm-operator); a reference moved to
    another namespace reads the ConfigMap there, and a source deleted where the spec still
    points stops the release, naming it."""

    async def configmap(namespace: str, message: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await world.client.request("POST", resource_path("", "v1", "namespaces"), body=body)
        document = f"ui:\n  message: {message}\n"
        body = {"metadata": {"name": "shared"}, "data": {"values.yaml": document}}
        path = resource_path("", "v1", "configmaps", namespace=namespace)
        await world.client.request("POST", path, body=body)

    def reading(namespace: str) -> dict[str, Any]:
        ref = {"configMapKeyRef": {"name": "shared", "namespace": namespace}}
        return {**world.spec(), "valuesFrom": [ref]}

    async def user_values() -> Any:
        env = tool_env(tmp_path / "home", tmp_path / "kubeconfig")
        argv = (str(HELM4), "get", "values", RELEASE.name, "-n", RELEASE.namespace, "-o", "json")
        return (await run(argv, env)).check().json()

    await configmap("team-a", "from team-a")
    await configmap("team-b", "from team-b")
    await world.create(reading("team-a"))
    assert await world.reconcile() == Outcome.resync()
    assert (await user_values())["ui"] == {"message": "from team-a"}

    await world.patch_spec({"valuesFrom": reading("team-b")["valuesFrom"]})
    assert await world.reconcile() == Outcome.resync()
    assert (await user_values())["ui"] == {"message": "from team-b"}

    path = resource_path("", "v1", "configmaps", namespace="team-b", name="shared")
    await world.client.request("DELETE", path)
    assert await world.reconcile() == Outcome.retry()
    ready = conditions(await world.hr())["Ready"]
    assert ready["status"] == "False"
    assert "spec.valuesFrom[0] (ConfigMap team-b/shared key values.yaml)" in ready["message"]


async def test_a_suspended_release_is_left_alone_and_outlives_its_helmrelease(
    world: World,
) -> None:
    """helm-controller's ``spec.suspend``: no helm while true, the status says so, a resume
    acts at once, and deleting a suspended HelmRelease leaves its release in place."""
    await world.create(world.spec(replicaCount=1))
    await world.reconcile()
    await world.patch_spec({"suspend": True, "values": {"replicaCount": 2}})
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    reconciling = conditions(hr)["Reconciling"]
    assert (reconciling["status"], reconciling["reason"]) == ("False", "Suspended")
    assert hr["status"]["lastReleaseRevision"] == 1
    assert helm_started() == started

    await world.patch_spec({"suspend": False})
    assert await world.reconcile() == Outcome.resync()
    assert (await world.hr())["status"]["lastReleaseRevision"] == 2
    assert conditions(await world.hr())["Reconciling"]["reason"] != "Suspended"

    await world.patch_spec({"suspend": True})
    await world.reconcile()
    await world.client.request("DELETE", world.path())
    assert await world.reconcile() == Outcome.forget()
    assert await world.client.get(world.path()) is None
    assert await read_release(world.client, RELEASE) is not None  # left in place


async def test_a_release_reconciled_at_its_own_interval(world: World) -> None:
    await world.create({**world.spec(), "interval": "90s"})
    assert await world.reconcile() == Outcome.resync(90.0)


async def test_create_namespace_installs_into_a_namespace_not_there_yet(world: World) -> None:
    spec = {**world.spec(), "targetNamespace": "made-by-helm"}
    await world.create({**spec, "install": {"createNamespace": True}})
    assert await world.reconcile() == Outcome.resync()
    assert await read_release(world.client, ReleaseKey("made-by-helm", "default-podinfo"))
    namespace = await world.client.get(resource_path("", "v1", "namespaces", name="made-by-helm"))
    assert namespace is not None


async def test_force_at_upgrades_a_release_in_sync_once(world: World) -> None:
    await world.create(world.spec())
    await world.reconcile()
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"annotations": {"reconcile.fluxcd.io/forceAt": "now"}}},
        content_type="application/merge-patch+json",
    )
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["lastHandledForceAt"]) == (2, "now")
    started = helm_started()
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started


LABEL_PATCH = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: default-podinfo
  labels:
    patched-by: post-renderer
"""


@pytest.mark.parametrize("helm_bin", [HELM4, HELM3], indirect=True)
async def test_post_renderers_patch_what_helm_applies_and_a_change_upgrades(
    world: World,
) -> None:
    renderer = {"kustomize": {"patches": [{"patch": LABEL_PATCH}]}}
    await world.create({**world.spec(), "postRenderers": [renderer]})
    assert await world.reconcile() == Outcome.resync()
    path = resource_path("apps", "v1", "deployments", namespace="default", name="default-podinfo")
    deployment = await world.client.get(path)
    assert deployment is not None
    assert deployment["metadata"]["labels"]["patched-by"] == "post-renderer"

    image = {"name": "ghcr.io/stefanprodan/podinfo", "newTag": "6.7.0"}
    await world.patch_spec({"postRenderers": [{"kustomize": {"images": [image]}}]})
    assert await world.reconcile() == Outcome.resync()
    hr = await world.hr()
    assert hr["status"]["lastReleaseRevision"] == 2  # a change of renderers is an upgrade
    deployment = await world.client.get(path)
    assert deployment is not None
    assert "patched-by" not in deployment["metadata"]["labels"]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "ghcr.io/stefanprodan/podinfo:6.7.0"


DEPLOYER_RULES = [
    {"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["*"]},
]


async def grant(world: World, account: str, rules: list[dict[str, Any]]) -> None:
    """A Role of ``rules`` in the HelmRelease's namespace, bound to ServiceAccount ``account``."""
    namespace = KEY.namespace
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": account, "namespace": namespace},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": account, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    rbac = ("rbac.authorization.k8s.io", "v1")
    await world.client.request("POST", resource_path(*rbac, "roles", namespace), body=role)
    bindings = resource_path(*rbac, "rolebindings", namespace)
    await world.client.request("POST", bindings, body=binding)


@pytest.mark.parametrize("helm_bin", [HELM4, HELM3], indirect=True)
async def test_a_release_runs_as_its_service_account_and_its_rbac_bounds_it(
    world: World,
) -> None:
    """helm-controller's ``spec.serviceAccountName``: helm impersonates the ServiceAccount,
    so a release it has no rights for fails, naming what was forbidden; once granted, a
    reconcile request installs it, and its drift checks run as that account too."""
    spec = {**world.spec(), "serviceAccountName": "deployer"}
    await world.create({**spec, "driftDetection": {"mode": "enabled"}})
    await world.reconcile()
    hr = await world.hr()
    released = conditions(hr)["Released"]
    assert released["status"] == "False"
    assert 'User "system:serviceaccount:default:deployer" cannot' in released["message"]
    assert await read_release(world.client, RELEASE) is None

    await grant(world, "deployer", DEPLOYER_RULES)
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "granted"}}},
        content_type="application/merge-patch+json",
    )
    for _ in range(3):  # the failed install's remedy, then the install
        if await read_release(world.client, RELEASE) is not None:
            break
        await world.reconcile()
    record = await read_release(world.client, RELEASE)
    assert record is not None
    assert record.status == "deployed"
    await world.reconcile()  # in sync: a drift check, as the ServiceAccount
    drifted = conditions(await world.hr())["Drifted"]
    assert (drifted["status"], drifted["reason"]) == ("False", "NoDriftDetected")
    impersonated = [r for r in world.api.audit if r.code == 403]
    assert impersonated  # the refusals before the grant came from the API server's RBAC


async def test_a_bug_is_said_on_the_helmrelease_once_without_the_values(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception escaping a reconcile (a bug) is Stalled ``InternalError`` naming its
    type and place, with an Event; the traceback is logged once, never its message."""

    secret = "leaked-secret-value"

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(secret)  # a message quoting a value

    monkeypatch.setattr(world.reconciler.sources, "compose", broken)
    await world.create(world.spec(password=secret))
    with caplog.at_level(logging.ERROR, logger="controller"):
        assert await world.reconcile() == Outcome.resync()
        assert await world.reconcile() == Outcome.resync()
    stalled = conditions(await world.hr())["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "InternalError")
    assert "RuntimeError at test_reconciler.py:" in stalled["message"]
    assert [event[1] for event in await world.events()] == ["InternalError"]
    logged = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(logged) == 1  # once, when the status first said it
    assert "Traceback" not in logged[0].getMessage()  # frames only
    assert secret not in caplog.text
    assert secret not in json.dumps((await world.hr())["status"])
