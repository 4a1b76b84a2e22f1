"""A chart obtained: where it is on disk and what it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FetchedChart:
    path: Path
    """The packaged chart in the cache; it stays there at least a minute after the fetch."""
    digest: str
    """sha256 hex digest of the tarball."""
    name: str
    version: str
    """The version the constraint resolved to, as written in the index."""
    repository: str
    """The repository URL without trailing slash (a git chart: its repository's URL)."""
    commit: str | None = None
    """A chart from git: the commit it was taken from."""

    @property
    def revision(self) -> str:
        """helm-operator's ``status.revision``: the chart version, or a git chart's commit."""
        return self.commit or self.version
