"""The HelmRelease APIs we serve, parsed into one internal ReleaseSpec."""

from controller.api.spec import (
    DIGEST_LABEL,
    FINALIZER,
    OWNER_NAME_LABEL,
    OWNER_NAMESPACE_LABEL,
    ChartSpec,
    ReleaseOptions,
    ReleaseSpec,
    SpecError,
    default_release_name,
    label_value,
    may_be_shortened,
    owner_labels,
)
from controller.api.v1beta1 import API_VERSION, GROUP, KIND, PLURAL, VERSION, parse

__all__ = [
    "API_VERSION",
    "DIGEST_LABEL",
    "FINALIZER",
    "GROUP",
    "KIND",
    "OWNER_NAMESPACE_LABEL",
    "OWNER_NAME_LABEL",
    "PLURAL",
    "VERSION",
    "ChartSpec",
    "ReleaseOptions",
    "ReleaseSpec",
    "SpecError",
    "default_release_name",
    "label_value",
    "may_be_shortened",
    "owner_labels",
    "parse",
]
