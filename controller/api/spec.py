"""The internal, version-independent description of one HelmRelease.

Every served API version parses its raw body into these frozen dataclasses (or a
``SpecError``); nothing downstream looks at raw HelmRelease bodies' ``spec``.
"""

from __future__ import annotations

import enum
import hashlib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from controller.keys import ReleaseKey

FINALIZER = "helmreleases.flux.weave.works/finalizer"
"""Keeps a deleted HelmRelease around until its Helm release is uninstalled."""

OWNER_NAMESPACE_LABEL = "helmreleases.flux.weave.works/owner-namespace"
OWNER_NAME_LABEL = "helmreleases.flux.weave.works/owner-name"
OWNER_GROUP_LABEL = "helmreleases.flux.weave.works/owner-group"
DIGEST_LABEL = "helmreleases.flux.weave.works/digest"
"""Labels written on the Helm release record: who owns it and what was applied."""

REQUESTED_AT_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
"""helm-controller's request for a reconcile: a new value retries a spec that failed."""
FORCE_AT_ANNOTATION = "reconcile.fluxcd.io/forceAt"
"""helm-controller's request for an upgrade: a new value upgrades the release, in sync or
not (helm runs once more with the same chart and values)."""

LEGACY_GROUP = "flux.weave.works"
"""The first API group served: its releases carry no owner-group label (they predate it)."""


@dataclass(frozen=True)
class ServedApi:
    """One HelmRelease API the operator serves (every one has kind HelmRelease)."""

    group: str
    version: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


MAX_RELEASE_NAME = 53  # helm's own limit (the name ends up in Secret names and labels)
MAX_NAMESPACE = 63
MAX_LABEL_VALUE = 63
DIGEST_LABEL_LENGTH = 32

# A DNS-1123 label (the CRD's pattern for releaseName and targetNamespace); the
# default release name is built from one and so is one too.
DNS_LABEL_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


# helm's own rule for release names: DNS labels joined by dots.
RELEASE_NAME_PATTERN = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)


def is_dns_label(text: str, limit: int) -> bool:
    """Whether ``text`` is a DNS-1123 label of at most ``limit`` characters."""
    return len(text) <= limit and DNS_LABEL_PATTERN.fullmatch(text) is not None


def is_release_name(text: str) -> bool:
    """Whether helm accepts ``text`` as a release name."""
    return len(text) <= MAX_RELEASE_NAME and RELEASE_NAME_PATTERN.fullmatch(text) is not None


@dataclass(frozen=True)
class ChartSpec:
    """A chart in a Helm repository."""

    repository: str
    name: str
    version: str
    pull_secret: str | None = None
    """Name of a Secret in the HelmRelease's namespace holding repository credentials."""


@dataclass(frozen=True)
class GitChartSpec:
    """A chart in a directory of a git repository (helm-operator's git chart source)."""

    url: str
    """https://, http://, ssh:// or scp-like ``user@host:path``; never with credentials."""
    path: str
    """The chart's directory, relative to the repository's root."""
    ref: str | None = None
    """Branch, tag or commit; None: the operator's default (``--git-default-ref``)."""
    secret: str | None = None
    """Name of a Secret holding the credentials."""
    secret_namespace: str | None = None
    """The Secret's namespace; None: the HelmRelease's."""
    skip_dep_update: bool = False
    """Release the chart's ``charts/`` as committed, without building its dependencies."""


def _option(default: Any, spec_field: str) -> Any:
    """A release option: its default and the name of the spec field that sets it."""
    return field(default=default, metadata={"spec": spec_field})


@dataclass(frozen=True)
class ReleaseOptions:
    """How helm applies the chart and values: the one list of release options.

    Every field changes what helm does, so every field is part of the desired-state
    digest (``reconcile.state.desired_digest``, keyed by its spec field name, so a
    change of any of them upgrades the release) and becomes helm flags
    (``helm.upgrade_flags``, which has an entry for each). A new option is a new field
    here, and cannot be forgotten in either place.
    """

    timeout: float = _option(300.0, "timeout")
    """helm's --timeout in seconds, and how long a pending release is waited for."""
    wait: bool = _option(False, "wait")
    reset_values: bool = _option(True, "resetValues")
    """False only when the spec says ``resetValues: false``: then helm reuses the values of
    the release for what the spec does not set. Otherwise the declared values are all."""
    force: bool = _option(False, "forceUpgrade")
    skip_crds: bool = _option(False, "skipCRDs")
    max_history: int = _option(10, "maxHistory")
    disable_openapi_validation: bool = _option(False, "disableOpenAPIValidation")
    create_namespace: bool = _option(False, "install.createNamespace")
    """Extension (helm-controller's): helm creates the target namespace if it is missing."""
    post_renderers: tuple[Mapping[str, Any], ...] = _option((), "postRenderers")
    """Extension (helm-controller's): kustomize post-renderers applied in order to what
    helm renders; each ``{"kustomize": {"patches": [...], "images": [...]}}``, validated
    and holding only the fields kustomize is given (plain JSON data)."""

    def by_spec_field(self) -> dict[str, Any]:
        """The options that differ from their defaults, keyed by the spec fields that set
        them: an option added later changes nothing for releases that do not use it."""
        return {
            item.metadata["spec"]: getattr(self, item.name)
            for item in fields(self)
            if getattr(self, item.name) != item.default
        }


@dataclass(frozen=True)
class RollbackPolicy:
    """``spec.rollback``: what happens when an upgrade (or its tests) fails."""

    enable: bool = False
    retry: bool = False
    """After a rollback, upgrade again (the same spec) up to ``max_retries`` times."""
    max_retries: int = 5
    """0: retry forever."""
    force: bool = False
    recreate: bool = False
    """Restart the Pods (helm 3's ``--recreate-pods``; helm 4 has no such flag)."""
    disable_hooks: bool = False
    timeout: float = 300.0
    wait: bool = False

    def may_retry(self, rollbacks: int) -> bool:
        """Whether the upgrade is tried again after ``rollbacks`` rollbacks of it, as
        helm-operator counted them (``maxRetries: 1`` stops at the second rollback)."""
        return self.retry and (self.max_retries == 0 or rollbacks <= self.max_retries)


@dataclass(frozen=True)
class TestPolicy:
    """``spec.test``: ``helm test`` after every successful install or upgrade."""

    __test__ = False  # not a pytest test class, whatever its name says

    enable: bool = False
    ignore_failures: bool = False
    """A failed test leaves the release as it is (Tested=False), instead of remediating."""
    timeout: float = 300.0
    cleanup: bool = True
    """helm 2's ``--cleanup``; helm 3 and 4 leave it to the tests' hook delete policies."""


class DriftMode(enum.Enum):
    """``spec.driftDetection.mode``: what is done about live objects that differ from the
    release's manifest."""

    DISABLED = "disabled"
    WARN = "warn"
    """Report them (condition Drifted, an Event), change nothing."""
    ENABLED = "enabled"
    """Report them and set them back (deleted objects are created again)."""


@dataclass(frozen=True)
class DriftTarget:
    """Which objects an ignore rule applies to: every field set must match (the names
    are regular expressions matched whole, the selectors label selectors)."""

    group: str | None = None
    version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None


@dataclass(frozen=True)
class DriftIgnoreRule:
    """Fields (JSON pointers; ``""`` is the whole object) left out of drift detection."""

    paths: tuple[str, ...]
    target: DriftTarget | None = None
    """None: every object of the release."""


@dataclass(frozen=True)
class DriftPolicy:
    """Extension (helm-controller's ``spec.driftDetection``)."""

    mode: DriftMode = DriftMode.DISABLED
    ignore: tuple[DriftIgnoreRule, ...] = ()


class SourceKind(enum.Enum):
    """Where a ``spec.valuesFrom`` entry takes values from."""

    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"
    URL = "URL"
    CHART_FILE = "ChartFile"


DEFAULT_VALUES_KEY = "values.yaml"


@dataclass(frozen=True, repr=False)
class ValuesSource:
    """One entry of ``spec.valuesFrom`` (or of v1beta1's ``valueFileSecrets``)."""

    field: str
    """The spec field that declares it, e.g. ``spec.valuesFrom[1]``: what messages name."""
    kind: SourceKind
    name: str
    """The ConfigMap's or Secret's name, the URL, or the path inside the chart."""
    namespace: str | None = None
    """ConfigMap and Secret: their namespace (the HelmRelease's when it is not given)."""
    key: str = DEFAULT_VALUES_KEY
    """ConfigMap and Secret: the key holding a YAML document of values."""
    optional: bool = False
    """A missing source is skipped (with a note) instead of stopping the release."""
    target_path: str | None = None
    """Extension (helm-controller's): the source's content, as one value, at this dotted
    path, instead of a YAML mapping merged at the top."""

    def __str__(self) -> str:
        """How messages name it: never its content, nor a URL's credentials or query."""
        name = shown_url(self.name) if self.kind is SourceKind.URL else self.name
        where = f"{self.namespace}/{name}" if self.namespace else name
        key = f" key {self.key}" if self.kind in (SourceKind.CONFIG_MAP, SourceKind.SECRET) else ""
        return f"{self.field} ({self.kind.value} {where}{key})"

    __repr__ = __str__


def shown_url(url: str) -> str:
    """``url`` without userinfo, query and fragment (they may carry credentials)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class ReleaseSpec:
    """What one HelmRelease asks for, defaults applied."""

    group: str
    """API group of the HelmRelease itself."""
    namespace: str
    """Namespace of the HelmRelease itself."""
    name: str
    """Name of the HelmRelease itself."""
    release_name: str
    target_namespace: str
    chart: ChartSpec | GitChartSpec
    values: Mapping[str, Any] = field(repr=False)  # never printed: values may hold secrets
    options: ReleaseOptions = ReleaseOptions()
    values_from: tuple[ValuesSource, ...] = ()
    """Sources merged in order under ``values`` (``spec.values`` wins)."""
    rollback: RollbackPolicy = RollbackPolicy()
    test: TestPolicy = TestPolicy()
    suspend: bool = False
    """Extension (helm-controller's): leave the release alone (no helm) while true."""
    depends_on: tuple[tuple[str, str], ...] = ()
    """Extension (helm-controller's): (namespace, name) of the HelmReleases of the same API
    group that must be Ready before this one is released."""
    interval: float | None = None
    """Extension (helm-controller's): seconds between reconciles of this HelmRelease when
    nothing changes; None: the operator's resync interval."""
    requested_at: str | None = None
    """The ``reconcile.fluxcd.io/requestedAt`` annotation: a new value is a request to try
    again a spec whose install, upgrade or tests failed."""
    force_at: str | None = None
    """The ``reconcile.fluxcd.io/forceAt`` annotation: a new value is a request to upgrade."""
    service_account_name: str | None = None
    """Extension (helm-controller's): helm runs as this ServiceAccount of the HelmRelease's
    namespace (impersonated); None: the operator's ``--default-service-account``, if any,
    else the operator's own identity."""
    drift: DriftPolicy = DriftPolicy()

    @property
    def release(self) -> ReleaseKey:
        return ReleaseKey(self.target_namespace, self.release_name)


INVALID = "InvalidSpec"
NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True)
class SpecError:
    """A HelmRelease that cannot be acted on, and why (names the field, never shows values).

    ``reason``: ``INVALID`` for a spec that is wrong, ``NOT_SUPPORTED`` for a valid one
    asking for a feature this operator does not have.
    """

    field: str
    message: str
    reason: str = INVALID

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


SHORTENED_PATTERN = re.compile(r".+-[0-9a-f]{12}")
"""What ``shorten`` makes of a name it had to cut: a prefix, a dash and 12 hex digits."""


def shorten(name: str, limit: int, keep: int) -> str:
    """``name`` if it fits in ``limit``, else its first ``keep`` chars + ``-`` + 12 hex of sha256.

    Deterministic, so the same long name always maps to the same short one; the kept
    prefix never ends in a separator, so the result never holds ``--`` or ``.-``.
    """
    if len(name) <= limit:
        return name
    suffix = hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{name[:keep].rstrip('-.')}-{suffix}"


def may_be_shortened(value: str) -> bool:
    """Whether ``value`` has the form ``shorten`` gives a name it had to cut."""
    return SHORTENED_PATTERN.fullmatch(value) is not None


def default_release_name(*parts: str) -> str:
    """The parts joined by ``-``, shortened to helm's limit as helm-controller does."""
    return shorten("-".join(parts), MAX_RELEASE_NAME, 40)


def label_value(value: str) -> str:
    """A label value for ``value``: itself up to 63 chars, else ``<first 50>-<hash12>``."""
    return shorten(value, MAX_LABEL_VALUE, 50)


def owner_labels(group: str, namespace: str, name: str) -> dict[str, str]:
    """The labels that mark a Helm release as belonging to HelmRelease ``namespace/name`` of
    API group ``group`` (no group label for the legacy group: its releases predate it)."""
    labels = {OWNER_NAMESPACE_LABEL: label_value(namespace), OWNER_NAME_LABEL: label_value(name)}
    if group != LEGACY_GROUP:
        labels[OWNER_GROUP_LABEL] = group
    return labels


def owned_by(labels: Mapping[str, str], group: str, namespace: str, name: str) -> bool:
    """Whether a release's ``labels`` are exactly the owner labels of that HelmRelease."""
    ours = owner_labels(group, namespace, name)
    return labels.get(OWNER_GROUP_LABEL) == ours.get(OWNER_GROUP_LABEL) and all(
        labels.get(key) == value for key, value in ours.items()
    )


def owner_group(labels: Mapping[str, str]) -> str:
    """The API group of the HelmRelease a release's owner labels name."""
    return labels.get(OWNER_GROUP_LABEL) or LEGACY_GROUP
