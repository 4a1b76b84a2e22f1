"""A raw HelmRelease body of any served API version -> ``ReleaseSpec | SpecError``.

The served versions share helm-operator's field names and meanings; a ``Dialect`` holds
what differs between them (today: the default release name). A field of the API whose
feature this operator does not have yet is a ``NOT_SUPPORTED`` error naming it, never
silently ignored. Unknown fields are left to the CRD's schema.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.api.extensions import drift_policy, post_renderers, service_account_name
from controller.api.fields import (
    Invalid,
    flag,
    items,
    json_type,
    mapping,
    not_supported,
    required_string,
    string,
    typed,
    values_problem,
)
from controller.api.spec import (
    DEFAULT_VALUES_KEY,
    FORCE_AT_ANNOTATION,
    MAX_NAMESPACE,
    MAX_RELEASE_NAME,
    RELEASE_NAME_PATTERN,
    REQUESTED_AT_ANNOTATION,
    ChartSpec,
    GitChartSpec,
    ReleaseOptions,
    ReleaseSpec,
    RollbackPolicy,
    ServedApi,
    SourceKind,
    SpecError,
    TestPolicy,
    ValuesSource,
    is_dns_label,
)

MAX_TIMEOUT = 24 * 3600
"""Longest spec.timeout: one helm operation, and the time a pending release is waited for."""
DEFAULTS = ReleaseOptions()
ROLLBACK_DEFAULTS = RollbackPolicy()
TEST_DEFAULTS = TestPolicy()


@dataclass(frozen=True)
class Dialect:
    """One served API version and what its parsing does differently."""

    served: ServedApi
    default_release_name: Callable[[str, str, str], str]
    """(namespace, name, target namespace) -> the release name when none is given."""


def parse(obj: Mapping[str, Any], dialect: Dialect) -> ReleaseSpec | SpecError:
    """The ReleaseSpec of a raw HelmRelease body, or the first problem found in it."""
    try:
        return _parse(obj, dialect)
    except Invalid as invalid:
        return invalid.error


def _parse(obj: Mapping[str, Any], dialect: Dialect) -> ReleaseSpec:
    metadata = mapping(obj, "metadata", "metadata", required=True)
    namespace = required_string(metadata, "namespace", "metadata.namespace")
    name = required_string(metadata, "name", "metadata.name")
    spec = mapping(obj, "spec", "spec", required=True)
    _refuse_features_not_built(metadata, spec)
    target_namespace = _target_namespace(spec, namespace)
    rollback, test = _rollback(spec), _test(spec)
    annotations = mapping(metadata, "annotations", "metadata.annotations", required=False)
    requested = annotations.get(REQUESTED_AT_ANNOTATION)
    forced = annotations.get(FORCE_AT_ANNOTATION)
    return ReleaseSpec(
        group=dialect.served.group,
        namespace=namespace,
        name=name,
        release_name=_release_name(
            spec, dialect.default_release_name(namespace, name, target_namespace)
        ),
        target_namespace=target_namespace,
        chart=_chart(spec),
        values=_values(spec),
        options=_options(spec, waits=rollback.enable or test.enable),
        values_from=(*_value_file_secrets(spec), *_values_from(spec)),
        rollback=rollback,
        test=test,
        suspend=bool(flag(spec, "suspend", "spec.suspend")),
        depends_on=depends_on(spec, namespace),
        interval=_interval(spec),
        requested_at=requested if isinstance(requested, str) else None,
        force_at=forced if isinstance(forced, str) else None,
        service_account_name=service_account_name(spec),
        drift=drift_policy(spec),
    )


def _values(spec: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(mapping(spec, "values", "spec.values", required=False))
    if (problem := values_problem(values)) is not None:
        raise Invalid("spec.values", problem)
    return values


VALUES_SOURCE_FIELDS = ("valueFileSecrets", "valuesFrom")
"""The spec fields that name sources of values (v1beta1's legacy list, then valuesFrom)."""

REFS = {
    "configMapKeyRef": SourceKind.CONFIG_MAP,
    "secretKeyRef": SourceKind.SECRET,
    "externalSourceRef": SourceKind.URL,
    "chartFileRef": SourceKind.CHART_FILE,
}


def _value_file_secrets(spec: Mapping[str, Any]) -> list[ValuesSource]:
    """v1beta1's legacy list of Secrets holding a ``values.yaml`` (merged first, as
    helm-operator did)."""
    sources = []
    for index, entry in enumerate(items(spec, "valueFileSecrets", "spec.valueFileSecrets")):
        field = f"spec.valueFileSecrets[{index}]"
        if not isinstance(entry, Mapping):
            raise Invalid(field, f"must be a map, not {json_type(entry)}")
        name = required_string(entry, "name", f"{field}.name")
        sources.append(ValuesSource(field, SourceKind.SECRET, name))
    return sources


def _values_from(spec: Mapping[str, Any]) -> list[ValuesSource]:
    return [
        _values_source(entry, f"spec.valuesFrom[{index}]")
        for index, entry in enumerate(items(spec, "valuesFrom", "spec.valuesFrom"))
    ]


def _values_source(entry: Any, field: str) -> ValuesSource:
    if not isinstance(entry, Mapping):
        raise Invalid(field, f"must be a map, not {json_type(entry)}")
    refs = [key for key in REFS if entry.get(key) is not None]
    if len(refs) != 1:
        raise Invalid(field, f"must hold exactly one of {', '.join(REFS)}")
    [ref] = refs
    kind, where = REFS[ref], f"{field}.{ref}"
    body = mapping(entry, ref, where, required=True)
    target_path = string(entry, "targetPath", f"{field}.targetPath", required=False) or None
    optional = bool(flag(body, "optional", f"{where}.optional"))
    if kind is SourceKind.URL:
        url = required_string(body, "url", f"{where}.url")
        if not url.lower().startswith(("http://", "https://")):
            raise Invalid(f"{where}.url", "must be an http:// or https:// URL")
        return ValuesSource(field, kind, url, optional=optional, target_path=target_path)
    if kind is SourceKind.CHART_FILE:
        path = required_string(body, "path", f"{where}.path")
        return ValuesSource(field, kind, path, optional=optional, target_path=target_path)
    return ValuesSource(
        field,
        kind,
        required_string(body, "name", f"{where}.name"),
        namespace=_source_namespace(body, where),
        key=_values_key(body, where),
        optional=optional,
        target_path=target_path,
    )


def _source_namespace(body: Mapping[str, Any], where: str) -> str | None:
    namespace = string(body, "namespace", f"{where}.namespace", required=False)
    if namespace and not is_dns_label(namespace, MAX_NAMESPACE):
        raise Invalid(f"{where}.namespace", f"{namespace!r} is not a valid namespace name")
    return namespace or None


def _values_key(body: Mapping[str, Any], where: str) -> str:
    """``key`` (helm-operator's name) or ``valuesKey`` (helm-controller's, an extension)."""
    key = string(body, "key", f"{where}.key", required=False)
    values_key = string(body, "valuesKey", f"{where}.valuesKey", required=False)
    if key and values_key and key != values_key:
        raise Invalid(f"{where}.valuesKey", "names another key than key: give one of them")
    return key or values_key or DEFAULT_VALUES_KEY


MIGRATE_ANNOTATION = "helm.fluxcd.io/migrate"
"""helm-operator's request to convert the release from helm 2 to helm 3 first."""


def _refuse_features_not_built(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """Fields of the API whose feature is not built yet: refused by name (all of them at
    once, so that one spec change can deal with them), never ignored."""
    found = [*_not_built(metadata, spec), *_chart_not_built(spec)]
    if found:
        fields, messages = zip(*found, strict=True)
        raise not_supported(", ".join(fields), "; ".join(messages))


def _not_built(metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    found = []
    annotations = mapping(metadata, "annotations", "metadata.annotations", required=False)
    if annotations.get(MIGRATE_ANNOTATION) is not None:
        found.append(
            (
                f"metadata.annotations[{MIGRATE_ANNOTATION}]",
                "converting helm 2 releases is not supported; convert them with helm's "
                "2to3 plugin, then remove the annotation",
            )
        )
    version = string(spec, "helmVersion", "spec.helmVersion", required=False)
    if version == "v2":
        found.append(("spec.helmVersion", "helm 2 is not supported; set v3 or remove it"))
    elif version not in (None, "", "v3"):
        raise Invalid("spec.helmVersion", "must be v3 (or v2, which is not supported)")
    return found


def _chart_not_built(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    chart = mapping(spec, "chart", "spec.chart", required=True)
    if chart.get("git") is not None:
        return []  # a git chart: _git_chart reads it
    repository = string(chart, "repository", "spec.chart.repository", required=False) or ""
    scheme, separator, _ = repository.partition("://")
    scheme = scheme.lower()  # schemes are case-insensitive, as helm reads them
    if not separator or scheme in ("http", "https", "oci"):
        return []  # a repository to use, or one _chart reports as invalid
    return [("spec.chart.repository", f"{scheme}:// repositories are not supported")]


def _release_name(spec: Mapping[str, Any], default: str) -> str:
    given = string(spec, "releaseName", "spec.releaseName", required=False)
    release_name, field = (default, "metadata.name") if not given else (given, "spec.releaseName")
    if len(release_name) > MAX_RELEASE_NAME:
        raise Invalid(field, f"release name longer than {MAX_RELEASE_NAME} characters")
    if not RELEASE_NAME_PATTERN.fullmatch(release_name):
        raise Invalid(
            field,
            f"release name {release_name!r} must consist of lower case alphanumeric "
            "characters, '-' or '.', and start and end with an alphanumeric character",
        )
    return release_name


def _target_namespace(spec: Mapping[str, Any], namespace: str) -> str:
    target = string(spec, "targetNamespace", "spec.targetNamespace", required=False)
    if not target:
        return namespace
    if not is_dns_label(target, MAX_NAMESPACE):
        raise Invalid(
            "spec.targetNamespace",
            f"{target!r} is not a valid namespace name (lower case alphanumeric or '-', "
            f"at most {MAX_NAMESPACE} characters)",
        )
    return target


def _chart(spec: Mapping[str, Any]) -> ChartSpec | GitChartSpec:
    chart = mapping(spec, "chart", "spec.chart", required=True)
    if chart.get("git") is not None:
        return _git_chart(chart)
    repository = required_string(chart, "repository", "spec.chart.repository")
    if not repository.lower().startswith(("http://", "https://", "oci://")):
        raise Invalid("spec.chart.repository", "must be an http://, https:// or oci:// URL")
    if not _parsable_url(repository):
        raise Invalid("spec.chart.repository", "is not a valid URL (host or port)")
    name = required_string(chart, "name", "spec.chart.name")
    if "/" in name:
        raise Invalid("spec.chart.name", "must be a chart name, not a path")
    # none: the newest version, as helm-operator asked helm for it
    version = string(chart, "version", "spec.chart.version", required=False) or "*"
    return ChartSpec(
        repository=repository, name=name, version=version, pull_secret=_pull_secret(chart)
    )


def _parsable_url(url: str) -> bool:
    """Whether ``url``'s host and port can be read (``http://[::1`` cannot)."""
    try:
        parts = urllib.parse.urlsplit(url)
        return bool(parts.hostname) and (parts.port is None or parts.port >= 0)
    except ValueError:
        return False


SCP_LIKE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*")
"""git's scp-like syntax for ssh: ``git@github.com:org/repo``."""


def _git_chart(chart: Mapping[str, Any]) -> GitChartSpec:
    url = required_string(chart, "git", "spec.chart.git")
    scheme, separator, rest = url.partition("://")
    if separator:
        if scheme.lower() not in ("https", "http", "ssh"):
            raise Invalid("spec.chart.git", "must be an https://, http:// or ssh:// URL")
        if "@" in rest.split("/")[0] and scheme.lower() != "ssh":
            raise Invalid("spec.chart.git", "holds credentials; use chart.secretRef instead")
    elif not SCP_LIKE.fullmatch(url):
        raise Invalid("spec.chart.git", "must be a git URL (https://, ssh:// or user@host:path)")
    path = required_string(chart, "path", "spec.chart.path").strip("/")
    if not path or ".." in path.split("/") or path.startswith("-"):
        raise Invalid("spec.chart.path", "must be a directory inside the repository")
    ref = string(chart, "ref", "spec.chart.ref", required=False) or None
    if ref is not None and (ref.startswith("-") or not GIT_REF.fullmatch(ref)):
        raise Invalid("spec.chart.ref", "must be a branch, a tag or a commit")
    secret = mapping(chart, "secretRef", "spec.chart.secretRef", required=False)
    return GitChartSpec(
        url=url,
        path=path,
        ref=ref,
        secret=required_string(secret, "name", "spec.chart.secretRef.name") if secret else None,
        secret_namespace=_source_namespace(secret, "spec.chart.secretRef"),
        skip_dep_update=bool(flag(chart, "skipDepUpdate", "spec.chart.skipDepUpdate")),
    )


GIT_REF = re.compile(r"[A-Za-z0-9._/-]{1,255}")
"""A branch, tag or commit: what git allows, minus what a shell or git option could abuse."""


def _pull_secret(chart: Mapping[str, Any]) -> str | None:
    secret = mapping(chart, "chartPullSecret", "spec.chart.chartPullSecret", required=False)
    if not secret:
        return None
    return required_string(secret, "name", "spec.chart.chartPullSecret.name")


def _switch(parent: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
    given = flag(parent, key, field)
    return default if given is None else given


def _options(spec: Mapping[str, Any], *, waits: bool) -> ReleaseOptions:
    """``waits``: whether helm waits when ``spec.wait`` is unset (helm-operator waited when
    rollbacks or tests were enabled: both judge a release by its resources being ready)."""

    def switch(key: str, default: bool) -> bool:
        return _switch(spec, key, f"spec.{key}", default)

    return ReleaseOptions(
        timeout=_seconds(spec, "timeout", "spec.timeout", DEFAULTS.timeout),
        wait=switch("wait", waits),
        reset_values=switch("resetValues", DEFAULTS.reset_values),
        force=switch("forceUpgrade", DEFAULTS.force),
        skip_crds=switch("skipCRDs", DEFAULTS.skip_crds),
        max_history=_max_history(spec),
        disable_openapi_validation=switch(
            "disableOpenAPIValidation", DEFAULTS.disable_openapi_validation
        ),
        create_namespace=_switch(
            mapping(spec, "install", "spec.install", required=False),
            "createNamespace",
            "spec.install.createNamespace",
            DEFAULTS.create_namespace,
        ),
        post_renderers=post_renderers(spec),
    )


def depends_on(spec: Mapping[str, Any], namespace: str) -> tuple[tuple[str, str], ...]:
    """``spec.dependsOn``: (namespace, name) of each HelmRelease named, the namespace
    defaulting to this HelmRelease's (helm-controller's form: ``{name, namespace}``)."""
    found = []
    for index, entry in enumerate(items(spec, "dependsOn", "spec.dependsOn")):
        field = f"spec.dependsOn[{index}]"
        if not isinstance(entry, Mapping):
            raise Invalid(field, f"must be a map, not {json_type(entry)}")
        name = required_string(entry, "name", f"{field}.name")
        found.append((_source_namespace(entry, field) or namespace, name))
    return tuple(dict.fromkeys(found))


def dependencies_of(obj: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (namespace, name) a raw HelmRelease body depends on; () when it names none or
    they cannot be read (its own reconcile reports that)."""
    spec, metadata = obj.get("spec"), obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(namespace, str):
        return ()
    try:
        return depends_on(spec, namespace)
    except Invalid:
        return ()


GO_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+")
GO_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MIN_INTERVAL = 1.0


def _interval(spec: Mapping[str, Any]) -> float | None:
    """``spec.interval``: a Go duration (``5m``, ``1h30m``) of at least a second."""
    text = string(spec, "interval", "spec.interval", required=False)
    if not text:
        return None
    if not GO_DURATION.fullmatch(text):
        raise Invalid("spec.interval", "must be a duration such as 30s, 5m or 1h30m")
    seconds = sum(float(n) * UNIT_SECONDS[unit] for n, unit in GO_DURATION_PART.findall(text))
    if seconds < MIN_INTERVAL:
        raise Invalid("spec.interval", f"must be at least {MIN_INTERVAL:g}s")
    return seconds


def _rollback(spec: Mapping[str, Any]) -> RollbackPolicy:
    body = mapping(spec, "rollback", "spec.rollback", required=False)
    where, default = "spec.rollback", ROLLBACK_DEFAULTS

    def switch(key: str, value: bool) -> bool:
        return _switch(body, key, f"{where}.{key}", value)

    max_retries = typed(body, "maxRetries", f"{where}.maxRetries", int, "an integer")
    if max_retries is not None and max_retries < 0:
        raise Invalid(f"{where}.maxRetries", "must be 0 (no limit) or more")
    return RollbackPolicy(
        enable=switch("enable", default.enable),
        retry=switch("retry", default.retry),
        max_retries=default.max_retries if max_retries is None else max_retries,
        force=switch("force", default.force),
        recreate=switch("recreate", default.recreate),
        disable_hooks=switch("disableHooks", default.disable_hooks),
        timeout=_seconds(body, "timeout", f"{where}.timeout", default.timeout),
        wait=switch("wait", default.wait),
    )


def _test(spec: Mapping[str, Any]) -> TestPolicy:
    body = mapping(spec, "test", "spec.test", required=False)
    where, default = "spec.test", TEST_DEFAULTS
    return TestPolicy(
        enable=_switch(body, "enable", f"{where}.enable", default.enable),
        ignore_failures=_switch(
            body, "ignoreFailures", f"{where}.ignoreFailures", default.ignore_failures
        ),
        timeout=_seconds(body, "timeout", f"{where}.timeout", default.timeout),
        cleanup=_switch(body, "cleanup", f"{where}.cleanup", default.cleanup),
    )


def _seconds(parent: Mapping[str, Any], key: str, field: str, default: float) -> float:
    """A timeout in seconds: a positive number up to MAX_TIMEOUT."""
    seconds = parent.get(key)
    if seconds is None:
        return default
    # bool is an int in Python, but `timeout: true` is not a number of seconds.
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise Invalid(field, f"must be a number of seconds, not {json_type(seconds)}")
    if not seconds > 0:
        raise Invalid(field, "must be a positive number of seconds")
    if seconds > MAX_TIMEOUT:
        raise Invalid(field, f"must be at most {MAX_TIMEOUT} seconds (24 hours)")
    return float(seconds)


def _max_history(spec: Mapping[str, Any]) -> int:
    max_history = typed(spec, "maxHistory", "spec.maxHistory", int, "an integer")
    if max_history is None:
        return DEFAULTS.max_history
    if max_history < 0:
        raise Invalid("spec.maxHistory", "must be 0 (unlimited) or more")
    return max_history
