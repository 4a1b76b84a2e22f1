"""``flux.weave.works/v1beta1``: helm-operator's API before 1.0, as its users wrote it."""

from __future__ import annotations

from controller.api.parsing import Dialect
from controller.api.spec import LEGACY_GROUP, ServedApi, default_release_name

SERVED = ServedApi(LEGACY_GROUP, "v1beta1")


def release_name(namespace: str, name: str, target_namespace: str) -> str:
    """``<namespace>-<name>``, wherever the release goes."""
    return default_release_name(namespace, name)


DIALECT = Dialect(SERVED, release_name)
