"""``helm.fluxcd.io/v1``: helm-operator 1.x's API, as its users write it."""

from __future__ import annotations

from controller.api.parsing import Dialect
from controller.api.spec import ServedApi, default_release_name

SERVED = ServedApi("helm.fluxcd.io", "v1")


def release_name(namespace: str, name: str, target_namespace: str) -> str:
    """``<namespace>-<name>``, or ``<namespace>-<targetNamespace>-<name>`` for a release in
    another namespace: helm-operator 1.x's names, so its releases are found after a switch."""
    if target_namespace == namespace:
        return default_release_name(namespace, name)
    return default_release_name(namespace, target_namespace, name)


DIALECT = Dialect(SERVED, release_name)
