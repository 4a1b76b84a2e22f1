"""Helpers of the values-source tests: HelmReleases that read sources, and ConfigMaps and
Secrets created through the API as a user would."""

from __future__ import annotations

import base64
from typing import Any

from controller.api import ChartSpec, ReleaseSpec, SourceKind, ValuesSource
from controller.kube.client import AlreadyExists, KubeClient, resource_path
from controller.sources import ComposedValues, SourceError
from testkit import CHARTS_DIR

NAMESPACE = "default"
CHART = ChartSpec("http://127.0.0.1:1/charts", "podinfo", "6.7.1")


def release(
    *sources: ValuesSource, values: dict[str, Any] | None = None, namespace: str = NAMESPACE
) -> ReleaseSpec:
    """A HelmRelease of podinfo in ``namespace`` reading ``sources`` in order."""
    return ReleaseSpec(
        group="helm.fluxcd.io",
        namespace=namespace,
        name="demo",
        release_name="demo",
        target_namespace=namespace,
        chart=CHART,
        values=values or {},
        values_from=sources,
    )


def source(kind: SourceKind, name: str, index: int = 0, **options: Any) -> ValuesSource:
    """The ``index``-th entry of ``spec.valuesFrom``."""
    return ValuesSource(f"spec.valuesFrom[{index}]", kind, name, **options)


def composed(result: ComposedValues | SourceError) -> ComposedValues:
    assert isinstance(result, ComposedValues), result
    return result


def failed(result: ComposedValues | SourceError, reason: str) -> SourceError:
    assert isinstance(result, SourceError), result
    assert result.reason == reason, result
    return result


async def ensure_namespace(client: KubeClient, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    try:
        await client.request("POST", resource_path("", "v1", "namespaces"), body=body)
    except AlreadyExists:
        pass


async def put_config_map(
    client: KubeClient,
    name: str,
    data: dict[str, str] | None = None,
    *,
    binary: dict[str, bytes] | None = None,
    namespace: str = NAMESPACE,
) -> None:
    await ensure_namespace(client, namespace)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": data or {},
    }
    if binary:
        body["binaryData"] = {
            key: base64.b64encode(value).decode() for key, value in binary.items()
        }
    await client.request("POST", resource_path("", "v1", "configmaps", namespace), body=body)


async def put_secret(
    client: KubeClient, name: str, data: dict[str, bytes], *, namespace: str = NAMESPACE
) -> None:
    await ensure_namespace(client, namespace)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    await client.request("POST", resource_path("", "v1", "secrets", namespace), body=body)


PODINFO = CHARTS_DIR / "podinfo-6.7.1.tgz"
"""The packaged chart ChartFile sources are read from (the chart of ``release``)."""
