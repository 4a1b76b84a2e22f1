"""The HelmRelease APIs we serve, parsed into one internal ReleaseSpec.

``SERVED`` lists them (helm-operator 1.x's ``helm.fluxcd.io/v1`` and its earlier
``flux.weave.works/v1beta1``); ``parse`` reads a body of any of them.
"""

from collections.abc import Mapping
from typing import Any

from controller.api import v1, v1beta1
from controller.api.fields import MAX_VALUES_DEPTH, values_problem
from controller.api.parsing import VALUES_SOURCE_FIELDS, Dialect, dependencies_of
from controller.api.parsing import parse as parse_dialect
from controller.api.spec import (
    DEFAULT_VALUES_KEY,
    DIGEST_LABEL,
    DIGEST_LABEL_LENGTH,
    FINALIZER,
    FORCE_AT_ANNOTATION,
    INVALID,
    LEGACY_GROUP,
    MAX_NAMESPACE,
    MAX_RELEASE_NAME,
    NOT_SUPPORTED,
    OWNER_GROUP_LABEL,
    OWNER_NAME_LABEL,
    OWNER_NAMESPACE_LABEL,
    REQUESTED_AT_ANNOTATION,
    ChartSpec,
    DriftIgnoreRule,
    DriftMode,
    DriftPolicy,
    DriftTarget,
    GitChartSpec,
    ReleaseOptions,
    ReleaseSpec,
    RollbackPolicy,
    ServedApi,
    SourceKind,
    SpecError,
    TestPolicy,
    ValuesSource,
    default_release_name,
    is_dns_label,
    is_release_name,
    label_value,
    may_be_shortened,
    owned_by,
    owner_group,
    owner_labels,
)

KIND = "HelmRelease"
PLURAL = "helmreleases"
V1 = v1.SERVED
V1BETA1 = v1beta1.SERVED
SERVED = (V1, V1BETA1)
_DIALECTS: dict[str, Dialect] = {
    dialect.served.api_version: dialect for dialect in (v1.DIALECT, v1beta1.DIALECT)
}


def parse(obj: Mapping[str, Any]) -> ReleaseSpec | SpecError:
    """The ReleaseSpec of a raw HelmRelease body of any served version, or its first problem."""
    api_version = obj.get("apiVersion")
    dialect = _DIALECTS.get(api_version) if isinstance(api_version, str) else None
    if dialect is None:
        return SpecError("apiVersion", f"not a served HelmRelease API: {api_version!r}")
    return parse_dialect(obj, dialect)


__all__ = [
    "DEFAULT_VALUES_KEY",
    "DIGEST_LABEL",
    "DIGEST_LABEL_LENGTH",
    "FINALIZER",
    "FORCE_AT_ANNOTATION",
    "INVALID",
    "KIND",
    "LEGACY_GROUP",
    "MAX_NAMESPACE",
    "MAX_RELEASE_NAME",
    "MAX_VALUES_DEPTH",
    "NOT_SUPPORTED",
    "OWNER_GROUP_LABEL",
    "OWNER_NAMESPACE_LABEL",
    "OWNER_NAME_LABEL",
    "PLURAL",
    "REQUESTED_AT_ANNOTATION",
    "SERVED",
    "V1",
    "V1BETA1",
    "VALUES_SOURCE_FIELDS",
    "ChartSpec",
    "DriftIgnoreRule",
    "DriftMode",
    "DriftPolicy",
    "DriftTarget",
    "GitChartSpec",
    "ReleaseOptions",
    "ReleaseSpec",
    "RollbackPolicy",
    "ServedApi",
    "SourceKind",
    "SpecError",
    "TestPolicy",
    "ValuesSource",
    "default_release_name",
    "dependencies_of",
    "is_dns_label",
    "is_release_name",
    "label_value",
    "may_be_shortened",
    "owned_by",
    "owner_group",
    "owner_labels",
    "parse",
    "values_problem",
]
