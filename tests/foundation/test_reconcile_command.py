"""``helmrelease-operator reconcile NAMESPACE/NAME`` against the in-memory API server.

It annotates the HelmRelease (``reconcile.fluxcd.io/requestedAt``, and ``forceAt`` with
``--force``) in whichever served API holds it, prints what it did and exits 0; a
HelmRelease that does not exist, or an argument that is not NAMESPACE/NAME, exits 2 with
one line saying why.
"""

from __future__ import annotations

import sys
from pathlib import Path

from controller.api import FORCE_AT_ANNOTATION, PLURAL, REQUESTED_AT_ANNOTATION, V1BETA1
from controller.kube.client import KubeClient, resource_path
from testkit import run


async def reconcile_command(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    done = await run(
        (sys.executable, "-m", "controller", "reconcile", *args, "--kubeconfig", str(kubeconfig)),
        {},
    )
    return done.code, done.stdout, done.stderr


async def test_it_annotates_the_helmrelease_it_finds(
    client: KubeClient, crds: None, kubeconfig: Path
) -> None:
    collection = resource_path(V1BETA1.group, V1BETA1.version, PLURAL, namespace="default")
    body = {
        "apiVersion": V1BETA1.api_version,
        "kind": "HelmRelease",
        "metadata": {"name": "rabbit", "namespace": "default"},
        "spec": {
            "chart": {
                "repository": "https://charts.example.com/",
                "name": "rabbitmq",
                "version": "3.3.6",
            }
        },
    }
    await client.request("POST", collection, body=body)
    code, stdout, _ = await reconcile_command(kubeconfig, "default/rabbit", "--force")
    assert code == 0
    assert f"{V1BETA1.api_version} HelmRelease default/rabbit" in stdout
    hr = await client.get(f"{collection}/rabbit")
    assert hr is not None
    annotations = hr["metadata"]["annotations"]
    assert annotations[REQUESTED_AT_ANNOTATION] == annotations[FORCE_AT_ANNOTATION]

    code, _, stderr = await reconcile_command(kubeconfig, "default/missing")
    assert code == 2
    assert "no HelmRelease default/missing" in stderr
    code, _, stderr = await reconcile_command(kubeconfig, "rabbit")
    assert code == 2
    assert "is not NAMESPACE/NAME" in stderr
