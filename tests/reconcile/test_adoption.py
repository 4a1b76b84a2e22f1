"""Taking over helm-operator's releases: real helm, real chart repository, in-memory API server.

A release is made the way helm-operator 1.x made it: ``helm upgrade --install`` of the
chart and values under the default release name, then ``kubectl annotate --overwrite``
of every resource of its manifest with the antecedent annotation naming the
HelmRelease. Then the HelmRelease is reconciled by the operator, for both served API
versions: a release that holds what the spec asks is adopted without any helm process
and is in sync from then on; one that holds something else is adopted, then upgraded
once. A release annotated for another HelmRelease, or not annotated at all, is refused
and left untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from reconciletesting import watched_index

from apiserver import ApiServer
from controller.api import FINALIZER, PLURAL, V1, V1BETA1, ChartSpec, ReleaseSpec, ServedApi
from controller.charts import ChartFetcher, FetchedChart
from controller.helm import HelmRunner
from controller.keys import ObjectKey, ReleaseKey
from controller.kube.cache import Cache
from controller.kube.client import KubeClient, resource_path
from controller.kube.discovery import Discovery
from controller.outcome import Outcome
from controller.reconcile import Reconciler
from controller.reconcile.actions import adopt
from controller.reconcile.actions.adopt import Adopted, difference
from controller.reconcile.antecedent import (
    MAX_RESOURCES,
    Antecedents,
    ManifestResource,
    manifest_resources,
)
from controller.reconcile.attempt import Attempt
from controller.reconcile.locks import ReleaseLocks
from controller.reconcile.state import Recorded
from controller.releases import (
    ObservedRelease,
    ReleaseIndex,
    StoredRelease,
    encode_release,
    read_release,
)
from controller.settings import ChartSettings, HelmSettings, KubeSettings, Settings, SourceSettings
from controller.sources import ValuesResolver
from controller.status import render_status
from testkit import ChartRepository, kubectl, pinned, register_crds, run, tool_env

CHART_VERSION = "6.7.1"
ANTECEDENT = "helm.fluxcd.io/antecedent"
OLD_ANTECEDENT = "flux.weave.works/antecedent"
OWNER_NAME = "helmreleases.flux.weave.works/owner-name"
DIGEST = "helmreleases.flux.weave.works/digest"
APIS = pytest.mark.parametrize("api", [V1, V1BETA1], ids=["v1", "v1beta1"])


@dataclass
class World:
    """One Reconciler against the in-memory API server, and helm-operator's ways."""

    client: KubeClient
    cache: Cache
    index: ReleaseIndex
    reconciler: Reconciler
    repository: str
    charts_dir: Path
    env: dict[str, str]
    server: ApiServer
    api: ServedApi = V1
    synced: int = 0
    """How many requests the API server had answered when the last reconcile began."""

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.api.group, "default", "podinfo")

    def path(self) -> str:
        return resource_path(
            self.api.group, self.api.version, PLURAL, namespace="default", name="podinfo"
        )

    async def install_like_helm_operator(
        self,
        release: ReleaseKey,
        values: dict[str, Any],
        antecedent: str | None = "default:helmrelease/podinfo",
        annotation: str = ANTECEDENT,
    ) -> None:
        """What helm-operator 1.x did: install, then annotate every resource released."""
        values_file = Path(self.env["HOME"]) / "values.json"
        values_file.write_text(json.dumps(values))
        chart = self.charts_dir / f"podinfo-{CHART_VERSION}.tgz"
        helm = str(pinned("helm"))
        namespace = ("--namespace", release.namespace)
        install = (helm, "upgrade", "--install", release.name, str(chart), *namespace)
        (await run((*install, "--values", str(values_file)), self.env)).check()
        if antecedent is None:
            return
        manifest = await run((helm, "get", "manifest", release.name, *namespace), self.env)
        await kubectl(
            self.env,
            "annotate",
            "--overwrite",
            *namespace,
            "-f",
            "-",
            f"{annotation}={antecedent}",
            stdin=manifest.check().stdout,
        )

    async def create(self, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": self.api.api_version,
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "default"},
            "spec": spec,
        }
        collection = resource_path(self.api.group, self.api.version, PLURAL, namespace="default")
        await self.client.request("POST", collection, body=body)

    def spec(self, **values: Any) -> dict[str, Any]:
        return {
            "chart": {"repository": self.repository, "name": "podinfo", "version": CHART_VERSION},
            "values": values,
        }

    async def reconcile(self) -> Outcome:
        """Bring the cache and the release index up to date (as the watches would), then
        reconcile the HelmRelease."""
        obj = await self.client.get(self.path())
        assert obj is not None
        self.cache.put(self.key, obj)
        secrets = await self.client.request(
            "GET", resource_path("", "v1", "secrets"), params={"labelSelector": "owner=helm"}
        )
        for secret in secrets["items"]:
            self.index.apply("ADDED", secret)
        self.synced = len(self.server.audit)
        return await self.reconciler(self.key)

    def requests(self) -> list[tuple[str, str]]:
        """(verb, path) of the requests of the operator in the last reconcile (not helm's)."""
        made = self.server.audit[self.synced :]
        return [(r.verb, r.path) for r in made if not r.user_agent.startswith("Helm/")]

    async def hr(self) -> dict[str, Any]:
        obj = await self.client.get(self.path())
        assert obj is not None
        return obj

    async def events(self) -> list[tuple[str, str]]:
        listing = await self.client.request(
            "GET", resource_path("events.k8s.io", "v1", "events", namespace="default")
        )
        ordered = sorted(listing["items"], key=lambda e: e["eventTime"])
        return [(e["reason"], e["note"]) for e in ordered]

    async def release(self, key: ReleaseKey) -> ObservedRelease:
        record = await read_release(self.client, key)
        assert record is not None
        return record

    async def annotations(self, release: ReleaseKey) -> dict[str, str]:
        """The annotations of the release's Deployment (podinfo names it after the release)."""
        path = resource_path(
            "apps", "v1", "deployments", namespace=release.namespace, name=release.name
        )
        deployment = await self.client.get(path)
        assert deployment is not None
        annotations: dict[str, str] = deployment["metadata"].get("annotations") or {}
        return annotations


@pytest.fixture
async def world(tmp_path: Path, charts_dir: Path) -> AsyncIterator[World]:
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
            helm=HelmSettings(helm_bin=str(pinned("helm")), kill_grace=2.0, work_dir=tmp_path),
        )
        charts = ChartFetcher(settings.charts)
        runner = HelmRunner(settings.helm, client.helm_env())
        cache, index = Cache(), watched_index(api)
        sources = ValuesResolver(client, SourceSettings())
        reconciler = Reconciler(cache, client, charts, runner, index, ReleaseLocks(), sources)
        env = tool_env(tmp_path / "home", kubeconfig)
        try:
            yield World(client, cache, index, reconciler, repository.url, charts_dir, env, api)
        finally:
            await sources.close()
            await runner.close()
            await charts.close()
            await client.close()


def helm_started() -> float:
    """helm processes the operator started, whatever their command (its version too)."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "helmrelease_helm_processes_started":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def upgrades() -> float:
    return (
        REGISTRY.get_sample_value(
            "helmrelease_helm_processes_started_total", {"command": "upgrade"}
        )
        or 0.0
    )


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


DEFAULT = ReleaseKey("default", "default-podinfo")


@APIS
async def test_a_release_helm_operator_made_is_adopted_without_helm(
    world: World, api: ServedApi
) -> None:
    world.api = api
    await world.install_like_helm_operator(DEFAULT, {"replicaCount": 2})
    await world.create(world.spec(replicaCount=2))
    started = helm_started()

    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    # the evidence: the record, discovery of the kinds its manifest lists, their metadata
    made = world.requests()
    assert ("get", "/apis/apps/v1") in made
    assert ("get", "/apis/apps/v1/namespaces/default/deployments/default-podinfo") in made
    assert ("get", "/api/v1/namespaces/default/services/default-podinfo") in made
    record_path = "/api/v1/namespaces/default/secrets/sh.helm.release.v1.default-podinfo.v1"
    assert ("update", record_path) in made
    hr = await world.hr()
    status = hr["status"]
    ready = conditions(hr)["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "Succeeded")
    assert ready["message"] == (
        "adopted release default/default-podinfo installed by helm-operator, revision 1"
    )
    assert (status["revision"], status["lastReleaseRevision"]) == (CHART_VERSION, 1)
    assert (status["releaseName"], status["targetNamespace"]) == ("default-podinfo", "default")
    assert status["releaseStatus"] == "deployed"
    record = await world.release(DEFAULT)
    assert record.revision == 1
    assert record.labels[OWNER_NAME] == "podinfo"
    assert record.labels[DIGEST] == status["lastAppliedDigest"][:32]
    assert [reason for reason, _ in await world.events()] == ["Adopted"]

    # from now on it is ours and in sync: a resync starts no helm, asks the API nothing
    version = hr["metadata"]["resourceVersion"]
    assert await world.reconcile() == Outcome.resync()
    assert world.requests() == []
    assert helm_started() == started
    assert (await world.hr())["metadata"]["resourceVersion"] == version
    assert (await world.release(DEFAULT)).revision == 1


@APIS
async def test_a_release_with_other_values_is_adopted_then_upgraded(
    world: World, api: ServedApi
) -> None:
    world.api = api
    await world.install_like_helm_operator(DEFAULT, {"replicaCount": 1})
    await world.create(world.spec(replicaCount=3))
    started, upgraded = helm_started(), upgrades()

    assert await world.reconcile() == Outcome.requeue(0.0)
    assert helm_started() == started
    record = await world.release(DEFAULT)
    assert (record.revision, record.labels[OWNER_NAME]) == (1, "podinfo")
    assert DIGEST not in record.labels  # nothing claimed: what it holds is not the spec
    reconciling = conditions(await world.hr())["Reconciling"]
    assert (reconciling["status"], reconciling["reason"]) == ("True", "Adopted")
    assert "its values are not the spec's" in reconciling["message"]

    assert await world.reconcile() == Outcome.resync()
    assert upgrades() == upgraded + 1
    hr = await world.hr()
    assert (hr["status"]["lastReleaseRevision"], hr["status"]["releaseStatus"]) == (2, "deployed")
    assert conditions(hr)["Ready"]["status"] == "True"
    assert [reason for reason, _ in await world.events()] == ["Adopted", "UpgradeSucceeded"]
    get_values = await run(
        (str(pinned("helm")), "get", "values", "default-podinfo", "-n", "default", "-o", "json"),
        world.env,
    )
    assert get_values.check().json() == {"replicaCount": 3}

    assert await world.reconcile() == Outcome.resync()
    assert upgrades() == upgraded + 1


async def test_an_index_that_has_not_seen_the_adoption_reads_no_evidence_again(
    world: World,
) -> None:
    """The watch has not delivered our labels yet: the record is read fresh, and is ours."""
    await world.install_like_helm_operator(DEFAULT, {})
    await world.create(world.spec())
    secrets = resource_path("", "v1", "secrets", namespace="default")
    unlabelled = (await world.client.request("GET", secrets))["items"]
    assert await world.reconcile() == Outcome.resync()
    started = helm_started()
    for secret in unlabelled:
        world.index.apply("MODIFIED", secret)
    hr = await world.hr()
    world.cache.put(world.key, hr)
    world.synced = len(world.server.audit)
    assert await world.reconciler(world.key) == Outcome.resync()
    assert helm_started() == started
    assert world.requests() == [("list", secrets)]
    assert (await world.hr())["metadata"]["resourceVersion"] == hr["metadata"]["resourceVersion"]


async def test_a_release_of_another_helmrelease_is_refused_and_untouched(world: World) -> None:
    await world.install_like_helm_operator(
        DEFAULT, {"replicaCount": 2}, antecedent="team-b:helmrelease/podinfo"
    )
    await world.create(world.spec(replicaCount=2))
    started = helm_started()

    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    hr = await world.hr()
    stalled = conditions(hr)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "ReleaseRefused")
    assert stalled["message"] == (
        "release default/default-podinfo belongs to HelmRelease team-b/podinfo "
        "(helm-operator annotation); not touching it"
    )
    assert conditions(hr)["Ready"]["status"] == "False"
    record = await world.release(DEFAULT)
    assert (record.revision, dict(record.labels)) == (1, {})
    assert (await world.annotations(DEFAULT))[ANTECEDENT] == "team-b:helmrelease/podinfo"


async def test_a_release_nobody_annotated_is_refused_as_before(world: World) -> None:
    await world.install_like_helm_operator(DEFAULT, {"replicaCount": 2}, antecedent=None)
    await world.create(world.spec(replicaCount=2))
    started = helm_started()

    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    stalled = conditions(await world.hr())["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "ReleaseRefused")
    assert "exists and was not installed by a HelmRelease" in stalled["message"]
    record = await world.release(DEFAULT)
    assert (record.revision, dict(record.labels)) == (1, {})


async def test_the_annotation_of_helm_operators_early_days_is_evidence_too(
    world: World,
) -> None:
    world.api = V1BETA1
    await world.install_like_helm_operator(DEFAULT, {}, annotation=OLD_ANTECEDENT)
    await world.create(world.spec())
    started = helm_started()

    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    assert conditions(await world.hr())["Ready"]["status"] == "True"
    assert (await world.release(DEFAULT)).labels[OWNER_NAME] == "podinfo"


async def test_a_v1_release_in_a_target_namespace_is_found_by_its_default_name(
    world: World,
) -> None:
    """helm-operator's v1 default name for another target namespace: <ns>-<target>-<name>."""
    await kubectl(world.env, "create", "namespace", "apps")
    release = ReleaseKey("apps", "default-apps-podinfo")
    await world.install_like_helm_operator(release, {"replicaCount": 2})
    await world.create({**world.spec(replicaCount=2), "targetNamespace": "apps"})
    started = helm_started()

    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started
    hr = await world.hr()
    assert (hr["status"]["releaseName"], hr["status"]["targetNamespace"]) == (
        "default-apps-podinfo",
        "apps",
    )
    assert conditions(hr)["Ready"]["status"] == "True"
    assert (await world.release(release)).labels[OWNER_NAME] == "podinfo"
    assert await world.reconcile() == Outcome.resync()
    assert helm_started() == started


async def test_resources_that_are_gone_are_skipped(world: World) -> None:
    await world.install_like_helm_operator(DEFAULT, {})
    await kubectl(world.env, "delete", "deployment", "default-podinfo", "-n", "default")
    await world.create(world.spec())
    assert await world.reconcile() == Outcome.resync()  # the Service still says whose it is
    assert (await world.release(DEFAULT)).labels[OWNER_NAME] == "podinfo"


async def test_a_release_whose_resources_are_all_gone_is_refused(world: World) -> None:
    await world.install_like_helm_operator(DEFAULT, {})
    for kind in ("deployment", "service"):
        await kubectl(world.env, "delete", kind, "default-podinfo", "-n", "default")
    await world.create(world.spec())
    assert await world.reconcile() == Outcome.resync()
    stalled = conditions(await world.hr())["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "ReleaseRefused")
    assert dict((await world.release(DEFAULT)).labels) == {}


async def test_an_api_failure_while_reading_the_evidence_is_retried(world: World) -> None:
    await world.install_like_helm_operator(DEFAULT, {})
    await world.create(world.spec())
    world.server.faults.fail_next(1, verb="get", resource="deployments", status=500)
    assert await world.reconcile() == Outcome.retry()
    reconciling = conditions(await world.hr())["Reconciling"]
    assert (reconciling["status"], reconciling["reason"]) == ("True", "ApiError")
    assert dict((await world.release(DEFAULT)).labels) == {}
    assert await world.reconcile() == Outcome.resync()
    assert (await world.release(DEFAULT)).labels[OWNER_NAME] == "podinfo"


async def test_deleting_the_helmrelease_before_adoption_uninstalls_its_release(
    world: World,
) -> None:
    """As helm-operator would have: the annotation says the release is this HelmRelease's."""
    await world.install_like_helm_operator(DEFAULT, {})
    await world.create(world.spec())
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"finalizers": [FINALIZER]}},
        content_type="application/merge-patch+json",
    )
    await world.client.request("DELETE", world.path())
    obj = await world.client.get(world.path())
    assert obj is not None
    world.cache.put(world.key, obj)
    assert await world.reconciler(world.key) == Outcome.forget()
    assert await read_release(world.client, DEFAULT) is None
    assert await world.client.get(world.path()) is None


async def test_deleting_a_helmrelease_leaves_another_ones_release(world: World) -> None:
    await world.install_like_helm_operator(DEFAULT, {}, antecedent="team-b:helmrelease/podinfo")
    await world.create(world.spec())
    await world.client.request(
        "PATCH",
        world.path(),
        body={"metadata": {"finalizers": [FINALIZER]}},
        content_type="application/merge-patch+json",
    )
    await world.client.request("DELETE", world.path())
    obj = await world.client.get(world.path())
    assert obj is not None
    world.cache.put(world.key, obj)
    assert await world.reconciler(world.key) == Outcome.forget()
    assert await read_release(world.client, DEFAULT) is not None


# --- the evidence, bounded -----------------------------------------------------------------


def configmap(name: str, namespace: str | None = None) -> str:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata})


def test_manifest_resources_are_the_first_few_listed() -> None:
    manifest = "\n---\n".join(
        [
            "# Source: chart/templates/nothing.yaml",
            configmap("a"),
            configmap("a"),  # listed twice: read once
            configmap("b", "other"),
            json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
            json.dumps({"apiVersion": "v1", "kind": "List", "items": [json.loads(configmap("c"))]}),
            "just: a mapping",
            *(configmap(f"many-{n}") for n in range(50)),
        ]
    )
    found = manifest_resources(manifest)
    assert len(found) == MAX_RESOURCES
    assert found[:4] == [
        ManifestResource("v1", "ConfigMap", "a", None),
        ManifestResource("v1", "ConfigMap", "b", "other"),
        ManifestResource("v1", "Namespace", "ns", None),
        ManifestResource("v1", "ConfigMap", "c", None),
    ]


def test_a_broken_manifest_yields_what_came_before_the_break() -> None:
    manifest = configmap("a") + "\n---\nkind: [unclosed\n---\n" + configmap("b")
    assert manifest_resources(manifest) == [ManifestResource("v1", "ConfigMap", "a", None)]
    assert manifest_resources("") == []


class CountingClient:
    """Answers what ``Antecedents`` asks, counting the requests."""

    def __init__(self, manifest: str) -> None:
        release = {"info": {"status": "deployed"}, "manifest": manifest}
        self.secret = {
            "metadata": {
                "name": "sh.helm.release.v1.r.v1",
                "namespace": "ns",
                "labels": {"owner": "helm", "name": "r", "status": "deployed", "version": "1"},
            },
            "data": {"release": encode_release(release)},
        }
        self.paths: list[str] = []

    async def get(self, path: str) -> dict[str, Any] | None:
        self.paths.append(path)
        return self.secret

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        self.paths.append(path)
        if path == "/api/v1":
            return {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}
        name = path.rsplit("/", 1)[-1]
        return {"metadata": {"name": name, "annotations": {ANTECEDENT: "ns:helmrelease/hr"}}}


async def test_the_evidence_of_a_large_release_is_a_handful_of_reads() -> None:
    client = CountingClient("\n---\n".join(configmap(f"cm-{n}") for n in range(1000)))
    antecedents = Antecedents(client, Discovery(client))  # type: ignore[arg-type]
    record = ObservedRelease(ReleaseKey("ns", "r"), 1, "deployed")
    assert await antecedents.read(record) == ("ns:helmrelease/hr",)
    reads = [p for p in client.paths if p.startswith("/api/v1/namespaces/ns/configmaps/")]
    assert len(reads) == MAX_RESOURCES
    assert client.paths.count("/api/v1") == 1
    client.paths.clear()
    assert await antecedents.read(record) == ("ns:helmrelease/hr",)
    assert "/api/v1" not in client.paths  # discovery is cached


# --- what adopting says, and what it compares --------------------------------------------

SPEC = ReleaseSpec(
    group=V1.group,
    namespace="default",
    name="podinfo",
    release_name="default-podinfo",
    target_namespace="default",
    chart=ChartSpec("https://charts.example.com/", "podinfo", CHART_VERSION),
    values={"replicaCount": 2, "ui": {"color": "#34577c"}},
)
ATTEMPT = Attempt.of(
    SPEC, FetchedChart(Path("podinfo.tgz"), "c" * 64, "podinfo", CHART_VERSION, "https://x")
)


def stored(
    status: str = "deployed", chart: tuple[str, str] = ("podinfo", CHART_VERSION), **config: Any
) -> StoredRelease:
    release = {
        "info": {"status": status},
        "chart": {"metadata": {"name": chart[0], "version": chart[1]}},
        "config": config or None,  # helm writes null when no values were given
    }
    return StoredRelease(ObservedRelease(DEFAULT, 1, status), {}, release)


@pytest.mark.parametrize(
    ("record", "differs"),
    [
        (stored(replicaCount=2, ui={"color": "#34577c"}), None),
        (stored(replicaCount=3, ui={"color": "#34577c"}), "its values are not the spec's"),
        (stored(replicaCount=2), "its values are not the spec's"),
        (stored(replicaCount=2.5, ui={"color": "#34577c"}), "its values are not the spec's"),
        (stored(), "its values are not the spec's"),
        (
            stored(chart=("podinfo", "6.11.2"), replicaCount=2, ui={"color": "#34577c"}),
            "it holds chart podinfo 6.11.2, the spec asks for podinfo 6.7.1",
        ),
        (
            stored(chart=("other", CHART_VERSION), replicaCount=2, ui={"color": "#34577c"}),
            "it holds chart other 6.7.1",
        ),
        (stored("failed", replicaCount=2, ui={"color": "#34577c"}), "its revision 1 is failed"),
        (stored("superseded", replicaCount=2, ui={"color": "#34577c"}), "is superseded"),
    ],
)
def test_a_release_is_in_sync_when_it_holds_the_chart_and_values_deployed(
    record: StoredRelease, differs: str | None
) -> None:
    found = difference(record, ATTEMPT)
    if differs is None:
        assert found is None
    else:
        assert found is not None
        assert differs in found


def test_no_values_at_all_is_the_same_as_empty_values() -> None:
    empty = Attempt.of(replace(SPEC, values={}), ATTEMPT.chart)
    assert difference(stored(), empty) is None


def test_values_are_compared_exactly() -> None:
    """``True`` is not ``1`` to a chart's templates, though it is to Python."""
    one = Attempt.of(replace(SPEC, values={"enabled": 1}), ATTEMPT.chart)
    assert difference(stored(enabled=True), one) == "its values are not the spec's"
    assert difference(stored(enabled=1), one) is None


def adopted_status(adopted: Adopted, previous: dict[str, Any]) -> dict[str, Any]:
    update = adopt.report(adopted, ATTEMPT).status
    assert update is not None
    return render_status(previous, update, generation=1, now="2026-01-01T00:00:00Z")


# what helm-operator left in the status: its revision is the chart version it deployed
HELM_OPERATOR_STATUS = {"releaseName": "default-podinfo", "revision": "6.7.0", "phase": "Deployed"}


def test_an_adoption_in_sync_records_what_the_release_holds_as_applied() -> None:
    record = ObservedRelease(DEFAULT, 4, "deployed")
    status = adopted_status(Adopted(record), HELM_OPERATOR_STATUS)
    assert (status["revision"], status["lastReleaseRevision"]) == (CHART_VERSION, 4)
    assert (status["lastAppliedDigest"], status["phase"]) == (ATTEMPT.desired, "Succeeded")
    assert (status["releaseName"], status["targetNamespace"]) == ("default-podinfo", "default")
    # what the next look reads back: exactly what an in-sync release of ours records
    recorded = Recorded.from_status(status)
    assert recorded == Recorded(DEFAULT, 4, ATTEMPT.desired)


def test_an_adoption_to_be_upgraded_never_claims_the_applied_digest() -> None:
    record = ObservedRelease(DEFAULT, 4, "deployed")
    status = adopted_status(Adopted(record, "its values are not the spec's"), HELM_OPERATOR_STATUS)
    assert "lastAppliedDigest" not in status
    assert status["revision"] == "6.7.0"  # still what helm-operator deployed, until upgraded
    assert (status["lastReleaseRevision"], status["phase"]) == (4, "Deployed")
    reconciling = {c["type"]: c for c in status["conditions"]}["Reconciling"]
    assert reconciling["message"] == (
        "adopted release default/default-podinfo installed by helm-operator, revision 4; "
        "its values are not the spec's: upgrading it"
    )
