"""A slow repository holds a worker for seconds, not for the minutes its fetch may take.

A fetch still running after ``fetch_wait`` goes on without its caller, who is told the
chart is still being fetched (``StillFetching``, not a failure); asking again joins the
same fetch (one request to the repository), and once it is done the chart is there at
once, and whoever the fetcher tells of late fetches is told which chart it was. A fetch
is bounded in all by ``fetch_timeout``, whatever the repository does.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from aiohttp import web

from controller.api import ChartSpec
from controller.charts import ChartError, ChartFetcher, FetchedChart
from controller.settings import ChartSettings
from testkit import ChartRepository, wait_for

INDEX = "/index.yaml"


def held_index(repo: ChartRepository, repo_root: Path, release: asyncio.Event) -> list[str]:
    """The repository answers its index only once ``release`` is set; the list returned
    holds one entry per request received."""
    received: list[str] = []

    async def hold(request: web.Request) -> web.StreamResponse:
        received.append(request.path)
        await release.wait()
        return web.Response(body=(repo_root / "index.yaml").read_bytes())

    repo.faults[INDEX] = hold
    return received


async def test_a_slow_fetch_lets_its_caller_go_and_goes_on(
    repo: ChartRepository, repo_root: Path, settings: ChartSettings
) -> None:
    release = asyncio.Event()
    received = held_index(repo, repo_root, release)
    quick = dataclasses.replace(settings, fetch_wait=0.2)
    told: list[ChartSpec] = []
    async with ChartFetcher(quick, on_late_fetch=told.append) as fetcher:
        try:
            await still_fetching(fetcher, repo)
            await still_fetching(fetcher, repo)
            assert received == [INDEX]  # asking again joined the fetch under way
            assert told == []
        finally:
            release.set()
        await wait_for(lambda: len(told) == 2, what="told that the late fetch ended")
        assert told == [ChartSpec(repo.url, "podinfo", "6.7.1")] * 2  # once per caller

        async def fetched() -> FetchedChart | None:
            found = await fetcher.fetch(repo.url, "podinfo", "6.7.1")
            return found if isinstance(found, FetchedChart) else None

        chart = await wait_for(fetched, what="the chart once the repository answered")
        assert chart.version == "6.7.1"
    assert received == [INDEX]


async def still_fetching(fetcher: ChartFetcher, repo: ChartRepository) -> None:
    waiting = await fetcher.fetch(repo.url, "podinfo", "6.7.1")
    assert isinstance(waiting, ChartError)
    assert (waiting.reason, waiting.pending, waiting.retryable) == ("StillFetching", True, True)
    assert "waiting for chart podinfo 6.7.1 from" in waiting.message


async def test_a_fetch_is_bounded_in_all(
    repo: ChartRepository, repo_root: Path, settings: ChartSettings
) -> None:
    never = asyncio.Event()
    held_index(repo, repo_root, never)
    bounded = dataclasses.replace(settings, fetch_timeout=0.3, fetch_wait=60)
    try:
        async with ChartFetcher(bounded) as fetcher:
            error = await fetcher.fetch(repo.url, "podinfo", "6.7.1")
    finally:
        never.set()  # the repository's handler ends too
    assert isinstance(error, ChartError)
    assert (error.reason, error.retryable, error.pending) == ("RepositoryUnreachable", True, False)
    assert error.message.endswith("within 0.3s")
