"""What kubectl shows of a release on a cluster: the operator's Events and a scaled Deployment.

The operator posts events.k8s.io/v1 Events about each HelmRelease; a cluster serves them as
core/v1 Events too, so ``kubectl describe hr`` (which lists core/v1 Events by the
HelmRelease's kind, name, namespace and uid) and ``kubectl get events`` show them. A
Deployment the release installed scales with ``kubectl scale`` (the autoscaling/v1 scale
subresource, with a ``--current-replicas`` precondition): its replicas and generation change
and its status follows. Runs against the in-memory API server and, with E2E_KUBECONFIG, a
real cluster, which is how the two are compared.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2etesting import Env

from testkit import wait_for

pytestmark = pytest.mark.e2e

EVENT_HEADER = ["Type", "Reason", "Age", "From", "Message"]


async def test_operator_events_show_in_describe_and_a_released_deployment_scales(
    env: Env, namespace: str
) -> None:
    await env.apply(env.helmrelease(namespace, "app"))
    await env.wait_ready(namespace, "app", revision=1)

    async def described_event() -> list[str] | None:
        described = (await env.kubectl("describe", "hr", "app", "-n", namespace)).stdout
        events = described.partition("\nEvents:\n")[2].splitlines()
        if not events or events[0].split() != EVENT_HEADER:
            return None
        lines = [line.split() for line in events[2:]]
        return next((line for line in lines if line[1:2] == ["InstallSucceeded"]), None)

    line = await wait_for(described_event, what="the install Event in describe", within=60)
    assert line[0] == "Normal"
    assert line[3] == "helmrelease-operator"
    listed = await env.kubectl("get", "events", "-n", namespace, "-o", "wide")
    rows = [row.split() for row in listed.stdout.splitlines()[1:]]
    assert any("InstallSucceeded" in row and "helmrelease/app" in row for row in rows), rows

    deployments = (await env.kubectl("get", "deployments", "-n", namespace, "-o", "json")).json()
    [deployment] = deployments["items"]
    name, generation = deployment["metadata"]["name"], deployment["metadata"]["generation"]
    assert deployment["spec"]["replicas"] == 1
    scaled = await env.kubectl(
        "scale", f"deployment/{name}", "--current-replicas=1", "--replicas=2", "-n", namespace
    )
    assert scaled.stdout.strip() == f"deployment.apps/{name} scaled"

    async def rolled_out() -> dict[str, Any] | None:
        got = await env.kubectl("get", "deployment", name, "-n", namespace, "-o", "json")
        found: dict[str, Any] = got.json()
        status = found.get("status", {})
        done = (
            status.get("observedGeneration") == found["metadata"]["generation"]
            and status.get("readyReplicas") == 2
        )
        return found if done else None

    rolled = await wait_for(rolled_out, what=f"deployment {name} at 2 ready replicas", within=120)
    assert rolled["spec"] == {**deployment["spec"], "replicas": 2}
    assert rolled["metadata"]["generation"] == generation + 1
    table = await env.kubectl("get", "deployment", name, "-n", namespace)
    assert table.stdout.splitlines()[1].split()[:2] == [name, "2/2"]
