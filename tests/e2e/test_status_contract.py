"""The status as helm-operator users' scripts read it, and as kstatus reads it, at each step.

Scripts written for the Flux Helm Operator read ``status.releaseStatus``,
``status.conditions[?(@.type=="Released")].status``, ``status.revision`` (the chart
version deployed) and ``status.observedGeneration`` with ``kubectl get -o jsonpath``; the
values here are helm-operator's after an install, an upgrade, a failed upgrade and a
failed chart fetch. Beside them, kstatus' rules (``kubectl wait``, Flux and Argo CD health
checks) read the same statuses as InProgress, Failed or Current.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2etesting import Env, current

pytestmark = pytest.mark.e2e

SCRIPTED = {
    "releaseStatus": "{.status.releaseStatus}",
    "released": '{.status.conditions[?(@.type=="Released")].status}',
    "revision": "{.status.revision}",
    "observedGeneration": "{.status.observedGeneration}",
    "phase": "{.status.phase}",
}


async def read_as_scripts_do(env: Env, namespace: str, name: str) -> dict[str, str]:
    """Each field as ``kubectl get hr NAME -o jsonpath=...`` prints it."""
    return {
        field: (
            await env.kubectl("get", "hr", name, "-n", namespace, "-o", f"jsonpath={path}")
        ).stdout
        for field, path in SCRIPTED.items()
    }


def kstatus(hr: dict[str, Any]) -> str:
    """kstatus' rules for a resource with conditions."""
    status = hr.get("status") or {}
    if status.get("observedGeneration") != hr["metadata"]["generation"]:
        return "InProgress"
    if current(hr, "Reconciling").get("status") == "True":
        return "InProgress"
    if current(hr, "Stalled").get("status") == "True":
        return "Failed"
    return "Current"


async def test_each_step_reads_as_helm_operator_wrote_it(env: Env, namespace: str) -> None:
    await env.apply(env.helmrelease(namespace, "app"))
    installed = await env.wait_ready(namespace, "app", revision=1)
    assert kstatus(installed) == "Current"
    assert await read_as_scripts_do(env, namespace, "app") == {
        "releaseStatus": "deployed",
        "released": "True",
        "revision": "6.7.1",
        "observedGeneration": "1",
        "phase": "Succeeded",
    }

    await env.apply(env.helmrelease(namespace, "app", version="6.11.2"))
    upgraded = await env.wait_ready(namespace, "app", revision=2)
    assert kstatus(upgraded) == "Current"
    assert await read_as_scripts_do(env, namespace, "app") == {
        "releaseStatus": "deployed",
        "released": "True",
        "revision": "6.11.2",
        "observedGeneration": "2",
        "phase": "Succeeded",
    }

    # values that cannot render: helm fails before it makes a revision
    broken = env.helmrelease(namespace, "app", version="6.11.2", values={"service": "broken"})
    await env.apply(broken)
    failed = await env.wait_hr(
        namespace, "app", lambda hr: current(hr, "Stalled").get("status") == "True", what="failed"
    )
    assert kstatus(failed) == "Failed"  # not tried again until the spec changes
    assert current(failed)["reason"] == "RetriesExceeded"
    assert await read_as_scripts_do(env, namespace, "app") == {
        "releaseStatus": "deployed",  # as helm says: revision 2 is still the deployed one
        "released": "False",
        "revision": "6.11.2",  # the chart version deployed
        "observedGeneration": "3",
        "phase": "DeployFailed",
    }

    # a version the repository does not have (yet): retried
    await env.apply(env.helmrelease(namespace, "app", version="99.0.0"))
    missing = await env.wait_hr(
        namespace,
        "app",
        lambda hr: current(hr, "ChartFetched").get("status") == "False",
        what="chart fetch failed",
    )
    assert kstatus(missing) == "InProgress"
    assert await read_as_scripts_do(env, namespace, "app") == {
        "releaseStatus": "deployed",
        "released": "False",
        "revision": "6.11.2",
        "observedGeneration": "4",
        "phase": "ChartFetchFailed",
    }

    # a constraint that can never match: only a spec change helps
    await env.apply(env.helmrelease(namespace, "app", version="not a version"))
    stalled = await env.wait_hr(
        namespace, "app", lambda hr: current(hr, "Stalled").get("status") == "True", what="stalled"
    )
    assert kstatus(stalled) == "Failed"
    assert current(stalled)["status"] == "False"
    assert stalled["status"]["phase"] == "ChartFetchFailed"

    await env.apply(env.helmrelease(namespace, "app", version="6.11.2"))
    recovered = await env.wait_hr(
        namespace, "app", lambda hr: current(hr).get("status") == "True", what="Ready again"
    )
    assert kstatus(recovered) == "Current"
    assert recovered["status"]["lastReleaseRevision"] == 2  # nothing new to apply: no upgrade
