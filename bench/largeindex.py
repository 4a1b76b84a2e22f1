"""Scenario 11, a large repository index: what a 50 MiB index.yaml costs the operator.

A chart repository serves an ordinary index of 50 MiB (1,230 charts of 50 versions each,
with the descriptions, maintainers and dependencies real indexes carry; podinfo among
them, pointing at the real tarball). One HelmRelease asks for podinfo from it. Measured:
the time from its creation to Ready (download, parse, install), the operator's peak RSS
(VmHWM) against its RSS before, and the longest answer of ``/healthz``, asked every 20 ms
by a client in a process of its own all along (the event loop must stay responsive during
the parse).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from bench.harness import (
    CHART_FILE,
    CHART_NAME,
    CHART_VERSION,
    HELMRELEASE_PATH,
    NAMESPACE,
    PROBE_EVERY,
    World,
    is_ready,
    make_world,
    probe,
    run_operator,
)
from bench.report import MIB, Figure, Results
from testkit import ChartRepository

SCENARIO = "11 large repository index"
INDEX_BYTES = 50 * MIB
TARGET_PEAK_MIB = 300.0
TARGET_HEALTHZ_SECONDS = 0.1
VERSIONS_PER_CHART = 50


def large_index(root: Path) -> int:
    """Write the index (and podinfo's tarball) into ``root``; the index's size."""
    shutil.copy(CHART_FILE, root / CHART_FILE.name)
    parts = [
        "apiVersion: v1\nentries:\n",
        f"  {CHART_NAME}:\n  - name: {CHART_NAME}\n    urls: [{CHART_FILE.name}]\n"
        f"    version: {CHART_VERSION}\n",
    ]
    size, chart = sum(map(len, parts)), 0
    while size < INDEX_BYTES:
        parts.append(f"  chart-{chart}:\n")
        for version in range(VERSIONS_PER_CHART):
            entry = _entry(chart, version)
            parts.append(entry)
            size += len(entry)
        chart += 1
    parts.append("generated: 2024-01-01T00:00:00Z\n")
    data = "".join(parts).encode()
    (root / "index.yaml").write_bytes(data)
    return len(data)


def _entry(chart: int, version: int) -> str:
    return f"""  - annotations:
      category: Infrastructure
      licenses: Apache-2.0
    apiVersion: v2
    appVersion: 1.{version}.0
    created: "2024-01-0{version % 9 + 1}T10:00:00.000000000Z"
    dependencies:
    - name: common
      repository: oci://registry.example.com/charts
      tags: [common]
      version: 2.x.x
    description: Chart {chart}, described in enough words to look like the real ones do.
    digest: {chart * 1000 + version:064x}
    home: https://example.com/charts/chart-{chart}
    keywords: [one, two]
    maintainers:
    - name: Someone
      url: https://example.com
    name: chart-{chart}
    sources: [https://example.com/src/chart-{chart}]
    urls: [https://charts.example.com/chart-{chart}-1.{version}.0.tgz]
    version: 1.{version}.0
"""


async def run(results: Results, workdir: Path) -> None:
    root = workdir / "repository"
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    index_bytes = await asyncio.to_thread(large_index, root)
    async with (
        make_world(workdir / "world") as world,
        ChartRepository(root) as repository,
        run_operator(world, workers=1, tag="large-index") as operator,
    ):
        before = (await operator.memory())["VmRSS"]
        probing = asyncio.Event()
        slowest = asyncio.create_task(probe(f"{operator.url}/healthz", probing))
        try:
            seconds = await _release(world, repository.url)
        finally:
            probing.set()
            worst = await slowest
        memory = await operator.memory()
    results.add(
        Figure(
            SCENARIO,
            f"index of {index_bytes / MIB:.0f} MiB: HelmRelease created to Ready",
            seconds,
            "s",
            note="download, parse and install of one release",
        ),
        Figure(
            SCENARIO,
            "operator peak RSS with the large index",
            memory["VmHWM"] / MIB,
            "MiB",
            target=TARGET_PEAK_MIB,
            note=f"RSS {before / MIB:.0f} MiB before, {memory['VmRSS'] / MIB:.0f} MiB after",
        ),
        Figure(
            SCENARIO,
            "slowest /healthz answer meanwhile",
            worst,
            "s",
            target=TARGET_HEALTHZ_SECONDS,
            note=f"asked every {PROBE_EVERY * 1000:.0f} ms from creation to Ready",
        ),
    )


async def _release(world: World, repository: str) -> float:
    body = world.helmrelease("large-index", {"replicaCount": 1})
    body["spec"]["chart"]["repository"] = repository
    started = time.monotonic()
    await world.request("POST", HELMRELEASE_PATH.format(namespace=NAMESPACE), body)
    await world.helmreleases.wait(
        lambda: is_ready(world.helmreleases.latest.get("large-index") or {}),
        within=300,
        what="the release of the large index Ready",
    )
    return time.monotonic() - started
