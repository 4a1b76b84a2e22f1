"""Fields an update may not change, refused with the real server's 422 Invalid.

With the real kubectl, a Deployment's selector change is refused whatever carries it (strategic,
merge and JSON patches, replace, client-side and server-side apply) with the real message.
Over plain HTTP, the exact Status (message, details, causes) for the selectors of ReplicaSets
and DaemonSets, a StatefulSet's forbidden fields (its mutable ones still change), a Job's
completions, selector and template (scheduling directives change while it is suspended and has
never started), a Service's cluster IPs (kept when left out, as helm 3's --force replace leaves
them), Secrets' type, and immutable Secrets and ConfigMaps; a status write is not checked.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from apitesting import DEPLOYMENT, Client, Run

from apiserver import ApiServer

NS = "/apis/apps/v1/namespaces/default"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
SERVICES = "/api/v1/namespaces/default/services"
SECRETS = "/api/v1/namespaces/default/secrets"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
WHEN_SET = "Forbidden: field is immutable when `immutable` is set"
STS_FORBIDDEN = (
    "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
    "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' "
    "are forbidden"
)

MOVED = json.dumps(
    {
        "spec": {
            "selector": {"matchLabels": {"app": "other"}},
            "template": {"metadata": {"labels": {"app": "other"}}},
        }
    }
)
SELECTOR_REFUSED = (
    'The Deployment "web" is invalid: spec.selector: Invalid value: '
    '{"matchLabels":{"app":"other"}}: field is immutable'
)


def workload(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
            **spec,
        },
    }


def causes(reply: Any) -> list[dict[str, str]]:
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    result: list[dict[str, str]] = reply.body["details"]["causes"]
    return result


async def kubectl_change(run: Run, how: str) -> Any:
    """Change the Deployment's selector (and its template's labels) with kubectl, ``how``."""
    if how in ("strategic", "merge"):
        return await run("kubectl", "patch", "deployment", "web", f"--type={how}", "-p", MOVED)
    if how == "json":
        ops = [{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "other"}]
        return await run(
            "kubectl", "patch", "deployment", "web", "--type=json", "-p", json.dumps(ops)
        )
    moved = DEPLOYMENT.replace("app: web}", "app: other}")
    if how == "replace":
        return await run("kubectl", "replace", "-f", "-", stdin=moved)
    if how == "apply":
        return await run("kubectl", "apply", "-f", "-", stdin=moved)
    return await run(
        "kubectl", "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=moved
    )


@pytest.mark.parametrize("how", ["strategic", "merge", "json", "replace", "apply", "server-side"])
async def test_kubectl_cannot_change_a_deployment_selector(
    apiserver: ApiServer, run: Run, how: str
) -> None:
    (await run("kubectl", "apply", "-f", "-", stdin=DEPLOYMENT)).check()
    refused = await kubectl_change(run, how)
    assert refused.code != 0
    assert SELECTOR_REFUSED in refused.stderr
    assert apiserver.audit.find(resource="deployments", code=422)
    kept = (await run("kubectl", "get", "deployment", "web", "-o", "json")).check().json()
    assert kept["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    scaled = await run("kubectl", "scale", "deployment", "web", "--replicas=3")
    scaled.check()  # what may change still does


async def test_the_exact_status_of_an_immutable_selector(client: Client) -> None:
    await client.post(f"{NS}/deployments", workload("Deployment", "web"))
    selector = {
        "matchExpressions": [{"operator": "In", "values": ["a"], "key": "tier"}],
        "matchLabels": {"app": "web", "b": "<&>"},
    }
    reply = await client.patch(f"{NS}/deployments/web", {"spec": {"selector": selector}}, MERGE)
    rendered = (
        '{"matchLabels":{"app":"web","b":"\\u003c\\u0026\\u003e"},'
        '"matchExpressions":[{"key":"tier","operator":"In","values":["a"]}]}'
    )
    assert reply.body["message"] == (
        f'Deployment.apps "web" is invalid: spec.selector: Invalid value: {rendered}: '
        "field is immutable"
    )
    assert reply.body["details"] == {
        "name": "web",
        "group": "apps",
        "kind": "Deployment",
        "causes": [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {rendered}: field is immutable",
                "field": "spec.selector",
            }
        ],
    }
    same = await client.patch(
        f"{NS}/deployments/web", {"spec": {"selector": {"matchLabels": {"app": "web"}}}}, MERGE
    )
    assert same.status == 200


@pytest.mark.parametrize("kind", ["ReplicaSet", "DaemonSet"])
async def test_replicaset_and_daemonset_selectors_are_immutable(client: Client, kind: str) -> None:
    plural = f"{kind.lower()}s"
    await client.post(f"{NS}/{plural}", workload(kind, "pods"))
    applied = workload(kind, "pods")
    applied["spec"]["selector"] = {"matchLabels": {"app": "pods", "x": "y"}}
    applied["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    reply = await client.request(
        "PATCH",
        f"{NS}/{plural}/pods",
        raw=json.dumps(applied).encode(),
        content_type=APPLY,
        params={"fieldManager": "test", "force": "true"},
    )
    assert causes(reply) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: {"matchLabels":{"app":"pods","x":"y"}}: field is immutable',
            "field": "spec.selector",
        }
    ]


async def test_statefulset_updates_are_limited(client: Client) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    sts = workload("StatefulSet", "db", serviceName="db", volumeClaimTemplates=[claim])
    created = (await client.post(f"{NS}/statefulsets", sts)).body
    resized = json.loads(json.dumps(created))
    resized["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "2Gi"
    reply = await client.put(f"{NS}/statefulsets/db", resized)
    assert reply.body["message"] == f'StatefulSet.apps "db" is invalid: spec: {STS_FORBIDDEN}'
    assert causes(reply) == [
        {"reason": "FieldValueForbidden", "message": STS_FORBIDDEN, "field": "spec"}
    ]
    renamed = await client.patch(f"{NS}/statefulsets/db", {"spec": {"serviceName": "x"}}, MERGE)
    assert causes(renamed)[0]["field"] == "spec"
    selector = {"spec": {"selector": {"matchLabels": {"app": "db", "x": "y"}}}}
    reselected = await client.patch(f"{NS}/statefulsets/db", selector, MERGE)
    assert causes(reselected) == [
        {"reason": "FieldValueForbidden", "message": STS_FORBIDDEN, "field": "spec"}
    ]
    allowed = {
        "spec": {
            "replicas": 3,
            "minReadySeconds": 5,
            "ordinals": {"start": 1},
            "updateStrategy": {"type": "OnDelete"},
            "podManagementPolicy": "OrderedReady",  # the default it already has
            "template": {"metadata": {"annotations": {"a": "b"}}},
        }
    }
    assert (await client.patch(f"{NS}/statefulsets/db", allowed, STRATEGIC)).status == 200


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox:1"}],
                }
            },
            **spec,
        },
    }


async def test_job_template_and_completions_are_immutable(client: Client) -> None:
    await client.post(JOBS, job("batch", completions=2))
    image = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "b:2"}]
    reply = await client.patch(f"{JOBS}/batch", image, JSON_PATCH)
    [cause] = causes(reply)
    assert cause["field"] == "spec.template"
    assert cause["message"].startswith("Invalid value: {")
    assert cause["message"].endswith("}: field is immutable")
    assert reply.body["message"].startswith('Job.batch "batch" is invalid: spec.template: ')
    more = await client.patch(f"{JOBS}/batch", {"spec": {"completions": 3}}, MERGE)
    assert causes(more) == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 3: field is immutable",
            "field": "spec.completions",
        }
    ]
    selector = {"spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}}}
    assert causes(await client.patch(f"{JOBS}/batch", selector, MERGE)) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: {"matchLabels":{"a":"b"}}: field is immutable',
            "field": "spec.selector",
        }
    ]
    parallel = await client.patch(f"{JOBS}/batch", {"spec": {"parallelism": 2}}, MERGE)
    assert parallel.status == 200


async def test_a_suspended_job_never_started_may_move_its_pods(client: Client) -> None:
    await client.post(JOBS, job("parked", suspend=True))
    moved = {"spec": {"template": {"spec": {"nodeSelector": {"zone": "b"}}}}}
    assert (await client.patch(f"{JOBS}/parked", moved, STRATEGIC)).status == 200
    image = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "b:2"}]}}}}
    assert causes(await client.patch(f"{JOBS}/parked", image, STRATEGIC))[0]["field"] == (
        "spec.template"
    )


async def test_service_cluster_ips_may_not_change_once_set(client: Client) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api"},
        "spec": {"ports": [{"port": 80}]},
    }
    created = (await client.post(SERVICES, service)).body
    ip = created["spec"]["clusterIP"]
    assert created["spec"]["clusterIPs"] == [ip]
    replaced = await client.put(
        f"{SERVICES}/api",
        {**service, "metadata": {**service["metadata"], "labels": {"x": "y"}}},
    )
    assert replaced.status == 200  # left out: kept, as the registry patches allocated values
    assert replaced.body["spec"]["clusterIP"] == ip
    assert replaced.body["spec"]["clusterIPs"] == [ip]
    moved = await client.patch(f"{SERVICES}/api", {"spec": {"clusterIP": "10.96.200.200"}}, MERGE)
    assert moved.body["message"] == (
        'Service "api" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.200.200"]: '
        "may not change once set"
    )
    assert causes(moved)[0]["field"] == "spec.clusterIPs[0]"
    both = {"spec": {"clusterIP": "10.96.200.200", "clusterIPs": ["10.96.200.200"]}}
    assert causes(await client.patch(f"{SERVICES}/api", both, MERGE))[0]["field"] == (
        "spec.clusterIPs[0]"
    )


async def test_secret_type_and_immutable_secrets(client: Client) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sealed"},
        "immutable": True,
        "stringData": {"token": "a"},
    }
    await client.post(SECRETS, secret)
    changed = await client.put(f"{SECRETS}/sealed", {**secret, "stringData": {"token": "b"}})
    assert causes(changed) == [
        {"reason": "FieldValueForbidden", "message": WHEN_SET, "field": "data"}
    ]
    unset = await client.patch(f"{SECRETS}/sealed", {"immutable": False}, MERGE)
    assert unset.body["message"] == (
        'Secret "sealed" is invalid: immutable: Forbidden: field is immutable when `immutable` '
        "is set"
    )
    retyped = await client.patch(f"{SECRETS}/sealed", {"type": "kubernetes.io/tls"}, MERGE)
    assert causes(retyped) == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "kubernetes.io/tls": field is immutable',
            "field": "type",
        }
    ]
    labelled = await client.patch(f"{SECRETS}/sealed", {"metadata": {"labels": {"a": "b"}}}, MERGE)
    assert labelled.status == 200


async def test_immutable_configmaps(run: Run, client: Client) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "frozen"},
        "immutable": True,
        "data": {"a": "1"},
    }
    (await run("kubectl", "apply", "-f", "-", stdin=json.dumps(manifest))).check()
    changed = {**manifest, "data": {"a": "2"}, "binaryData": {"b": "AA=="}, "immutable": None}
    refused = await run("kubectl", "replace", "-f", "-", stdin=json.dumps(changed))
    assert refused.code != 0
    assert 'The ConfigMap "frozen" is invalid: ' in refused.stderr
    reply = await client.put(f"{CONFIGMAPS}/frozen", {**changed, "immutable": False})
    assert causes(reply) == [
        {"reason": "FieldValueForbidden", "message": WHEN_SET, "field": "immutable"},
        {"reason": "FieldValueForbidden", "message": WHEN_SET, "field": "data"},
        {"reason": "FieldValueForbidden", "message": WHEN_SET, "field": "binaryData"},
    ]
    assert reply.body["message"] == (
        f'ConfigMap "frozen" is invalid: [immutable: {WHEN_SET}, data: {WHEN_SET}, '
        f"binaryData: {WHEN_SET}]"
    )


async def test_status_writes_are_not_checked(client: Client) -> None:
    await client.post(f"{NS}/deployments", workload("Deployment", "web"))
    status = {"status": {"replicas": 1}, "spec": {"selector": {"matchLabels": {"app": "x"}}}}
    reply = await client.patch(f"{NS}/deployments/web/status", status, MERGE)
    assert reply.status == 200
    assert reply.body["spec"]["selector"] == {"matchLabels": {"app": "web"}}
