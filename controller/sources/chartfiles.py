"""ChartFile sources: a file inside the packaged chart (``<chart>/<path>`` in the .tgz).

The path is relative to the chart's directory (the archive's top-level directory, named
after the chart, whether it came from a repository or from git); an absolute path or one
with a ``..`` component is refused before the
archive is opened, and only a regular file is read (never a link). Reading decompresses
the archive, so it runs in a thread; the chart was checked (and its unpacked size
bounded) when it was fetched.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

from controller.api import ValuesSource
from controller.sources.errors import Missing, SourceError, failure


def chart_path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a file inside a chart, or None when it can."""
    if path.startswith("/"):
        return "is an absolute path: a chart file's path is relative to the chart"
    if ".." in path.split("/"):
        return "leaves the chart (a .. component)"
    if not _parts(path):
        return "names no file"
    return None


def read_chart_file(
    source: ValuesSource, archive: Path, limit: int
) -> bytes | Missing | SourceError:
    """The bytes of ``source``'s file in the chart ``archive`` (blocking)."""
    problem = chart_path_problem(source.name)
    if problem is not None:
        return failure(source, "SourceInvalid", problem, retryable=False)
    wanted = _parts(source.name)
    found: bytes | SourceError | None = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:  # the last of duplicate entries wins, as when helm loads it
                if _parts(member.name)[1:] == wanted:  # below the chart's own directory
                    found = _read_member(source, tar, member, limit)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        reason = type(error).__name__
        problem = f"could not be read: the chart archive cannot be opened ({reason})"
        return failure(source, "SourceUnreachable", problem)
    if found is None:
        return Missing("SourceNotFound", "is not a file of the chart")
    return found


def _read_member(
    source: ValuesSource, tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int
) -> bytes | SourceError:
    if not member.isfile():
        return failure(source, "SourceInvalid", "is not a regular file", retryable=False)
    too_large = failure(
        source, "SourceTooLarge", f"is larger than the limit of {limit} bytes", retryable=False
    )
    if member.size > limit:
        return too_large
    file = tar.extractfile(member)
    if file is None:
        return failure(source, "SourceInvalid", "is not a regular file", retryable=False)
    with file:
        data = file.read(limit + 1)
    return too_large if len(data) > limit else data


def _parts(path: str) -> tuple[str, ...]:
    """A relative path's components, without empty and ``.`` ones."""
    return tuple(part for part in path.split("/") if part not in ("", "."))
