"""``flux.weave.works/v1beta1`` HelmRelease: raw API body -> ``ReleaseSpec | SpecError``.

The field names and defaults are helm-operator's (0.10 era) so existing manifests keep
working. Unknown fields are ignored; known fields of the wrong type are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from controller.api.spec import (
    DNS_LABEL_PATTERN,
    MAX_NAMESPACE,
    MAX_RELEASE_NAME,
    ChartSpec,
    ReleaseOptions,
    ReleaseSpec,
    SpecError,
    default_release_name,
    is_dns_label,
)

GROUP = "flux.weave.works"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
PLURAL = "helmreleases"
KIND = "HelmRelease"

MAX_TIMEOUT = 24 * 3600
"""Longest spec.timeout: one helm operation, and the time a pending release is waited for."""
DEFAULTS = ReleaseOptions()

T = TypeVar("T")


class _Invalid(Exception):
    """Raised inside the parser only; turned into a SpecError at its boundary."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.error = SpecError(field, message)


def parse(obj: Mapping[str, Any]) -> ReleaseSpec | SpecError:
    """The ReleaseSpec of a raw HelmRelease body, or the first problem found in it."""
    try:
        return _parse(obj)
    except _Invalid as invalid:
        return invalid.error


def _parse(obj: Mapping[str, Any]) -> ReleaseSpec:
    metadata = _mapping(obj, "metadata", "metadata", required=True)
    namespace = _required_string(metadata, "namespace", "metadata.namespace")
    name = _required_string(metadata, "name", "metadata.name")
    spec = _mapping(obj, "spec", "spec", required=True)
    if spec.get("valuesFrom"):
        raise _Invalid("spec.valuesFrom", "not supported yet; use spec.values")
    values = _mapping(spec, "values", "spec.values", required=False)
    return ReleaseSpec(
        namespace=namespace,
        name=name,
        release_name=_release_name(spec, namespace, name),
        target_namespace=_target_namespace(spec, namespace),
        chart=_chart(spec),
        values=dict(values),
        options=ReleaseOptions(
            timeout=_timeout(spec),
            wait=_flag(spec, "wait"),
            reset_values=_flag(spec, "resetValues"),
            force=_flag(spec, "forceUpgrade"),
            skip_crds=_flag(spec, "skipCRDs"),
            max_history=_max_history(spec),
        ),
    )


def _release_name(spec: Mapping[str, Any], namespace: str, name: str) -> str:
    given = _string(spec, "releaseName", "spec.releaseName", required=False)
    if given is None:
        release_name = default_release_name(namespace, name)
        field = "metadata.name"
    else:
        release_name, field = given, "spec.releaseName"
    if len(release_name) > MAX_RELEASE_NAME:
        raise _Invalid(field, f"release name longer than {MAX_RELEASE_NAME} characters")
    if not DNS_LABEL_PATTERN.fullmatch(release_name):
        raise _Invalid(
            field,
            f"release name {release_name!r} must consist of lower case alphanumeric "
            "characters or '-', and start and end with an alphanumeric character",
        )
    return release_name


def _target_namespace(spec: Mapping[str, Any], namespace: str) -> str:
    target = _string(spec, "targetNamespace", "spec.targetNamespace", required=False)
    if target is None:
        return namespace
    if not is_dns_label(target, MAX_NAMESPACE):
        raise _Invalid(
            "spec.targetNamespace",
            f"{target!r} is not a valid namespace name (lower case alphanumeric or '-', "
            f"at most {MAX_NAMESPACE} characters)",
        )
    return target


def _chart(spec: Mapping[str, Any]) -> ChartSpec:
    chart = _mapping(spec, "chart", "spec.chart", required=True)
    if "git" in chart:
        raise _Invalid("spec.chart.git", "charts from git are not supported; use a repository")
    repository = _required_string(chart, "repository", "spec.chart.repository")
    if not repository.startswith(("http://", "https://")):
        raise _Invalid("spec.chart.repository", "must be an http:// or https:// URL")
    name = _required_string(chart, "name", "spec.chart.name")
    if "/" in name:
        raise _Invalid("spec.chart.name", "must be a chart name, not a path")
    version = _required_string(chart, "version", "spec.chart.version")
    return ChartSpec(
        repository=repository, name=name, version=version, pull_secret=_pull_secret(chart)
    )


def _pull_secret(chart: Mapping[str, Any]) -> str | None:
    secret = _mapping(chart, "chartPullSecret", "spec.chart.chartPullSecret", required=False)
    if not secret:
        return None
    return _required_string(secret, "name", "spec.chart.chartPullSecret.name")


def _timeout(spec: Mapping[str, Any]) -> float:
    timeout = spec.get("timeout")
    if timeout is None:
        return DEFAULTS.timeout
    # bool is an int in Python, but `timeout: true` is not a number of seconds.
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise _Invalid("spec.timeout", f"must be a number of seconds, not {_json_type(timeout)}")
    if not timeout > 0:
        raise _Invalid("spec.timeout", "must be a positive number of seconds")
    if timeout > MAX_TIMEOUT:
        raise _Invalid("spec.timeout", f"must be at most {MAX_TIMEOUT} seconds (24 hours)")
    return float(timeout)


def _max_history(spec: Mapping[str, Any]) -> int:
    max_history = _typed(spec, "maxHistory", "spec.maxHistory", int, "an integer")
    if max_history is None:
        return DEFAULTS.max_history
    if max_history < 0:
        raise _Invalid("spec.maxHistory", "must be 0 (unlimited) or more")
    return max_history


def _flag(spec: Mapping[str, Any], key: str) -> bool:
    return _typed(spec, key, f"spec.{key}", bool, "true or false") or False


def _mapping(
    parent: Mapping[str, Any], key: str, field: str, *, required: bool
) -> Mapping[str, Any]:
    found = _typed(parent, key, field, dict, "a map", required=required)
    return found if found is not None else {}


def _string(parent: Mapping[str, Any], key: str, field: str, *, required: bool) -> str | None:
    found = _typed(parent, key, field, str, "a string", required=required)
    if required and not found:
        raise _Invalid(field, "is required")
    return found


def _required_string(parent: Mapping[str, Any], key: str, field: str) -> str:
    found = _string(parent, key, field, required=True)
    assert found is not None  # _string raised otherwise
    return found


def _typed(
    parent: Mapping[str, Any],
    key: str,
    field: str,
    kind: type[T],
    described: str,
    *,
    required: bool = False,
) -> T | None:
    """``parent[key]`` if it is a ``kind``; None when absent/null and optional."""
    value = parent.get(key)
    if value is None:
        if required:
            raise _Invalid(field, "is required")
        return None
    # bool is an int in Python, but `maxHistory: true` is not a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _Invalid(field, f"must be {described}, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    kinds = ((bool, "a boolean"), (str, "a string"), (Mapping, "a map"), (list, "a list"))
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else "an unknown type"
