"""Running real helm directly (beside the runner) to check what the runner did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from testkit import run, tool_env

HelmCli = Callable[..., Awaitable[tuple[int, str, str]]]
"""Runs real helm directly from a test (to check what the runner did): exit code, out, err."""


@pytest.fixture
def helm_cli(helm_bin: Path, kubeconfig: Path, tmp_path: Path) -> HelmCli:
    env = tool_env(tmp_path / "cli-home", kubeconfig)

    async def run_helm(*args: str) -> tuple[int, str, str]:
        done = await run((str(helm_bin), *args), env)
        return done.code, done.stdout, done.stderr

    return run_helm
