"""/metrics of a running operator, read as plain text after it installed one release.

Every metric family the operator promises is exposed under the ``helmrelease_`` prefix
with its Prometheus type (counters, gauges, histograms, the build info), and the
samples of one install are there: the reconcile by result and action with its duration
buckets from 5 ms to 30 min, the queue (its wait by lane: the HelmRelease first seen is
bulk work; the intent lane's series exists from the start), the helm processes, the
chart download, the watch events, the release's Ready gauge and reconcile time, and the
versions in the build info.
"""

from __future__ import annotations

import time

from metricstesting import apply_podinfo

from apiserver import ApiServer
from controller import __version__
from testkit import OperatorProcess, Scrape, wait_for

FAMILIES = {
    "helmrelease_reconcile_total": "counter",
    "helmrelease_reconcile_duration_seconds": "histogram",
    "helmrelease_drift_checks_total": "counter",
    "helmrelease_queue_depth": "gauge",
    "helmrelease_queue_adds_total": "counter",
    "helmrelease_queue_wait_seconds": "histogram",
    "helmrelease_queue_retries_total": "counter",
    "helmrelease_workers_busy": "gauge",
    "helmrelease_helm_duration_seconds": "histogram",
    "helmrelease_helm_processes_started_total": "counter",
    "helmrelease_chart_fetch_duration_seconds": "histogram",
    "helmrelease_chart_cache_hits_total": "counter",
    "helmrelease_chart_cache_misses_total": "counter",
    "helmrelease_chart_download_bytes_total": "counter",
    "helmrelease_repository_index_revalidations_total": "counter",
    "helmrelease_watch_events_total": "counter",
    "helmrelease_watch_restarts_total": "counter",
    "helmrelease_watch_last_event_timestamp_seconds": "gauge",
    "helmrelease_release_ready": "gauge",
    "helmrelease_release_last_reconcile_timestamp_seconds": "gauge",
    "helmrelease_leader": "gauge",
    "helmrelease_build_info": "gauge",
}
HELM_OPERATOR_FAMILIES = {
    "flux_helm_operator_release_count": "gauge",
    "flux_helm_operator_release_queue_length_count": "gauge",
    "flux_helm_operator_release_action_duration_seconds": "histogram",
    "flux_helm_operator_release_condition_info": "gauge",
}
"""The Flux Helm Operator's families, named and labelled as it exposed them."""
INSTALLED = {"result": "success", "action": "install"}
RELEASE = {"namespace": "default", "name": "podinfo"}


async def test_every_metric_family_is_exposed_after_one_install(
    apiserver: ApiServer, operator: OperatorProcess, helm_env: dict[str, str], chart_repo: str
) -> None:
    started = time.time()
    await apply_podinfo(apiserver, helm_env, chart_repo, replicas=1, generation=1)

    async def installed() -> Scrape | None:
        page = await operator.metrics()
        return page if page.value("helmrelease_reconcile_total", **INSTALLED) else None

    page = await wait_for(installed, what="the install to be counted")
    await operator.stop()  # cleanly, on SIGTERM

    # prometheus_client adds a *_created gauge next to each counter and histogram.
    own = {
        name: kind
        for name, kind in page.types.items()
        if name.startswith("helmrelease_") and not name.endswith("_created")
    }
    assert own == FAMILIES
    theirs = {name: kind for name, kind in page.types.items() if name.startswith("flux_")}
    assert theirs == HELM_OPERATOR_FAMILIES
    assert_helm_operator_samples(page)

    duration = "helmrelease_reconcile_duration_seconds"
    assert page.value(f"{duration}_count", action="install") == 1
    assert page.value(f"{duration}_bucket", action="install", le="0.005") is not None
    assert page.value(f"{duration}_bucket", action="install", le="1800.0") == 1
    assert page.value(f"{duration}_bucket", action="install", le="+Inf") == 1

    for counter in ("helmrelease_queue_adds_total", "helmrelease_queue_wait_seconds_count"):
        assert (page.value(counter) or 0) >= 1, counter
    wait = "helmrelease_queue_wait_seconds"
    assert (page.value(f"{wait}_count", lane="bulk") or 0) >= 1
    assert page.value(f"{wait}_count", lane="intent") is not None
    assert page.value(f"{wait}_bucket", lane="intent", le="+Inf") is not None
    lanes = {s.labels.get("lane") for s in page.samples if s.name.startswith(wait)}
    assert lanes == {"intent", "bulk"}
    assert page.value("helmrelease_queue_depth") is not None
    assert page.value("helmrelease_workers_busy") is not None
    # An install runs as `helm upgrade --install`.
    helm_runs = page.value(
        "helmrelease_helm_duration_seconds_count", command="upgrade", result="ok"
    )
    assert (page.value("helmrelease_helm_processes_started_total", command="upgrade") or 0) >= 1
    assert (helm_runs or 0) >= 1
    assert page.value("helmrelease_chart_cache_misses_total") == 1
    assert (page.value("helmrelease_chart_download_bytes_total") or 0) > 0
    assert (page.value("helmrelease_chart_fetch_duration_seconds_count") or 0) >= 1
    assert (page.value("helmrelease_watch_events_total", type="ADDED") or 0) >= 1
    assert (page.value("helmrelease_watch_last_event_timestamp_seconds") or 0) >= started
    assert page.value("helmrelease_release_ready", **RELEASE) == 1
    assert (page.value("helmrelease_release_last_reconcile_timestamp_seconds", **RELEASE) or 0) >= (
        started
    )
    build = next(s for s in page.samples if s.name == "helmrelease_build_info")
    assert build.labels["version"] == __version__
    assert build.labels["helm_version"].startswith("v4.")
    assert build.value == 1


def assert_helm_operator_samples(page: Scrape) -> None:
    """What helm-operator's dashboards and alerts read, after one install."""
    release = {"target_namespace": "default", "release_name": "default-podinfo"}
    assert page.value("flux_helm_operator_release_count") == 1
    assert page.value("flux_helm_operator_release_queue_length_count") is not None
    action = "flux_helm_operator_release_action_duration_seconds"
    assert page.value(f"{action}_count", action="install", success="true", **release) == 1
    assert (
        page.value(f"{action}_bucket", action="install", success="true", le="+Inf", **release) == 1
    )
    assert (page.value(f"{action}_count", action="sync", success="true", **release) or 0) >= 1
    info = "flux_helm_operator_release_condition_info"
    for condition in ("ChartFetched", "Deployed", "Released"):
        assert page.value(info, condition=condition, **release) == 1, condition
    assert page.value(info, condition="RolledBack", **release) is None
