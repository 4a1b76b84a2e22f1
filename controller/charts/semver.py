"""Semantic versions and version constraints with the semantics Helm uses (Masterminds semver v3).

Helm resolves ``--version`` against a repository index with Masterminds/semver v3.4. This
module reproduces its rules rather than the npm ones, quirks included, so a HelmRelease
resolves to the same chart version here as with ``helm pull``:

- versions may carry a leading ``v`` and omit minor/patch (``v1.2`` is ``1.2.0``);
- constraint terms: ``=`` (or none), ``!=``, ``>``, ``<``, ``>=``/``=>``, ``<=``/``=<``,
  ``~``/``~>``, ``^``, wildcards ``x``/``X``/``*``, hyphen ranges ``1.2 - 1.4.5``;
  terms are AND-ed by spaces or commas and OR-ed by ``||``;
- a pre-release version matches an AND group only when some term of that group names a
  pre-release (``>=1.0.0-0`` lets them in; ``^*`` matches 0.0.x only, a Masterminds quirk);
- build metadata never takes part in ordering or equality.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

_IDENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION_RE = re.compile(
    rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_IDENT}))?(?:\+({_IDENT}))?"
)
# A version inside a constraint: numbers may be wildcards.
_WILD = r"[0-9xX*]+"
_CONSTRAINT_VERSION = rf"v?{_WILD}(?:\.{_WILD})?(?:\.{_WILD})?(?:-{_IDENT})?(?:\+{_IDENT})?"
_CONSTRAINT_VERSION_RE = re.compile(
    rf"v?({_WILD})(?:\.({_WILD}))?(?:\.({_WILD}))?(?:-({_IDENT}))?(?:\+({_IDENT}))?"
)
_OPERATOR = r"(?:!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?"
_TERM_RE = re.compile(rf"({_OPERATOR})\s*({_CONSTRAINT_VERSION})")
# Possessive quantifiers and one separator between terms (never whitespace on both sides
# of a term): user input must not make this backtrack polynomially on the event loop.
_TERM = rf"{_OPERATOR}\s*+{_CONSTRAINT_VERSION}"
_GROUP_RE = re.compile(rf"\s*+{_TERM}(?:(?:\s*+,\s*+|\s++){_TERM})*+\s*+")
_HYPHEN_RE = re.compile(rf"\s*({_CONSTRAINT_VERSION})\s+-\s+({_CONSTRAINT_VERSION})\s*")
_WILDCARDS = frozenset({"x", "X", "*"})
MAX_CONSTRAINT_LENGTH = 256
"""Longer constraints are rejected (no real one is this long; it bounds regex work)."""

PrereleasePart = tuple[int, int] | tuple[int, str]


def _prerelease_key(prerelease: str) -> tuple[PrereleasePart, ...]:
    """SemVer precedence of pre-release identifiers: numbers numerically, below words."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in prerelease.split("."))


@dataclass(frozen=True, order=True)
class Version:
    """A parsed version; compares by SemVer precedence, ignoring build metadata."""

    major: int
    minor: int
    patch: int
    # A release sorts after every pre-release of the same major.minor.patch.
    _release_rank: int = field(repr=False)
    _prerelease_key: tuple[PrereleasePart, ...] = field(repr=False)
    prerelease: str = field(compare=False)
    text: str = field(compare=False)
    """The version exactly as written."""


def parse_version(text: str) -> Version | None:
    """The version written in ``text``, or None when it is not a version Helm accepts."""
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, prerelease, _build = match.groups()
    if prerelease and any(
        part.isdigit() and len(part) > 1 and part[0] == "0" for part in prerelease.split(".")
    ):
        return None  # numeric pre-release identifiers must not have leading zeros
    return Version(
        major=int(major),
        minor=int(minor or 0),
        patch=int(patch or 0),
        _release_rank=0 if prerelease else 1,
        _prerelease_key=_prerelease_key(prerelease) if prerelease else (),
        prerelease=prerelease or "",
        text=text,
    )


@dataclass(frozen=True)
class _Term:
    """One comparison such as ``>=1.2``; ``given`` counts the numbers written (0 for ``*``)."""

    operator: str
    version: Version
    given: int

    @property
    def wild(self) -> bool:
        return self.given < 3


def _equal(v: Version, t: _Term) -> bool:
    return _tilde(v, t) if t.wild else v == t.version


def _not_equal(v: Version, t: _Term) -> bool:
    c = t.version
    if not t.wild:
        return v != c
    if v.major != c.major:
        return True
    if t.given == 1:
        return False
    if v.minor != c.minor:
        return True
    if t.given == 2:
        return v.prerelease != c.prerelease
    return v != c  # only `!=*` gets here: c is 0.0.0


def _greater(v: Version, t: _Term) -> bool:
    c = t.version
    if t.given in (1, 2) and v.major != c.major:
        return v.major > c.major
    if t.given == 1:
        return False  # >1 needs 2.0.0 or higher
    if t.given == 2:
        return v.minor > c.minor  # >1.2 needs 1.3.0 or higher
    return v > c


def _less(v: Version, t: _Term) -> bool:
    return v < t.version


def _greater_equal(v: Version, t: _Term) -> bool:
    return v >= t.version


def _less_equal(v: Version, t: _Term) -> bool:
    c = t.version
    if not t.wild:
        return v <= c
    if v.major > c.major:
        return False
    return not (v.major == c.major and v.minor > c.minor and t.given != 1)


def _tilde(v: Version, t: _Term) -> bool:
    c = t.version
    if v < c:
        return False
    if (c.major, c.minor, c.patch) == (0, 0, 0) and t.given in (0, 3):
        return True  # ~* and ~0.0.0 accept everything
    if v.major != c.major:
        return False
    return v.minor == c.minor or t.given == 1


def _caret(v: Version, t: _Term) -> bool:
    c = t.version
    if v < c:
        return False
    if c.major > 0 or t.given == 1:
        return v.major == c.major
    if v.major > 0:
        return False  # also makes ^* accept 0.0.x only, as Masterminds v3.4 does
    if c.minor > 0 or t.given == 2:
        return v.minor == c.minor
    if v.minor > 0:
        return False
    return v.patch == c.patch


_CHECKS: dict[str, Callable[[Version, _Term], bool]] = {
    "": _equal,
    "=": _equal,
    "!=": _not_equal,
    ">": _greater,
    "<": _less,
    ">=": _greater_equal,
    "=>": _greater_equal,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _parse_term(operator: str, text: str) -> _Term | None:
    match = _CONSTRAINT_VERSION_RE.fullmatch(text)
    if match is None:
        return None
    numbers = [n for n in match.groups()[:3] if n is not None]
    given = next((i for i, n in enumerate(numbers) if n in _WILDCARDS), len(numbers))
    if given == 3:
        version = parse_version(text)
    else:
        padded = ".".join([*numbers[:given], *["0"] * (3 - given)])
        prerelease = match.group(4)
        version = parse_version(f"{padded}-{prerelease}" if prerelease else padded)
    if version is None:
        return None
    return _Term(operator, version, given)


@dataclass(frozen=True)
class _Group:
    terms: tuple[_Term, ...]
    allows_prerelease: bool

    def matches(self, v: Version) -> bool:
        if v.prerelease and not self.allows_prerelease:
            return False
        return all(_CHECKS[t.operator](v, t) for t in self.terms)


@dataclass(frozen=True)
class Constraint:
    """A parsed constraint: OR of AND groups of terms."""

    text: str
    groups: tuple[_Group, ...]

    def allows(self, version: Version) -> bool:
        return any(group.matches(version) for group in self.groups)


def parse_constraint(text: str) -> Constraint | None:
    """The constraint written in ``text`` (empty means ``*``), or None when it is malformed."""
    if len(text) > MAX_CONSTRAINT_LENGTH:
        return None
    rewritten = _HYPHEN_RE.sub(lambda m: f">= {m.group(1)}, <= {m.group(2)}", text or "*")
    groups = []
    for alternative in rewritten.split("||"):
        if _GROUP_RE.fullmatch(alternative) is None:
            return None
        terms = []
        for match in _TERM_RE.finditer(alternative):
            term = _parse_term(match.group(1), match.group(2))
            if term is None:
                return None
            terms.append(term)
        allows_prerelease = any(t.version.prerelease for t in terms)
        groups.append(_Group(tuple(terms), allows_prerelease))
    return Constraint(text, tuple(groups))


T = TypeVar("T")


def select(candidates: Sequence[T], requested: str, version_of: Callable[[T], str]) -> T | None:
    """The candidate Helm picks for ``requested``: an exact textual match first, else the
    highest version satisfying the constraint. None when nothing matches.

    Raises ValueError when ``requested`` is not a valid constraint.
    """
    if requested:
        for candidate in candidates:
            if version_of(candidate) == requested:
                return candidate
    constraint = parse_constraint(requested)
    if constraint is None:
        raise ValueError(f"invalid version constraint {requested!r}")
    best: tuple[Version, T] | None = None
    for candidate in candidates:
        version = parse_version(version_of(candidate))
        if (
            version is not None
            and constraint.allows(version)
            and (best is None or version > best[0])
        ):
            best = (version, candidate)
    return best[1] if best is not None else None
