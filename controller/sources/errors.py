"""Why a source of values could not be used: an expected failure is a value, never an exception.

Messages name the source (``ValuesSource.__str__``, a URL without its credentials, query
or fragment) and never hold any of its content: a source may hold secrets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from controller.api import SourceKind, ValuesSource

Reason = Literal[
    "SourceNotFound",
    "SourceKeyNotFound",
    "SourceInvalid",
    "SourceUnreachable",
    "SourceTooLarge",
    "CrossNamespaceRef",
]


@dataclass(frozen=True)
class SourceError:
    """A source of ``spec.valuesFrom`` that could not be used; the release is not touched.

    ``retryable``: the same spec may succeed later without any change to it (the object
    may be created, the server may come back, the content may be fixed in place); False
    when only a change of the HelmRelease can help (a reference refused by policy, a
    target path or chart file path that cannot work).
    """

    source: ValuesSource
    reason: Reason
    message: str
    retryable: bool


@dataclass(frozen=True)
class Missing:
    """A source (or its key) that does not exist: skipped when the source is optional."""

    reason: Literal["SourceNotFound", "SourceKeyNotFound"]
    why: str
    """What is missing, completing the source's name: ``does not exist in namespace x``."""


def name_of(source: ValuesSource) -> str:
    """How messages and notes name ``source``: ``str(source)``, a URL without credentials."""
    if source.kind is SourceKind.URL:
        return str(dataclasses.replace(source, name=safe_url(source.name)))
    return str(source)


def safe_url(url: str) -> str:
    """``url`` fit for messages and logs: no userinfo, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a malformed URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}{parts.path}"


def failure(
    source: ValuesSource, reason: Reason, problem: str, *, retryable: bool = True
) -> SourceError:
    """A SourceError whose message is the source's name followed by ``problem``."""
    return SourceError(source, reason, f"{name_of(source)} {problem}", retryable)
