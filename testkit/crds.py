"""The project's CustomResourceDefinitions (every one in manifests/crds/), registered on a
server and served before anyone relies on them."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from controller.kube.client import KubeClient, resource_path
from controller.settings import KubeSettings
from testkit.paths import CRDS_DIR
from testkit.waiting import wait_for

FIELD_MANAGER = "testkit"


def crd_documents(folder: Path = CRDS_DIR) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition in the YAML files of ``folder``."""
    return [
        document
        for path in sorted(folder.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
    ]


async def register_crds(kubeconfig: Path) -> None:
    """Apply every project CRD to the cluster of ``kubeconfig`` (created, or updated if it
    exists), then wait until the server serves each kind in each of its served versions."""
    crds = await asyncio.to_thread(crd_documents)
    async with await KubeClient.create(KubeSettings(kubeconfig=str(kubeconfig))) as client:
        for crd in crds:
            await _apply(client, crd)
        for crd in crds:
            for group_version, plural in _served(crd):
                await wait_for(
                    functools.partial(_serves, client, group_version, plural),
                    what=f"the server to serve {plural} in {group_version}",
                )


async def _apply(client: KubeClient, crd: dict[str, Any]) -> None:
    path = resource_path(
        "apiextensions.k8s.io", "v1", "customresourcedefinitions", name=crd["metadata"]["name"]
    )
    await client.request(
        "PATCH",
        path,
        body=crd,
        params={"fieldManager": FIELD_MANAGER, "force": "true"},
        content_type="application/apply-patch+yaml",
    )


def _served(crd: dict[str, Any]) -> Iterator[tuple[str, str]]:
    spec = crd["spec"]
    for version in spec["versions"]:
        if version.get("served"):
            yield f"{spec['group']}/{version['name']}", spec["names"]["plural"]


async def _serves(client: KubeClient, group_version: str, plural: str) -> bool:
    discovery = await client.get(f"/apis/{group_version}")
    resources = (discovery or {}).get("resources") or []
    return any(resource.get("name") == plural for resource in resources)
