"""Why a chart could not be obtained: an expected failure is a value, never an exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reason = Literal[
    "UnsupportedURL",
    "RepositoryUnreachable",
    "Unauthorized",
    "IndexInvalid",
    "ChartNotFound",
    "VersionNotFound",
    "DigestMismatch",
    "InvalidChart",
    "TooLarge",
    "DependenciesFailed",
    "StillFetching",
]


@dataclass(frozen=True)
class ChartError:
    """A failed chart fetch. ``message`` is safe to show (no credentials, URLs without
    userinfo or query); ``retryable`` says whether the same request may succeed later
    without any change to the HelmRelease or its secret."""

    reason: Reason
    message: str
    retryable: bool

    @property
    def pending(self) -> bool:
        """Not a failure yet: the fetch goes on, slower than a reconcile waits for it."""
        return self.reason == "StillFetching"
