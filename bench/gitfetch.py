"""Scenario 8, git charts: what N releases of one chart from git cost the git server per poll.

The operator's git stage alone (``ChartFetcher.git``, as every reconcile calls it), against
a real git server over smart HTTP on loopback with the real ``git`` CLI: N fetches of the
same (repository, ref, path) at once, in four polls: the first (the mirror is made), one
with nothing new, one after a commit outside the chart's directory, one after a commit
inside it. Counted from the git server's request log: ref advertisements
(``info/refs``, one per ``ls-remote`` or fetch) and ``git-upload-pack`` calls; and whether
the chart's digest changed (a changed digest is what upgrades the releases). Helm is not
involved: the releases' installs and upgrades are the other scenarios' business.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bench.harness import BenchError
from bench.report import Figure, Results
from controller.api import GitChartSpec
from controller.charts import ChartFetcher, FetchedChart
from controller.settings import ChartSettings, GitSettings
from testkit import CHARTS_DIR, GitServer, chart_files, commit_files, init_bare

SCENARIO = "8 git charts"
CHART = "charts/podinfo"
REFS = "/charts.git/info/refs"
UPLOAD_PACK = "/charts.git/git-upload-pack"
TARGET_ADVERTISEMENTS = 2.0
"""Per poll: one ls-remote, plus one fetch when there is a new commit."""


async def run(results: Results, workdir: Path, releases: int) -> None:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    bare = await asyncio.to_thread(init_bare, workdir / "served", "charts.git")
    await asyncio.to_thread(
        commit_files, bare, chart_files(CHARTS_DIR / "podinfo-6.7.1.tgz", CHART), "podinfo"
    )
    settings = ChartSettings(cache_dir=workdir / "cache")
    async with (
        GitServer(bare.parent) as server,
        ChartFetcher(settings, git=GitSettings()) as charts,
    ):
        source = GitChartSpec(url=f"{server.url}/charts.git", path=CHART)
        polls = {
            "first poll (mirror made)": None,
            "nothing new": None,
            "a commit outside the chart": {"README.md": b"docs\n"},
            "a commit to the chart": {f"{CHART}/values.yaml": b"replicaCount: 2\n"},
        }
        digest = None
        for name, commit in polls.items():
            if commit is not None:
                await asyncio.to_thread(commit_files, bare, commit, name)
            charts.git.refresh()
            before = (server.count(REFS), server.count(UPLOAD_PACK))
            started = time.monotonic()
            fetched = await asyncio.gather(
                *(charts.git.fetch(source, None) for _ in range(releases))
            )
            seconds = time.monotonic() - started
            digests = {chart.digest for chart in fetched if isinstance(chart, FetchedChart)}
            if len(digests) != 1 or len(fetched) != releases:
                raise BenchError(f"{name}: {len(digests)} distinct charts for {releases} fetches")
            (new,) = digests
            advertised = server.count(REFS) - before[0]
            packs = server.count(UPLOAD_PACK) - before[1]
            changed = "first" if digest is None else ("changed" if new != digest else "unchanged")
            digest = new
            results.add(
                Figure(
                    SCENARIO,
                    f"{name}: ref advertisements for N={releases} releases of one git chart",
                    advertised,
                    "count",
                    target=TARGET_ADVERTISEMENTS,
                    note=(
                        f"{packs} upload-pack calls; chart digest {changed}; "
                        f"{seconds * 1000:.0f} ms for all N"
                    ),
                )
            )
