"""Recovery end to end: a release left pending-upgrade by a helm that was killed is
unlocked and converged, and a HelmRelease deleted while the operator is down is
uninstalled once it is back.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
from e2etesting import FINALIZER, Env

from testkit import CHARTS_DIR, wait_for

pytestmark = pytest.mark.e2e


async def test_release_stuck_pending_upgrade_is_unlocked(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    manifest = env.helmrelease(namespace, "app", timeout=5)
    await env.apply(manifest)
    await env.wait_ready(namespace, "app", revision=1)

    # A manual upgrade to a workload that never becomes ready, killed while helm waits:
    # revision 2 stays pending-upgrade.
    helm = await asyncio.create_subprocess_exec(
        env.config.helm_bin,
        "upgrade",
        release,
        str(CHARTS_DIR / "podinfo-6.7.1.tgz"),
        "-n",
        namespace,
        "--wait",
        "--timeout",
        "30s",
        "--set",
        "image.repository=example/fail",
        env=env.tool_env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def pending() -> list[str] | None:
            secrets = await env.kubectl(
                "get",
                "secrets",
                "-n",
                namespace,
                "-l",
                f"owner=helm,name={release},status=pending-upgrade",
                "-o",
                "name",
            )
            return secrets.stdout.split() or None

        await wait_for(pending, what="the pending-upgrade record")
    finally:
        if helm.returncode is None:
            helm.send_signal(signal.SIGKILL)
        await helm.wait()
    assert helm.returncode == -signal.SIGKILL
    assert [h["status"] for h in await env.history(namespace, release)] == [
        "deployed",
        "pending-upgrade",
    ]

    # The operator waits out spec.timeout, marks revision 2 failed, upgrades to 3.
    hr = await env.wait_ready(namespace, "app", revision=3)
    assert hr["status"]["releaseStatus"] == "deployed"
    history = await env.history(namespace, release)
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "failed"),
        (3, "deployed"),
    ]
    assert await env.values(namespace, release) == manifest["spec"]["values"]


async def test_delete_while_the_operator_is_stopped(env: Env, namespace: str) -> None:
    release = f"{namespace}-app"
    await env.apply(env.helmrelease(namespace, "app"))
    await env.wait_ready(namespace, "app", revision=1)

    await env.operator.stop()
    try:
        await env.kubectl("delete", "hr", "app", "-n", namespace, "--wait=false")
        held = await env.hr(namespace, "app")
        assert held is not None, "the finalizer should keep the HelmRelease"
        assert held["metadata"].get("deletionTimestamp")
        assert FINALIZER in held["metadata"]["finalizers"]
        assert [h["status"] for h in await env.history(namespace, release)] == ["deployed"]
    finally:
        await env.operator.start()

    await env.wait_gone(namespace, "app")
    assert await env.history(namespace, release) == []
    assert await env.release_records(namespace, release) == []
