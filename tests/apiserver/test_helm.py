"""The real helm 4.1.4 and helm 3.17.3 against the in-memory API server.

Each scenario runs with both binaries. Covers a release's whole life (install,
upgrades across chart versions and values, list -A, status, test, get values, history,
rollback, uninstall), ``upgrade --install --wait`` with ``--create-namespace`` and hook Jobs
succeeding thanks to the workload simulation and timing out on a failing
workload, and charts with CRDs (sealed-secrets, velero) or many kinds (prometheus).
"""

from __future__ import annotations

import base64

import pytest
from apitesting import Run

from apiserver import ApiServer
from apiserver.resources import GroupResource
from testkit import Completed

HELMS = pytest.mark.parametrize("helm", ["helm", "helm3"])
DEPLOYMENTS = GroupResource("apps", "deployments")
SECRETS = GroupResource("", "secrets")


def release_secrets(api: ApiServer, namespace: str) -> list[str]:
    return sorted(
        obj["metadata"]["name"]
        for obj in api.store.objects(SECRETS, namespace)
        if obj.get("type") == "helm.sh/release.v1"
    )


@HELMS
async def test_release_lifecycle(
    apiserver: ApiServer, run: Run, chart_repo: str, helm: str
) -> None:
    chart = ("podinfo", "--repo", chart_repo)
    (await run(helm, "install", "demo", *chart, "--version", "6.7.1")).check()
    (
        await run(helm, "upgrade", "demo", *chart, "--version", "6.11.2", "--set", "replicaCount=2")
    ).check()
    (await run(helm, "upgrade", "demo", *chart, "--version", "6.14.1", "--reuse-values")).check()
    deployment = apiserver.store.get_object(DEPLOYMENTS, "default", "demo-podinfo")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["generation"] >= 2
    listed = (await run(helm, "list", "-A", "-o", "json")).check().json()
    assert [(r["name"], r["chart"], r["status"]) for r in listed] == [
        ("demo", "podinfo-6.14.1", "deployed")
    ]
    assert "STATUS: deployed" in (await run(helm, "status", "demo")).check().stdout
    tested = (await run(helm, "test", "demo", "--timeout", "30s")).check()
    assert tested.stdout.count("Phase:          Succeeded") == 3
    values = (await run(helm, "get", "values", "demo", "-o", "json")).check().json()
    assert values == {"replicaCount": 2}
    (await run(helm, "rollback", "demo", "1")).check()
    history = (await run(helm, "history", "demo", "-o", "json")).check().json()
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "superseded"),
        (4, "deployed"),
    ]
    rolled_back = apiserver.store.get_object(DEPLOYMENTS, "default", "demo-podinfo")
    assert rolled_back["spec"]["replicas"] == 1
    assert len(release_secrets(apiserver, "default")) == 4
    (await run(helm, "uninstall", "demo")).check()
    assert release_secrets(apiserver, "default") == []
    assert apiserver.store.get(DEPLOYMENTS, "default", "demo-podinfo") is None


@HELMS
async def test_upgrade_install_wait_succeeds_or_times_out(
    apiserver: ApiServer, run: Run, chart_repo: str, helm: str
) -> None:
    chart = ("podinfo", "--repo", chart_repo, "--version", "6.11.2")
    hooks = "hooks.preInstall.job.enabled=true,hooks.postInstall.job.enabled=true"
    ok = await run(
        helm,
        "upgrade",
        "--install",
        "web",
        *chart,
        "-n",
        "apps",
        "--create-namespace",
        "--set",
        hooks,
        "--wait",
        "--timeout",
        "30s",
    )
    ok.check()
    created_jobs = apiserver.audit.find(resource="jobs", namespace="apps", code=201)
    assert len(created_jobs) == 2  # the pre- and post-install hooks, completed and deleted
    deployment = apiserver.store.get_object(DEPLOYMENTS, "apps", "web-podinfo")
    assert deployment["status"]["readyReplicas"] == 1
    failing = await run(
        helm,
        "upgrade",
        "--install",
        "broken",
        *chart,
        "-n",
        "apps",
        "--set",
        # two replicas: the chart's maxUnavailable of 1 lets helm 3 accept one unready pod
        "image.repository=example/fail,replicaCount=2",
        "--wait",
        "--timeout",
        "3s",
    )
    assert failing.code != 0
    status = (await run(helm, "status", "broken", "-n", "apps", "-o", "json")).check().json()
    assert status["info"]["status"] == "failed"


@HELMS
async def test_chart_with_crds_dir(
    apiserver: ApiServer, run: Run, chart_repo: str, helm: str
) -> None:
    installed = await run(
        helm,
        "install",
        "sealed",
        "sealed-secrets",
        "--repo",
        chart_repo,
        "--version",
        "2.18.5",
        "-n",
        "kube-system",
        "--wait",
        "--timeout",
        "30s",
    )
    installed.check()
    crds = GroupResource("apiextensions.k8s.io", "customresourcedefinitions")
    crd = apiserver.store.get_object(crds, "", "sealedsecrets.bitnami.com")
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert apiserver.registry.lookup("bitnami.com", "v1alpha1", "sealedsecrets") is not None


async def install_velero(run: Run, chart_repo: str, settings: str) -> Completed:
    return await run(
        "helm",
        "install",
        "velero",
        "velero",
        "--repo",
        chart_repo,
        "--version",
        "12.1.0",
        "-n",
        "velero",
        "--create-namespace",
        "--set",
        settings,
    )


async def test_velero_with_custom_resources_of_its_crds(
    apiserver: ApiServer, run: Run, chart_repo: str
) -> None:
    installed = await install_velero(
        run, chart_repo, "backupsEnabled=false,snapshotsEnabled=false,upgradeCRDs=false"
    )
    installed.check()
    assert apiserver.registry.lookup("velero.io", "v1", "backups") is not None


async def test_velero_defaults_are_rejected_by_the_crd_schema(
    apiserver: ApiServer, run: Run, chart_repo: str
) -> None:
    failed = await install_velero(run, chart_repo, "upgradeCRDs=false")
    assert failed.code != 0
    assert 'BackupStorageLocation.velero.io "default" is invalid: spec.provider' in failed.stderr


async def test_prometheus_installs(apiserver: ApiServer, run: Run, chart_repo: str) -> None:
    installed = await run(
        "helm",
        "install",
        "prom",
        "prometheus",
        "--repo",
        chart_repo,
        "--version",
        "29.27.0",
        "-n",
        "monitoring",
        "--create-namespace",
        "--set",
        "server.persistentVolume.enabled=false",
    )
    installed.check()
    release = release_secrets(apiserver, "monitoring")
    assert release == ["sh.helm.release.v1.prom.v1"]
    secret = apiserver.store.get_object(SECRETS, "monitoring", release[0])
    assert base64.b64decode(secret["data"]["release"])
