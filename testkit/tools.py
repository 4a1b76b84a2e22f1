"""The pinned helm and kubectl, the environment they run in, and running them to the end.

``HELM_BIN`` and ``KUBECTL_BIN`` choose other binaries (``scripts/e2e-kind`` and the
Makefile set them); ``pinned`` always names the ones in ``.tools/bin``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testkit.paths import TOOLS_DIR

RUN_LIMIT = 90.0
"""Seconds a helm or kubectl run may take before it is killed: only bounds a failure."""


def pinned(name: str) -> Path:
    """``helm``, ``helm3`` or ``kubectl`` as installed by ``make tools``."""
    return TOOLS_DIR / name


def helm_bin() -> str:
    return os.environ.get("HELM_BIN") or str(pinned("helm"))


def kubectl_bin() -> str:
    return os.environ.get("KUBECTL_BIN") or str(pinned("kubectl"))


def tool_env(home: Path, kubeconfig: Path) -> dict[str, str]:
    """Environment for helm and kubectl: ``kubeconfig`` and a private HOME and caches."""
    env = {
        "PATH": os.pathsep.join((str(TOOLS_DIR), "/usr/bin", "/bin")),
        "HOME": str(home),
        "KUBECONFIG": str(kubeconfig),
        "KUBECACHEDIR": str(home / "kube-cache"),
        "HELM_CACHE_HOME": str(home / "helm-cache"),
        "HELM_CONFIG_HOME": str(home / "helm-config"),
        "HELM_DATA_HOME": str(home / "helm-data"),
    }
    for name in ("HOME", "KUBECACHEDIR", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return env


@dataclass(frozen=True)
class Completed:
    """A finished helm or kubectl run."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def check(self) -> Completed:
        """This run, failing with its stderr unless it exited 0."""
        assert self.code == 0, f"{' '.join(self.argv)} failed ({self.code}):\n{self.stderr}"
        return self

    def json(self) -> Any:
        return json.loads(self.stdout)


async def run(
    argv: tuple[str, ...],
    env: Mapping[str, str],
    stdin: str | None = None,
    limit: float = RUN_LIMIT,
    cwd: Path | None = None,
) -> Completed:
    """Run a binary to completion within ``limit`` seconds (killed after that)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(None if stdin is None else stdin.encode()), limit
        )
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None
    return Completed(argv, process.returncode, out.decode(), err.decode())


async def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Completed:
    """``kubectl_bin()`` with ``args``, failing with its stderr unless it exits 0."""
    return (await run((kubectl_bin(), *args), env, stdin)).check()
