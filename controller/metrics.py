"""Prometheus metrics of every stage, defined in one place.

Names carry the ``helmrelease_`` prefix and their unit; labels stay low-cardinality:
only the per-release gauges carry namespace/name, bounded by the number of
HelmReleases. Values and secret data never become label values.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

from controller import releaseseries
from controller.releaseseries import ReleaseSeries

# The *_created series double the series count and no dashboard or alert uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Reconcile durations range from a no-op (milliseconds) to a slow --wait (up to 30 min).
RECONCILE_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1200,
    1800,
)
SHORT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
HELM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)

# --- reconcile --------------------------------------------------------------------------
RECONCILE_TOTAL = Counter(
    "helmrelease_reconcile_total",
    "Reconciles by result (success, error, noop, requeue) and action "
    "(install, upgrade, rollback, uninstall, unlock, adopt, none).",
    ["result", "action"],
)
RECONCILE_DURATION = Histogram(
    "helmrelease_reconcile_duration_seconds",
    "Time one reconcile took, by action.",
    ["action"],
    buckets=RECONCILE_BUCKETS,
)

# --- queue ------------------------------------------------------------------------------
QUEUE_DEPTH = Gauge("helmrelease_queue_depth", "Keys waiting to be picked up by a worker.")
QUEUE_ADDS = Counter("helmrelease_queue_adds_total", "Keys added to the work queue.")
QUEUE_WAIT = Histogram(
    "helmrelease_queue_wait_seconds",
    "Time from a key becoming ready to a worker picking it up, by the lane it waited in "
    "(intent: changes of what a user declared; bulk: first sights, resyncs, retries).",
    ["lane"],
    buckets=SHORT_BUCKETS,
)
QUEUE_LANES = ("intent", "bulk")
for _lane in QUEUE_LANES:
    QUEUE_WAIT.labels(_lane)  # both series from the start: a quiet lane shows 0, not nothing
QUEUE_RETRIES = Counter("helmrelease_queue_retries_total", "Keys requeued with backoff.")
WORKERS_BUSY = Gauge("helmrelease_workers_busy", "Workers reconciling a release right now.")

DRIFT_CHECKS = Counter(
    "helmrelease_drift_checks_total",
    "Drift checks of releases in sync (spec.driftDetection) by result: none, detected "
    "(mode warn), corrected (mode enabled), failed (not compared or not corrected).",
    ["result"],
)

# --- helm -------------------------------------------------------------------------------
HELM_DURATION = Histogram(
    "helmrelease_helm_duration_seconds",
    "Duration of helm processes by command and exit result (ok, error, timeout).",
    ["command", "result"],
    buckets=HELM_BUCKETS,
)
HELM_STARTED = Counter(
    "helmrelease_helm_processes_started_total", "helm processes started, by command.", ["command"]
)

# --- charts -----------------------------------------------------------------------------
CHART_FETCH_DURATION = Histogram(
    "helmrelease_chart_fetch_duration_seconds",
    "Time to resolve and obtain a chart (cache hits included), by result.",
    ["result"],
    buckets=SHORT_BUCKETS,
)
CHART_CACHE_HITS = Counter("helmrelease_chart_cache_hits_total", "Charts served from the cache.")
CHART_CACHE_MISSES = Counter(
    "helmrelease_chart_cache_misses_total", "Charts that had to be downloaded."
)
CHART_BYTES = Counter(
    "helmrelease_chart_download_bytes_total", "Bytes downloaded from chart repositories."
)
INDEX_REVALIDATIONS = Counter(
    "helmrelease_repository_index_revalidations_total",
    "Repository index.yaml revalidations, by result (modified, not_modified, error).",
    ["result"],
)

# --- watch ------------------------------------------------------------------------------
WATCH_EVENTS = Counter(
    "helmrelease_watch_events_total", "Watch events received, by type.", ["type"]
)
WATCH_RESTARTS = Counter(
    "helmrelease_watch_restarts_total",
    "Watch streams restarted, by reason (error, expired, timeout, closed).",
    ["reason"],
)
WATCH_LAST_EVENT = Gauge(
    "helmrelease_watch_last_event_timestamp_seconds",
    "Unix time of the last watch event or bookmark (seconds since = time() - this).",
)

# --- per release ------------------------------------------------------------------------
# helmrelease_release_ready and helmrelease_release_last_reconcile_timestamp_seconds by
# HelmRelease, and helm-operator's release_condition_info and release_action_duration_seconds
# (named, labelled and bucketed as the Flux Helm Operator 1.x exposed them, so that its
# dashboards and alerts keep working after a switch) by helm release: kept apart from
# prometheus_client, as they are many (controller.releaseseries). They are bounded by the
# number of HelmReleases.
RELEASES = ReleaseSeries()

# --- helm-operator's families -----------------------------------------------------------
HELM_OPERATOR_RELEASE_COUNT = Gauge(
    "flux_helm_operator_release_count", "Count of releases managed by the operator."
)
HELM_OPERATOR_QUEUE_LENGTH = Gauge(
    "flux_helm_operator_release_queue_length_count",
    "Count of release jobs waiting in the queue to be processed.",
)


def queue_wait(lane: str, seconds: float) -> None:
    QUEUE_WAIT.labels(lane).observe(seconds)


def queue_depth(depth: int) -> None:
    QUEUE_DEPTH.set(depth)
    HELM_OPERATOR_QUEUE_LENGTH.set(depth)


def exposition(names: Collection[str] | None = None) -> list[releaseseries.Part]:
    """On the event loop: the parts of /metrics, to render one after the other away from
    the loop: the families ``names`` asks for (by family or sample name; all when None)."""
    registry = REGISTRY if names is None else REGISTRY.restricted_registry(list(names))

    def common() -> str:
        return generate_latest(registry).decode()

    return [common, *releaseseries.render(RELEASES.snapshot(), names)]


# --- process ----------------------------------------------------------------------------
LEADER = Gauge("helmrelease_leader", "1 while this replica holds the leader Lease.")
BUILD_INFO = Info("helmrelease_build", "Operator version and helm version.")
