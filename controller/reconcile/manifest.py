"""The objects a release's rendered manifest lists (helm's stored ``manifest``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it: manifests can be large
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_objects(manifest: str) -> Iterator[Mapping[str, Any]]:
    """Each object of a rendered manifest, in order (``List`` kinds expanded as kubectl
    does); documents that are not objects with a kind, apiVersion and name are skipped,
    and a broken document ends the listing (what came before it still counts)."""
    try:
        for document in yaml.load_all(manifest, Loader=_Loader):
            yield from _objects(document)
    except yaml.YAMLError:
        return


def _objects(document: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return
    kind, api_version = document.get("kind"), document.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return
    items = document.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for item in items:
            yield from _objects(item)
        return
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(name, str) and name:
        yield document


def declared_namespace(obj: Mapping[str, Any]) -> str | None:
    """The namespace an object of a manifest names (None: not said, the release's if its
    kind is namespaced)."""
    namespace = obj["metadata"].get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None
