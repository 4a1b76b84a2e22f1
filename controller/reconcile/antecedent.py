"""Who helm-operator released a release for: the antecedent annotation on its resources.

helm-operator 1.x kept no owner on its release records; after every successful
install, upgrade or rollback it annotated every resource of the release's manifest
with ``helm.fluxcd.io/antecedent=<namespace>:helmrelease/<name>`` (releases of its
0.10 era carry ``flux.weave.works/antecedent`` instead), and decided ownership by
reading that annotation back from the live resources. ``Antecedents.read`` does the
same for a release that carries no owner labels of ours, within fixed bounds: the
release's latest record is decoded, the first ``MAX_RESOURCES`` resources its manifest
lists are read (their metadata only) and the distinct annotation values found are the
evidence ``state.assess`` decides on. Resource paths come from API discovery (the
plural of a kind), cached per group-version for the life of the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import yaml

from controller.kube.client import (
    METADATA_ONLY_WATCH,
    KubeClient,
    NotFound,
    Unreachable,
    resource_path,
)
from controller.releases import ObservedRelease, read_stored

log = logging.getLogger(__name__)

ANTECEDENT_ANNOTATIONS = ("helm.fluxcd.io/antecedent", "flux.weave.works/antecedent")
"""helm-operator 1.x's annotation, and the one of its 0.10 era (same value format)."""
MAX_RESOURCES = 8
"""Resources of a release read at most: helm-operator annotated all of them at once."""
READ_TIMEOUT = 30.0
"""Seconds all the reads for one release may take together."""
DISCOVERY_REFRESH = 60.0
"""A kind missing from a cached group-version is looked up again after this many seconds
(a CRD installed since); a group-version is never asked for more often."""
METADATA_ONLY = METADATA_ONLY_WATCH
"""Accept header asking for one object's metadata alone (no Secret or ConfigMap data)."""

# libyaml's parser when PyYAML was built with it: manifests can be large
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ManifestResource:
    """One resource a release's manifest lists."""

    api_version: str
    kind: str
    name: str
    namespace: str | None
    """As the manifest says it (None: not said, the release namespace if namespaced)."""


@dataclass(frozen=True)
class _Kind:
    plural: str
    namespaced: bool


def manifest_resources(manifest: str, limit: int = MAX_RESOURCES) -> list[ManifestResource]:
    """The first ``limit`` distinct resources a rendered manifest lists (``List`` kinds
    expanded as kubectl does); documents that are not resources are skipped."""
    found: dict[ManifestResource, None] = {}
    try:
        for document in yaml.load_all(manifest, Loader=_Loader):
            for resource in _resources(document):
                found[resource] = None
                if len(found) >= limit:
                    return list(found)
    except yaml.YAMLError:
        pass  # what came before the broken document is still evidence
    return list(found)


def _resources(document: Any) -> Iterator[ManifestResource]:
    if not isinstance(document, Mapping):
        return
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return
    items = document.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for item in items:
            yield from _resources(item)
        return
    metadata = document.get("metadata")
    if not isinstance(metadata, Mapping):
        return
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if isinstance(name, str) and name:
        yield ManifestResource(
            api_version, kind, name, namespace if isinstance(namespace, str) and namespace else None
        )


class Antecedents:
    """Reads the antecedent annotations of releases' resources; one per process (it
    holds the discovery cache)."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._kinds: dict[str, tuple[float, dict[str, _Kind]]] = {}  # by group-version

    async def read(self, observed: ObservedRelease) -> tuple[str, ...]:
        """The distinct antecedent values on the live resources of revision ``observed``
        (sorted; empty when there are none, or no resources, or no readable record).

        Raises ApiError when the API fails (``Unreachable`` when it takes longer than
        ``READ_TIMEOUT`` in all); resources that do not exist are skipped.
        """
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                return await self._read(observed)
        except TimeoutError:
            raise Unreachable(
                0,
                "Timeout",
                f"reading the resources of release {observed.key} took over {READ_TIMEOUT:g}s",
            ) from None

    async def _read(self, observed: ObservedRelease) -> tuple[str, ...]:
        try:
            stored = await read_stored(self._client, observed)
        except ValueError as error:
            log.info("release %s: no readable record: %s", observed.key, error)
            return ()
        if stored is None:
            return ()
        resources = await asyncio.to_thread(manifest_resources, stored.manifest)
        namespace = observed.key.namespace
        try:
            async with asyncio.TaskGroup() as reads:
                tasks = [reads.create_task(self._annotations(r, namespace)) for r in resources]
        except ExceptionGroup as failed:  # the first failure stands for all (ApiError)
            raise failed.exceptions[0] from None
        return tuple(sorted({value for task in tasks for value in task.result()}))

    async def _annotations(self, resource: ManifestResource, release_namespace: str) -> list[str]:
        kind = await self._kind(resource.api_version, resource.kind)
        if kind is None:
            return []  # not served (any more): nothing of it can be read
        group, _, version = resource.api_version.rpartition("/")
        namespace = (resource.namespace or release_namespace) if kind.namespaced else None
        path = resource_path(group, version, kind.plural, namespace=namespace, name=resource.name)
        try:
            obj = await self._client.request("GET", path, accept=METADATA_ONLY)
        except NotFound:
            return []
        metadata = obj.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        if not isinstance(annotations, Mapping):
            return []
        values = (annotations.get(key) for key in ANTECEDENT_ANNOTATIONS)
        return [value for value in values if isinstance(value, str) and value]

    async def _kind(self, api_version: str, kind: str) -> _Kind | None:
        """Plural and scope of ``kind`` in ``api_version``, from (cached) discovery."""
        cached = self._kinds.get(api_version)
        now = time.monotonic()
        if cached is not None and (kind in cached[1] or now - cached[0] < DISCOVERY_REFRESH):
            return cached[1].get(kind)
        kinds = await self._discover(api_version)
        self._kinds[api_version] = (now, kinds)
        return kinds.get(kind)

    async def _discover(self, api_version: str) -> dict[str, _Kind]:
        group, _, version = api_version.rpartition("/")
        if not version or api_version.count("/") > 1 or (group == "" and "/" in api_version):
            return {}
        parts = ("api", version) if not group else ("apis", group, version)
        path = "/" + "/".join(quote(part, safe="") for part in parts)
        try:
            listing = await self._client.request("GET", path)
        except NotFound:
            return {}
        resources = listing.get("resources")
        kinds: dict[str, _Kind] = {}
        for entry in resources if isinstance(resources, list) else ():
            if not isinstance(entry, Mapping):
                continue
            plural, kind = entry.get("name"), entry.get("kind")
            if isinstance(plural, str) and "/" not in plural and isinstance(kind, str):
                kinds.setdefault(kind, _Kind(plural, entry.get("namespaced") is True))
        return kinds
