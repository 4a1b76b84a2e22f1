"""Version resolution agrees with Helm itself: for each constraint, the version we resolve
from the loopback repository is the one ``helm pull --version`` downloads from it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.charts import ChartError, ChartFetcher
from testkit import ChartRepository, pinned, run, tool_env

CONCURRENT_HELMS = 2

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
    argv = ("pull", "podinfo", "--repo", repo_url, "--version", constraint, "-d", str(out))
    done = await run((str(pinned("helm")), *argv), tool_env(work, work / "no-kubeconfig"))
    files = await asyncio.to_thread(lambda: [p.name for p in out.iterdir()])
    if done.code != 0:
        assert "not found" in done.stderr, done.stderr
        return None
    assert len(files) == 1, files
    return files[0].removeprefix("podinfo-").removesuffix(".tgz")


async def test_resolution_matches_helm_pull(
    fetcher: ChartFetcher, repo: ChartRepository, tmp_path: Path
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
