"""Running real helm directly (beside the runner) to check what the runner did."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

HelmCli = Callable[..., Awaitable[tuple[int, str, str]]]
"""Runs real helm directly from a test (to check what the runner did): exit code, out, err."""


@pytest.fixture
def helm_cli(helm_bin: Path, kubeconfig: Path, tmp_path: Path) -> HelmCli:
    home = tmp_path / "cli-home"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kube-cache"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }

    async def run(*args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(helm_bin),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        async with asyncio.timeout(60):
            stdout, stderr = await process.communicate()
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    return run
