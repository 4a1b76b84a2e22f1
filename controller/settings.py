"""Typed settings of the operator: one frozen dataclass per stage, a docstring per field.

Every field can be set by a command-line flag (``--chart-cache-dir``) or by the
matching environment variable (``HELMRELEASE_CHART_CACHE_DIR``); the flag wins.
``__main__`` builds these from argv and the environment (helm-operator's flag names
too); every other module only reads them. ``docs/flags.md`` lists them all.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

SECONDS = "seconds"
Seconds = Annotated[float, SECONDS]
"""A duration in seconds; on the command line a number (``90``) or a Go duration (``90s``,
``1h30m``, ``500ms``), as helm-operator's flags took them."""


@dataclass(frozen=True)
class KubeSettings:
    kubeconfig: str | None = None
    """Path of a kubeconfig file; in-cluster service-account credentials when unset."""

    context: str | None = None
    """kubeconfig context to use; the current context when unset."""

    request_timeout: Seconds = 30.0
    """Seconds a single non-watch API request may take."""


@dataclass(frozen=True)
class WatchSettings:
    namespace: str | None = None
    """Watch HelmReleases in this namespace only; all namespaces when unset."""

    label_selector: str | None = None
    """Only HelmReleases matching this label selector (sharding)."""

    watch_timeout: int = 300
    """timeoutSeconds asked of the server for one watch request."""

    inactivity_timeout: Seconds = 360.0
    """Reconnect when a watch stream is silent this long (bookmarks count as traffic)."""

    backoff_initial: Seconds = 0.5
    """First reconnect delay after a watch error, in seconds (jittered, doubling)."""

    backoff_max: Seconds = 30.0
    """Longest reconnect delay after repeated watch errors, in seconds."""


@dataclass(frozen=True)
class QueueSettings:
    workers: int = 4
    """Number of releases reconciled at the same time."""

    retry_initial: Seconds = 1.0
    """Delay before the first retry of a failed release, in seconds."""

    retry_max: Seconds = 300.0
    """Longest delay between retries of a failing release, in seconds."""

    resync_interval: Seconds = 600.0
    """Every release is reconciled again this often (jittered), in seconds."""

    resync_jitter: float = 0.1
    """Fraction of the resync interval added at random, spreading resyncs out."""

    shutdown_grace: Seconds = 60.0
    """Seconds in-flight reconciles may take to finish on shutdown before they are cancelled."""

    intent_share: int = 4
    """Picks in a row the intent lane may take while bulk work waits too: changes of intent
    (a spec, a values source, a release rewritten by someone else) go ahead of bulk work
    (first sights, resyncs, retries), which still gets one of every intent_share + 1
    picks; 0 puts every key in one FIFO lane."""


@dataclass(frozen=True)
class ChartSettings:
    cache_dir: Path | None = None
    """Directory of the content-addressed chart cache; under the system temp dir when unset."""

    cache_max_bytes: int = 1 << 30
    """Size bound of the chart cache; least recently used charts are evicted beyond it."""

    repo_refresh_interval: Seconds = 300.0
    """Seconds between revalidations of a repository index (sooner when a chart is missing)."""

    max_chart_size: int = 50 << 20
    """Largest chart tarball accepted, in bytes."""

    max_index_size: int = 100 << 20
    """Largest repository index.yaml accepted, in bytes."""

    connect_timeout: Seconds = 10.0
    """Seconds to connect to a chart repository."""

    read_timeout: Seconds = 60.0
    """Seconds a chart repository may stay silent during a response."""

    retries: int = 3
    """Retries (with backoff) of a repository request that failed with 5xx or a connection error."""

    fetch_timeout: Seconds = 120.0
    """Seconds one chart fetch may take in all (index and tarball, retries included)."""

    fetch_wait: Seconds = 5.0
    """Seconds a reconcile waits for a chart fetch before it lets its worker go (the fetch
    goes on; the HelmRelease says it waits for its repository and looks again soon)."""

    oci_plain_http: tuple[str, ...] = ()
    """OCI registries (``host:port``, comma-separated) spoken to over plain HTTP; every
    other registry is HTTPS, verified."""


@dataclass(frozen=True)
class SourceSettings:
    timeout: Seconds = 30.0
    """Seconds reading one source of values may take: a ConfigMap or Secret, a URL's whole
    answer, a file of the chart."""

    max_size: int = 4 << 20
    """Largest values document accepted from one source (a key, a URL's answer, a chart
    file), in bytes."""

    cross_namespace_refs: bool = True
    """valuesFrom may name ConfigMaps and Secrets of other namespaces than the
    HelmRelease's (as helm-operator allowed); false refuses them."""

    url_cache_max_bytes: int = 16 << 20
    """Bytes of URL answers kept in memory to revalidate them (ETag, Last-Modified); the
    least recently used are dropped beyond it."""


@dataclass(frozen=True)
class GitSettings:
    timeout: Seconds = 20.0
    """Git chart sources: seconds a git operation may take."""

    poll_interval: Seconds = 300.0
    """Git chart sources: seconds between polls of a git repository."""

    update_chart_deps: bool = True
    """Git chart sources: update a chart's dependencies before releasing it."""

    default_ref: str = "master"
    """Git chart sources: the ref of a git chart source that names none."""


@dataclass(frozen=True)
class HelmSettings:
    helm_bin: str = "helm"
    """The helm binary, looked up in PATH unless a path (helm 4 or helm 3)."""

    kill_grace: Seconds = 5.0
    """Seconds between SIGTERM and SIGKILL when a helm process must stop."""

    deadline_margin: Seconds = 30.0
    """Seconds our own deadline adds to helm's --timeout before helm is stopped."""

    dependency_timeout: Seconds = 120.0
    """Seconds ``helm dependency build`` of a chart from git may take."""

    output_limit: int = 1 << 20
    """Bytes of helm's stderr (its tail) and version output kept; the rest is dropped."""

    work_dir: Path | None = None
    """Parent of helm's private home (and of post-renderer files); the temp dir when unset."""

    kubectl_bin: str = "kubectl"
    """The kubectl binary whose built-in kustomize applies ``spec.postRenderers``, looked up
    in PATH unless a path."""

    default_service_account: str | None = None
    """helm runs as this ServiceAccount of a HelmRelease's own namespace when the HelmRelease
    names none (``spec.serviceAccountName``); as the operator itself when unset."""


@dataclass(frozen=True)
class LeaderSettings:
    enabled: bool = False
    """Run workers only while holding the Lease (on by default in-cluster)."""

    lease_name: str = "helmrelease-operator"
    """Name of the coordination.k8s.io Lease."""

    lease_namespace: str = "helmrelease-operator"
    """Namespace of the Lease."""

    identity: str = ""
    """Holder identity; hostname + pid when empty."""

    lease_duration: Seconds = 15.0
    """Seconds a lease is valid without renewal."""

    renew_deadline: Seconds = 8.0
    """A leader that could not renew within this many seconds stops leading."""

    retry_period: Seconds = 2.0
    """Seconds between acquire/renew attempts."""


@dataclass(frozen=True)
class HttpSettings:
    listen: str = "0.0.0.0:8080"
    """HOST:PORT of /metrics, /healthz and /readyz; :PORT listens on every interface."""


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    """Log level: DEBUG, INFO, WARNING, ERROR."""

    format: str = "text"
    """"text" for people ("fmt" is read as "text"), "json" for machines."""

    release_diffs: bool = False
    """On an upgrade, log which value paths changed (the paths only, never a value)."""


@dataclass(frozen=True)
class Settings:
    kube: KubeSettings = field(default_factory=KubeSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    charts: ChartSettings = field(default_factory=ChartSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)
    git: GitSettings = field(default_factory=GitSettings)
    helm: HelmSettings = field(default_factory=HelmSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    log: LogSettings = field(default_factory=LogSettings)


def describe(settings: Settings) -> dict[str, Any]:
    """Settings as a plain dict for the startup log (nothing here is secret)."""
    return {
        section.name: {
            key: str(value) if isinstance(value, Path) else value
            for key, value in dataclasses.asdict(getattr(settings, section.name)).items()
        }
        for section in dataclasses.fields(settings)
    }


CHILD_ENVIRONMENT = (
    "PATH",
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
"""Variables of the operator's environment its child processes (helm, git) get, and no
other (no secret of the operator's leaks into them): PATH for exec credential plugins and
ssh, in-cluster discovery of the API server, and proxies."""


def child_environment() -> dict[str, str]:
    """The part of the operator's environment a helm or git process starts with."""
    return {name: os.environ[name] for name in CHILD_ENVIRONMENT if name in os.environ}
