"""Scenario 9, OCI charts: what N releases of one chart from an OCI registry cost it.

The operator's chart stage alone (``ChartFetcher``, as every reconcile calls it), against
the CNCF distribution registry on loopback with charts pushed by the real helm: N
fetches of ``oci://.../charts`` podinfo ``~6`` at once, three times: the first (the
chart resolved and downloaded), again before the refresh interval (nothing asked of the
registry), and after a newer matching version was pushed and the interval passed (one
resolution, one download). Blob downloads are the operator's own counter
(``helmrelease_chart_cache_misses_total``). Skipped, saying why, without the registry.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import REGISTRY

from bench.harness import BenchError
from bench.report import Figure, Results
from controller.charts import ChartFetcher, FetchedChart
from controller.settings import ChartSettings
from testkit import CHARTS_DIR, FakeClock
from testkit.registry import Registry, push_chart, registry_available

SCENARIO = "9 oci charts"
REFRESH = 300.0
TARGET_DOWNLOADS = 1.0


def _downloads() -> float:
    return float(REGISTRY.get_sample_value("helmrelease_chart_cache_misses_total") or 0.0)


async def run(results: Results, workdir: Path, releases: int) -> None:
    reason = registry_available()
    if reason is not None:
        results.note(f"{SCENARIO}: not measured: {reason}")
        return
    clock = FakeClock()
    async with Registry(workdir / "registry") as registry:
        await push_chart(registry, CHARTS_DIR / "podinfo-6.7.1.tgz", "charts")
        settings = ChartSettings(
            cache_dir=workdir / "cache",
            oci_plain_http=(registry.host,),
            repo_refresh_interval=REFRESH,
        )
        async with ChartFetcher(settings, clock=clock) as charts:
            rounds = {"first fetch": None, "before the refresh": None, "a newer version": True}
            for name, newer in rounds.items():
                if newer:
                    await push_chart(registry, CHARTS_DIR / "podinfo-6.11.2.tgz", "charts")
                    clock.advance(REFRESH + 1)
                before, started = _downloads(), time.monotonic()
                fetched = await asyncio.gather(
                    *(
                        charts.fetch(registry.oci("charts"), "podinfo", "~6", None)
                        for _ in range(releases)
                    )
                )
                seconds = time.monotonic() - started
                versions = {chart.version for chart in fetched if isinstance(chart, FetchedChart)}
                if len(versions) != 1:
                    raise BenchError(f"{name}: {fetched[0]}")
                results.add(
                    Figure(
                        SCENARIO,
                        f"{name}: chart downloads for N={releases} releases of one OCI chart",
                        _downloads() - before,
                        "count",
                        target=TARGET_DOWNLOADS,
                        note=f"version {versions.pop()}; {seconds * 1000:.0f} ms for all N",
                    )
                )
