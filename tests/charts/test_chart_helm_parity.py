"""Version resolution agrees with Helm itself: for each constraint, the version we resolve
from the loopback repository is the one ``helm pull --version`` downloads from it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from chart_repo_server import RepoServer

from controller.charts import ChartError, ChartFetcher

HELM = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "helm"
CONCURRENT_HELMS = 2
HELM_TIMEOUT = 60.0

CONSTRAINTS = [
    "6.7.1",
    "v6.7.1",
    "=6.11.2",
    "~6.11",
    "~6.7.0",
    "^6",
    "^6.11.2",
    ">=6.0 <6.12",
    ">=6.8, <=6.14.1 || 6.7.1",
    "6.7.1 - 6.11.2",
    "6.x",
    "6.11.x",
    "*",
    ">6.7.1",
    "<6.11.2",
    "<=6.11.2",
    "!=6.14.1",
    ">7",
]


async def helm_pull(repo_url: str, constraint: str, work: Path) -> str | None:
    """The podinfo version helm downloads for ``constraint``; None when helm finds none."""
    out = work / "out"
    await asyncio.to_thread(out.mkdir, parents=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HELM_CACHE_HOME": str(work / "cache"),
        "HELM_CONFIG_HOME": str(work / "config"),
        "HELM_DATA_HOME": str(work / "data"),
    }
    argv = ["pull", "podinfo", "--repo", repo_url, "--version", constraint, "-d", str(out)]
    process = await asyncio.create_subprocess_exec(
        HELM, *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), HELM_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    files = await asyncio.to_thread(lambda: [p.name for p in out.iterdir()])
    if process.returncode != 0:
        assert b"not found" in output, output.decode()
        return None
    assert len(files) == 1, files
    return files[0].removeprefix("podinfo-").removesuffix(".tgz")


async def test_resolution_matches_helm_pull(
    fetcher: ChartFetcher, repo: RepoServer, tmp_path: Path
) -> None:
    limit = asyncio.Semaphore(CONCURRENT_HELMS)

    async def with_helm(index: int, constraint: str) -> str | None:
        async with limit:
            return await helm_pull(repo.url, constraint, tmp_path / f"helm-{index}")

    helm_versions = await asyncio.gather(*(with_helm(i, c) for i, c in enumerate(CONSTRAINTS)))

    for constraint, helm_version in zip(CONSTRAINTS, helm_versions, strict=True):
        ours = await fetcher.fetch(repo.url, "podinfo", constraint)
        if helm_version is None:
            assert isinstance(ours, ChartError), constraint
            assert ours.reason == "VersionNotFound", constraint
        else:
            assert not isinstance(ours, ChartError), (constraint, ours)
            assert ours.version == helm_version, constraint
