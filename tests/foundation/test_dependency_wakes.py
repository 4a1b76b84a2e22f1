"""A HelmRelease's dependants (``spec.dependsOn``) are woken by its changes that matter.

Covers: a dependency appearing, becoming Ready, losing Ready, naming other dependencies
and going away wakes each HelmRelease that depends on it, and only those; a status write
that leaves Ready as it was wakes nobody; a dependant that stops naming it is no longer
woken.
"""

from __future__ import annotations

import itertools
from typing import Any

from controller import api
from controller.keys import ObjectKey
from controller.kube.cache import Cache
from controller.wakes import wake_dependants

GROUP = api.V1.group
VERSIONS = itertools.count(1)
"""resourceVersions: each write of an object is a new one, as on a server."""


def helmrelease(name: str, *depends: str, ready: bool = False, note: str = "") -> dict[str, Any]:
    return {
        "apiVersion": api.V1.api_version,
        "kind": "HelmRelease",
        "metadata": {
            "namespace": "default",
            "name": name,
            "generation": 1,
            "resourceVersion": str(next(VERSIONS)),
        },
        "spec": {"dependsOn": [{"name": n} for n in depends]},
        "status": {
            "note": note,
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "observedGeneration": 1}
            ],
        },
    }


def key(name: str) -> ObjectKey:
    return ObjectKey(GROUP, "default", name)


def test_dependants_wake_on_the_changes_that_matter() -> None:
    cache = Cache(groups=[GROUP])
    woken: list[str] = []
    cache.set_on_change(wake_dependants(cache, lambda k: woken.append(k.name)))
    cache.put(key("app"), helmrelease("app", "db"))
    cache.put(key("other"), helmrelease("other"))
    assert woken == []

    cache.put(key("db"), helmrelease("db"))  # appears: "not found" no longer holds
    assert woken == ["app"]
    cache.put(key("db"), helmrelease("db", note="a status write"))
    assert woken == ["app"]
    cache.put(key("db"), helmrelease("db", ready=True))
    assert woken == ["app", "app"]
    cache.put(key("db"), helmrelease("db", "app", ready=True))  # a cycle may have closed
    assert woken == ["app", "app", "app"]
    cache.delete(key("db"))
    assert woken == ["app", "app", "app", "app"]

    cache.put(key("app"), helmrelease("app"))  # no longer depends on db
    cache.put(key("db"), helmrelease("db", ready=True))
    assert woken == ["app", "app", "app", "app"]
