"""Scenario 5, chart fetch: N releases of one chart version cost one tarball download.

Read right after the operator's convergence run, from both sides: the chart
repository's request log (tarball and index.yaml requests by status) and the
operator's metrics (cache misses, bytes downloaded, index revalidations by result).
"""

from __future__ import annotations

import asyncio

from bench.harness import CHART_FILE, World
from bench.report import Figure, Results
from testkit import CHARTS_DIR, OperatorProcess

SCENARIO = "5 chart fetch"
KIB = 1024


async def measure(results: Results, world: World, operator: OperatorProcess, releases: int) -> None:
    samples = await operator.metrics()
    repo = world.repo
    tarball = f"/{CHART_FILE.name}"
    size = (await asyncio.to_thread(CHART_FILE.stat)).st_size
    index_size = (await asyncio.to_thread((CHARTS_DIR / "index.yaml").stat)).st_size
    revalidations = {
        result: samples.total("helmrelease_repository_index_revalidations_total", result=result)
        for result in ("modified", "not_modified", "error")
    }
    by_result = ", ".join(f"{k} {v:.0f}" for k, v in revalidations.items())
    results.add(
        Figure(
            SCENARIO,
            f"tarball downloads for {releases} releases (repository log)",
            repo.count(tarball, 200),
            "count",
            target=1,
        ),
        Figure(
            SCENARIO,
            "chart cache misses (operator metric)",
            samples.total("helmrelease_chart_cache_misses_total"),
            "count",
            target=1,
        ),
        Figure(
            SCENARIO,
            "chart bytes downloaded (operator metric)",
            samples.total("helmrelease_chart_download_bytes_total") / KIB,
            "KiB",
            note=f"tarball {size / KIB:.1f} KiB + index.yaml {index_size / KIB:.1f} KiB",
        ),
        Figure(
            SCENARIO,
            "index.yaml requests (repository log)",
            repo.count("/index.yaml"),
            "count",
            note=f"{repo.count('/index.yaml', 304)} answered 304 Not Modified",
        ),
        Figure(
            SCENARIO,
            "index revalidations (operator metric)",
            sum(revalidations.values()),
            "count",
            note=by_result,
        ),
    )
