"""helm 3 ``upgrade --wait --force`` of a release first made by helm 4.

helm 4 installs with server-side apply, which drops the nulls of the rendered manifest
(podinfo's ``resources.limits: null``); helm 3's ``--force`` then replaces each object with a
PUT of the manifest, nulls included. A real server decodes a null into the field's zero value
and does not store it, so the Deployment's template is unchanged and its ReplicaSet is scaled.
The emulator used to store the null: the template differed as text, the workload simulation
made a second ReplicaSet, and helm 3 (which compares templates as Go values, so finds the
first, scaled to zero) waited for it until its timeout.
"""

from __future__ import annotations

from typing import Any

from apitesting import Client, Run

from apiserver import ApiServer
from apiserver.resources import GroupResource

DEPLOYMENTS = GroupResource("apps", "deployments")
REPLICASETS = GroupResource("apps", "replicasets")
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


def owned_replicasets(apiserver: ApiServer, owner: dict[str, Any]) -> list[dict[str, Any]]:
    uid = owner["metadata"]["uid"]
    return [
        rs
        for rs in apiserver.store.objects(REPLICASETS, "default")
        if any(ref["uid"] == uid for ref in rs["metadata"].get("ownerReferences", []))
    ]


async def test_helm3_force_upgrade_of_a_helm4_release_waits_and_succeeds(
    apiserver: ApiServer, run: Run, chart_repo: str
) -> None:
    chart = ("podinfo", "--repo", chart_repo, "--version", "6.7.1")
    (await run("helm", "install", "demo", *chart, "--wait", "--timeout", "30s")).check()
    installed = apiserver.store.get_object(DEPLOYMENTS, "default", "demo-podinfo")
    [first] = owned_replicasets(apiserver, installed)

    upgraded = await run(
        "helm3",
        *("upgrade", "demo", *chart, "--set", "replicaCount=2"),
        *("--wait", "--force", "--timeout", "20s"),
        limit=60.0,
    )
    upgraded.check()

    replaced = apiserver.audit.find(
        verb="update", resource="deployments", name="demo-podinfo", code=200
    )
    assert [r.user_agent.split("/")[0] for r in replaced] == ["Helm"]  # helm 3 replaced it
    deployment = apiserver.store.get_object(DEPLOYMENTS, "default", "demo-podinfo")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["status"]["readyReplicas"] == 2
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert "limits" not in resources  # the PUT's null, dropped as a real server drops it
    [scaled] = owned_replicasets(apiserver, deployment)
    assert scaled["metadata"]["name"] == first["metadata"]["name"]
    assert scaled["spec"]["replicas"] == 2
    history = (await run("helm3", "history", "demo", "-o", "json")).check().json()
    assert [h["status"] for h in history] == ["superseded", "deployed"]


async def test_a_null_field_is_stored_as_if_left_out(client: Client) -> None:
    labels = {"app": "nulls"}
    container = {"name": "app", "image": "nginx:1", "resources": {"requests": {"cpu": "1m"}}}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nulls", "annotations": None},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    created = (await client.post(DEPLOY, deployment)).body
    assert "annotations" not in created["metadata"]
    with_null = {**container, "resources": {"limits": None, "requests": {"cpu": "1m"}}}
    body = {**created}
    body["spec"] = {**created["spec"], "template": {"metadata": {"labels": labels}}}
    body["spec"]["template"]["spec"] = {"containers": [with_null], "nodeSelector": None}
    replaced = await client.put(f"{DEPLOY}/nulls", body)
    assert replaced.status == 200
    assert replaced.body["spec"]["template"]["spec"] == {"containers": [container]}
    assert replaced.body["metadata"]["generation"] == 1  # nothing changed
    assert replaced.body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
