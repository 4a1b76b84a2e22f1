"""Charts from git with the real ``git`` CLI and a real git server (smart HTTP) on loopback.

A chart directory of a commit becomes a packaged chart whose digest is the directory's
content alone: a commit elsewhere keeps it, a commit in it changes it. A ref is resolved
once per poll however many releases ask, the mirror fetched once; branches, tags and
commits; dependencies built by the real helm (unless skipped); credentials from a Secret,
kept in a private home; each failure a ChartError with the reason a status can show.
"""

from __future__ import annotations

import asyncio
import stat
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from controller.api import GitChartSpec
from controller.charts import ChartError, ChartFetcher, FetchedChart, GitAuth
from controller.charts import git as git_stage
from controller.helm import HelmRunner
from controller.settings import ChartSettings, GitSettings
from testkit import (
    CHARTS_DIR,
    ChartRepository,
    GitServer,
    chart_files,
    commit_files,
    init_bare,
    tag,
)

CHART = "charts/podinfo"
USER, PASSWORD = "reader", "s3cret-git-password"


def podinfo_files(prefix: str = CHART) -> dict[str, bytes | None]:
    """podinfo 6.7.1's files, as committed under ``prefix``."""
    return chart_files(CHARTS_DIR / "podinfo-6.7.1.tgz", prefix)


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    repo = init_bare(tmp_path / "served", "charts.git")
    commit_files(repo, {**podinfo_files(), "README.md": b"charts\n"}, "podinfo")
    return repo


@pytest.fixture
async def server(tmp_path: Path, bare: Path) -> AsyncIterator[GitServer]:
    async with GitServer(bare.parent) as served:
        yield served


@pytest.fixture
async def fetcher(tmp_path: Path) -> AsyncIterator[ChartFetcher]:
    settings = ChartSettings(cache_dir=tmp_path / "cache")
    async with ChartFetcher(settings, git=GitSettings(timeout=20)) as charts:
        yield charts


def source(server: GitServer, **changes: str) -> GitChartSpec:
    fields = {"url": f"{server.url}/charts.git", "path": CHART, **changes}
    return GitChartSpec(**fields)


async def fetched(
    fetcher: ChartFetcher, spec: GitChartSpec, auth: GitAuth | None = None
) -> FetchedChart:
    chart = await fetcher.git.fetch(spec, auth)
    assert isinstance(chart, FetchedChart), chart
    return chart


async def commit(bare: Path, files: dict[str, bytes | None], message: str) -> str:
    return await asyncio.to_thread(commit_files, bare, files, message)


def refs_requests(server: GitServer) -> int:
    return server.count("/charts.git/info/refs")


async def test_a_chart_directory_becomes_a_packaged_chart(
    server: GitServer, fetcher: ChartFetcher, bare: Path
) -> None:
    chart = await fetched(fetcher, source(server))
    head = await commit(bare, {}, "nothing")  # the same tree: head moved, chart did not
    assert (chart.name, chart.version) == ("podinfo", "6.7.1")
    assert chart.commit is not None
    assert chart.revision == chart.commit != head
    with tarfile.open(chart.path) as archive:
        names = archive.getnames()
        assert "podinfo/Chart.yaml" in names
        assert all(name.startswith("podinfo/") for name in names)
        assert {member.mtime for member in archive} == {0}


async def test_a_commit_elsewhere_keeps_the_digest_one_in_the_chart_changes_it(
    server: GitServer, fetcher: ChartFetcher, bare: Path
) -> None:
    first = await fetched(fetcher, source(server))
    elsewhere = await commit(bare, {"README.md": b"changed\n"}, "docs")
    fetcher.git.refresh()
    second = await fetched(fetcher, source(server))
    assert (second.commit, second.digest) == (elsewhere, first.digest)

    inside = await commit(bare, {f"{CHART}/values.yaml": b"replicaCount: 2\n"}, "chart")
    fetcher.git.refresh()
    third = await fetched(fetcher, source(server))
    assert third.commit == inside
    assert third.digest != first.digest


async def test_a_ref_is_resolved_once_per_poll_for_every_release(
    server: GitServer, fetcher: ChartFetcher, bare: Path
) -> None:
    charts = await asyncio.gather(*(fetched(fetcher, source(server)) for _ in range(50)))
    assert len({chart.digest for chart in charts}) == 1
    first_poll = refs_requests(server)
    assert first_poll == 2  # one ls-remote, one fetch of the new mirror
    await asyncio.gather(*(fetched(fetcher, source(server)) for _ in range(50)))
    assert refs_requests(server) == first_poll  # same poll: nothing asked again

    fetcher.git.refresh()
    await asyncio.gather(*(fetched(fetcher, source(server)) for _ in range(50)))
    assert refs_requests(server) == first_poll + 1  # unchanged: one ls-remote, no fetch


async def test_a_packaged_chart_is_read_once_per_poll_for_every_release(
    server: GitServer, fetcher: ChartFetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its name and version come from one read of the package, not one per release."""
    reads: list[Path] = []
    read = git_stage._chart_identity

    def counted(path: Path) -> tuple[str, str]:
        reads.append(path)
        return read(path)

    monkeypatch.setattr(git_stage, "_chart_identity", counted)
    for poll in range(2):
        fetcher.git.refresh()
        charts = await asyncio.gather(*(fetched(fetcher, source(server)) for _ in range(50)))
        assert {(chart.name, chart.version) for chart in charts} == {("podinfo", "6.7.1")}
        assert len(reads) == poll + 1


async def test_branches_tags_and_commits(
    server: GitServer, fetcher: ChartFetcher, bare: Path
) -> None:
    first = await fetched(fetcher, source(server))
    assert first.commit is not None
    await asyncio.to_thread(tag, bare, "v1", first.commit, "annotated")
    newer = await commit(bare, {f"{CHART}/values.yaml": b"replicaCount: 3\n"}, "newer")
    await asyncio.to_thread(
        commit_files,
        bare,
        {**podinfo_files(), f"{CHART}/values.yaml": b"x: 1\n"},
        "b",
        branch="dev",
    )
    fetcher.git.refresh()
    assert (await fetched(fetcher, source(server, ref="v1"))).commit == first.commit
    assert (await fetched(fetcher, source(server, ref="master"))).commit == newer
    assert (await fetched(fetcher, source(server, ref=first.commit[:10]))).commit == first.commit
    dev = await fetched(fetcher, source(server, ref="dev"))
    assert dev.commit not in (first.commit, newer)


@pytest.mark.parametrize(
    ("changes", "reason", "words"),
    [
        ({"ref": "no-such-branch"}, "VersionNotFound", "no branch or tag no-such-branch"),
        ({"ref": "deadbeef"}, "VersionNotFound", "no commit deadbeef"),
        ({"path": "charts/missing"}, "ChartNotFound", "no charts/missing in commit"),
        ({"path": "charts"}, "InvalidChart", "no Chart.yaml"),
    ],
)
async def test_what_cannot_be_a_chart_says_why(
    server: GitServer, fetcher: ChartFetcher, changes: dict[str, str], reason: str, words: str
) -> None:
    error = await fetcher.git.fetch(source(server, **changes), None)
    assert isinstance(error, ChartError)
    assert (error.reason, words in error.message) == (reason, True), error


async def test_an_unreachable_repository_is_retried(fetcher: ChartFetcher, tmp_path: Path) -> None:
    async with GitServer(tmp_path) as gone:
        url = f"{gone.url}/charts.git"
    error = await fetcher.git.fetch(GitChartSpec(url=url, path=CHART), None)
    assert isinstance(error, ChartError)
    assert (error.reason, error.retryable) == ("RepositoryUnreachable", True)


async def test_credentials_stay_in_a_private_home(
    tmp_path: Path, bare: Path, fetcher: ChartFetcher
) -> None:
    async with GitServer(bare.parent, credentials=(USER, PASSWORD)) as private:
        refused = await fetcher.git.fetch(source(private), None)
        assert isinstance(refused, ChartError)
        assert refused.reason == "Unauthorized", refused
        wrong = await fetcher.git.fetch(source(private), GitAuth(USER, "wrong"))
        assert isinstance(wrong, ChartError)
        assert PASSWORD not in wrong.message
        assert "wrong" not in wrong.message
        chart = await fetched(fetcher, source(private), GitAuth(USER, PASSWORD))
    assert chart.name == "podinfo"
    stored = [
        path
        for path in (tmp_path / "cache-git").rglob("*")
        if path.is_file() and PASSWORD.encode() in path.read_bytes()
    ]
    assert [path.name for path in stored] == [".git-credentials"]
    assert stat.S_IMODE(stored[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(stored[0].parent.stat().st_mode) == 0o700
    assert PASSWORD not in repr(GitAuth(USER, PASSWORD))


async def test_a_chart_too_large_is_refused(server: GitServer, tmp_path: Path, bare: Path) -> None:
    await commit(bare, {f"{CHART}/big.bin": bytes(2 << 20)}, "big")
    settings = ChartSettings(cache_dir=tmp_path / "small", max_chart_size=1 << 20)
    async with ChartFetcher(settings, git=GitSettings()) as small:
        error = await small.git.fetch(source(server), None)
    assert isinstance(error, ChartError)
    assert "more than" in error.message


WRAPPER = """apiVersion: v2
name: wrapper
version: 0.1.0
dependencies:
  - name: podinfo
    version: {version}
    repository: {repository}
"""


async def test_dependencies_are_built_unless_skipped(
    server: GitServer,
    bare: Path,
    tmp_path: Path,
    runner: HelmRunner,
    chart_repository: ChartRepository,
) -> None:
    chart_yaml = WRAPPER.format(version="6.7.1", repository=chart_repository.url).encode()
    await commit(bare, {"charts/wrapper/Chart.yaml": chart_yaml}, "wrapper")
    settings = ChartSettings(cache_dir=tmp_path / "deps")
    async with ChartFetcher(settings, build_dependencies=runner.build_dependencies) as charts:
        built = await fetched(charts, source(server, path="charts/wrapper"))
        skipped = await fetched(
            charts, GitChartSpec(f"{server.url}/charts.git", "charts/wrapper", skip_dep_update=True)
        )
        missing = WRAPPER.format(version="99.0.0", repository=chart_repository.url).encode()
        await commit(bare, {"charts/wrapper/Chart.yaml": missing}, "a version that is not there")
        charts.git.refresh()
        error = await charts.git.fetch(source(server, path="charts/wrapper"), None)
    with tarfile.open(built.path) as archive:
        assert "wrapper/charts/podinfo-6.7.1.tgz" in archive.getnames()
    with tarfile.open(skipped.path) as archive:
        assert not [name for name in archive.getnames() if name.startswith("wrapper/charts/")]
    assert isinstance(error, ChartError)
    assert (error.reason, error.retryable) == ("DependenciesFailed", True)
    assert "99.0.0" in error.message
