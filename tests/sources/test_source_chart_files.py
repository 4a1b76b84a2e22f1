"""ChartFile sources read from a real packaged chart (podinfo 6.7.1 of the test charts):
a file of the chart, the path written with ``./`` and doubled slashes, a file the chart
lacks (skipped when optional), absolute and ``..`` paths refused before the archive is
opened, the size limit, a link or directory entry, and a chart archive that is gone."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest
import yaml
from sourcestesting import PODINFO, composed, failed, release, source

from controller.api import SourceKind
from controller.kube.client import KubeClient
from controller.settings import SourceSettings
from controller.sources import ValuesResolver

FILE = SourceKind.CHART_FILE


def packaged(path: str) -> object:
    """A file of the podinfo chart, as its own YAML."""
    with tarfile.open(PODINFO, "r:gz") as tar:
        member = tar.extractfile(f"podinfo/{path}")
        assert member is not None
        return yaml.safe_load(member.read())


@pytest.mark.parametrize("path", ["values-prod.yaml", "./values-prod.yaml", ".//values-prod.yaml"])
async def test_a_file_of_the_chart_is_read(resolver: ValuesResolver, path: str) -> None:
    spec = release(source(FILE, path), values={"replicaCount": 3})

    result = composed(await resolver.compose(spec, PODINFO))

    expected = packaged("values-prod.yaml")
    assert isinstance(expected, dict)
    assert result.values == {**expected, "replicaCount": 3}


async def test_a_file_the_chart_lacks_is_not_found_and_skipped_when_optional(
    resolver: ValuesResolver,
) -> None:
    required = source(FILE, "overrides/environment-prod.yaml")
    optional = dataclasses.replace(required, optional=True)

    error = failed(await resolver.compose(release(required), PODINFO), "SourceNotFound")
    skipped = composed(await resolver.compose(release(optional), PODINFO))

    assert error.retryable
    assert error.message == f"{required} is not a file of the chart"
    assert skipped.values == {}
    assert skipped.notes == (f"optional {optional} is not a file of the chart: skipped",)


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../podinfo/values.yaml", "leaves the chart (a .. component)"),
        ("templates/../../podinfo/values.yaml", "leaves the chart (a .. component)"),
        ("..", "leaves the chart (a .. component)"),
        (
            "/podinfo/values.yaml",
            "is an absolute path: a chart file's path is relative to the chart",
        ),
        ("/etc/passwd", "is an absolute path: a chart file's path is relative to the chart"),
        ("./", "names no file"),
    ],
)
@pytest.mark.parametrize("optional", [False, True])
async def test_paths_leaving_the_chart_are_refused_before_reading_it(
    resolver: ValuesResolver, tmp_path: Path, path: str, problem: str, optional: bool
) -> None:
    escaping = source(FILE, path, optional=optional)

    # The archive does not even exist: the path is refused before it is looked for.
    result = await resolver.compose(release(escaping), tmp_path / "absent.tgz")

    error = failed(result, "SourceInvalid")
    assert not error.retryable
    assert error.message == f"{escaping} {problem}"


async def test_a_file_over_the_limit_is_refused(client: KubeClient) -> None:
    async with ValuesResolver(client, SourceSettings(max_size=1000)) as resolver:
        spec = release(source(FILE, "values.yaml"))  # 4300 bytes
        error = failed(await resolver.compose(spec, PODINFO), "SourceTooLarge")

    assert not error.retryable  # the chart's files change with its version, in the spec
    assert error.message.endswith("is larger than the limit of 1000 bytes")


@pytest.mark.parametrize("entry", ["link", "directory"])
async def test_only_regular_files_are_read(
    resolver: ValuesResolver, tmp_path: Path, entry: str
) -> None:
    archive = tmp_path / "podinfo.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        chart = tarfile.TarInfo("podinfo/Chart.yaml")
        data = b"name: podinfo\nversion: 6.7.1\n"
        chart.size = len(data)
        tar.addfile(chart, io.BytesIO(data))
        odd = tarfile.TarInfo("podinfo/prod.yaml")
        if entry == "link":
            odd.type, odd.linkname = tarfile.SYMTYPE, "/etc/passwd"
        else:
            odd.type = tarfile.DIRTYPE
        tar.addfile(odd)

    error = failed(
        await resolver.compose(release(source(FILE, "prod.yaml")), archive), "SourceInvalid"
    )

    assert error.message.endswith("is not a regular file")


async def test_a_chart_archive_that_is_gone_is_unreachable(
    resolver: ValuesResolver, tmp_path: Path
) -> None:
    gone = source(FILE, "values.yaml")

    result = await resolver.compose(release(gone), tmp_path / "evicted.tgz")

    error = failed(result, "SourceUnreachable")
    assert error.retryable  # fetching the chart again brings it back
    assert error.message == (
        f"{gone} could not be read: the chart archive cannot be opened (FileNotFoundError)"
    )
