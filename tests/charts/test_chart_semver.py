"""Version resolution with Helm's (Masterminds semver v3.4) rules.

A table of constraints whose expected answers were produced by ``helm pull`` against an
index of these versions, and a hypothesis property: the resolved version satisfies the
constraint (per an independent reading of the operators) and no higher one does.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.charts.semver import (
    MAX_CONSTRAINT_LENGTH,
    parse_constraint,
    parse_version,
    select,
)

VERSIONS = [
    "0.0.1", "0.0.3", "0.1.0", "0.1.5", "0.2.0", "0.2.1-beta.1", "1.0.0-alpha",
    "1.0.0-alpha.1", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.3", "1.2.4-beta",
    "1.2.5", "1.3.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "2.1.0", "2.1.1+build.5",
    "3.0.0-beta.2", "v3.1.0", "4.0.0-0",
]  # fmt: skip

HELM_ANSWERS = [
    ("", "v3.1.0"),
    ("*", "v3.1.0"),
    ("x", "v3.1.0"),
    ("x.x.x", "v3.1.0"),
    ("^*", None),  # Masterminds quirk: ^* only matches 0.0.x
    ("^0", "0.2.0"),
    ("^0.0", "0.0.3"),
    ("^0.0.1", "0.0.1"),
    ("^0.1", "0.1.5"),
    ("^0.1.2", "0.1.5"),
    ("^0.2.1-0", "0.2.1-beta.1"),
    ("^1", "1.10.0"),
    ("^1.2.3", "1.10.0"),
    ("^1.0.0-0", "1.10.0"),
    ("^1 || ^2", "2.1.1+build.5"),
    ("~0", "0.2.0"),
    ("~0.0", "0.0.3"),
    ("~1", "1.10.0"),
    ("~1.2", "1.2.5"),
    ("~>1.2", "1.2.5"),
    ("~1.2.3", "1.2.5"),
    ("~1.2.4-0", "1.2.5"),
    ("~*", "v3.1.0"),
    ("1", "1.10.0"),
    ("1.x", "1.10.0"),
    ("1.X", "1.10.0"),
    ("1.2", "1.2.5"),
    ("1.2.x", "1.2.5"),
    ("=1.2", "1.2.5"),
    ("v1.2", "1.2.5"),
    ("=v1.2.3", "1.2.3"),
    ("2.1.1", "2.1.1+build.5"),  # build metadata is ignored
    ("3.1.0", "v3.1.0"),
    ("v3.1.0", "v3.1.0"),
    ("1.0.0-alpha", "1.0.0-alpha"),
    ("!=2.1.0", "v3.1.0"),
    ("!=1.2", "v3.1.0"),
    ("!=*", "v3.1.0"),
    (">1", "v3.1.0"),
    (">1.2", "v3.1.0"),
    (">*", "v3.1.0"),
    (">=3", "v3.1.0"),
    ("<1.2", "1.1.0"),
    ("<2", "1.10.0"),
    ("<1.0.0", "0.2.0"),
    ("<3.0.0-0", "2.1.1+build.5"),
    ("<=1.2", "1.2.5"),
    ("<=1", "1.10.0"),
    ("<=*", "0.0.3"),
    (">=1.0 <2.0", "1.10.0"),
    (">=1.0, <2.0", "1.10.0"),
    ("=>1.1 =<1.3", "1.3.0"),
    ("1.0 - 1.2.4", "1.2.3"),
    ("1.2 - 2", "2.1.1+build.5"),
    ("1.2.3 - 1.3", "1.3.0"),
    (">=1.0.0-0", "4.0.0-0"),
    (">=2.0.0-rc.1", "4.0.0-0"),
    (">1.0.0-alpha <2", "2.0.0-rc.1"),  # one pre-release term opens the whole AND group
    (">=1.0.0-alpha, <1.0.1", "1.0.0"),
    (">0.1 <1.0.0-rc.2", "1.0.0-rc.1"),
    (">=1.0.0-0 !=1.0.0", "4.0.0-0"),
]


@pytest.mark.parametrize(("constraint", "expected"), HELM_ANSWERS)
def test_resolves_like_helm(constraint: str, expected: str | None) -> None:
    assert select(VERSIONS, constraint, lambda v: v) == expected


@pytest.mark.parametrize("constraint", [">>1", "1.2.3.4", "^", "1 ||", "abc", "~1.2 <", "x" * 300])
def test_malformed_constraints_are_rejected(constraint: str) -> None:
    assert parse_constraint(constraint) is None
    with pytest.raises(ValueError, match="invalid version constraint"):
        select(VERSIONS, constraint, lambda v: v)


# Near the length cap, shaped to make a backtracking group pattern take minutes (it ran
# in polynomial time with whitespace that could be split between a term and a separator):
# each must be rejected at once, so a regression hangs the suite until its timeout.
ADVERSARIAL = [
    "1" + " " * 120 + "1" + " " * 120 + "!",
    "1" + " ," * 120 + "!",
    "1 " * 127 + "!",
    ">= 1.2.3-a.b " * 19 + "!",
    " " * 255 + "!",
]


@pytest.mark.parametrize("constraint", ADVERSARIAL)
def test_adversarial_constraints_are_rejected_without_backtracking(constraint: str) -> None:
    assert len(constraint) <= MAX_CONSTRAINT_LENGTH
    assert parse_constraint(constraint) is None


@pytest.mark.parametrize(
    "constraint",
    [" >= 1.0.0    <= 3.0.0  ", ">=0.1 ,<3  , !=2.0.0   ~2", " 1.2.3 ||  ^2 ", "1 - 2 , 3"],
)
def test_spacing_around_terms_and_separators_is_accepted(constraint: str) -> None:
    assert parse_constraint(constraint) is not None


def test_exact_text_wins_even_when_it_is_not_a_constraint_match() -> None:
    assert select(["1.0.0", "2.0.0-beta"], "2.0.0-beta", lambda v: v) == "2.0.0-beta"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("1.2.3", (1, 2, 3, "")),
        ("v1.2", (1, 2, 0, "")),
        ("1", (1, 0, 0, "")),
        ("01.2.3", (1, 2, 3, "")),
        ("1.2.3-rc.1+build", (1, 2, 3, "rc.1")),
    ],
)
def test_parses_versions_leniently(text: str, parts: tuple[int, int, int, str]) -> None:
    version = parse_version(text)
    assert version is not None
    assert (version.major, version.minor, version.patch, version.prerelease) == parts
    assert version.text == text


@pytest.mark.parametrize("text", ["", "1.2.3.4", "a.b.c", "1.2.3-", "1.2.3-01", "1.2.3+", " 1.2"])
def test_rejects_invalid_versions(text: str) -> None:
    assert parse_version(text) is None


def test_orders_by_semver_precedence() -> None:
    ordered = [
        "1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-alpha", "1.0.0-alpha.1",
        "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",
        "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0",
    ]  # fmt: skip
    parsed = [parse_version(v) for v in reversed(ordered)]
    assert [v.text for v in sorted(p for p in parsed if p is not None)] == ordered
    assert parse_version("1.0.0+a") == parse_version("1.0.0+b")


# --- property: the resolved version is the highest that satisfies the constraint --------

PRERELEASES = ["", "", "", "-0", "-alpha", "-alpha.1", "-beta", "-rc.1"]
OPERATORS = ["", "=", "!=", ">", "<", ">=", "<=", "~", "^"]

versions_st = st.builds(
    lambda ma, mi, pa, pre: f"{ma}.{mi}.{pa}{pre}",
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from(PRERELEASES),
)
terms_st = st.tuples(st.sampled_from(OPERATORS), versions_st)
groups_st = st.lists(st.lists(terms_st, min_size=1, max_size=2), min_size=1, max_size=2)

Key = tuple[int, int, int, tuple[tuple[int, int | str], ...]]


def key(text: str) -> Key:
    """SemVer precedence, written independently of the module under test."""
    core, _, pre = text.partition("-")
    major, minor, patch = (int(n) for n in core.split("."))
    if not pre:
        return (major, minor, patch, ((2, 0),))
    parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return (major, minor, patch, parts)


def term_allows(op: str, bound: str, version: str) -> bool:
    v, b = key(version), key(bound)
    major, minor, patch = b[:3]
    if op in ("", "="):
        return v == b
    if op == "!=":
        return v != b
    if op == ">":
        return v > b
    if op == "<":
        return v < b
    if op == ">=":
        return v >= b
    if op == "<=":
        return v <= b
    if op == "~" and (major, minor, patch) == (0, 0, 0):
        return b <= v  # ~0.0.0 means any version
    if op == "~":
        return b <= v < (major, minor + 1, 0, ((0, 0),))
    if major > 0:  # ^
        return b <= v < (major + 1, 0, 0, ((0, 0),))
    if minor > 0:
        return b <= v < (0, minor + 1, 0, ((0, 0),))
    return b <= v < (0, 0, patch + 1, ((0, 0),))


def group_allows(group: list[tuple[str, str]], version: str) -> bool:
    if "-" in version and not any("-" in bound for _, bound in group):
        return False  # pre-releases only when the group names one
    return all(term_allows(op, bound, version) for op, bound in group)


@given(st.lists(versions_st, unique=True, max_size=12), groups_st)
def test_resolved_version_is_highest_satisfying(
    versions: list[str], groups: list[list[tuple[str, str]]]
) -> None:
    constraint = " || ".join(" ".join(op + v for op, v in group) for group in groups)
    satisfying = [v for v in versions if any(group_allows(g, v) for g in groups)]

    resolved = select(versions, constraint, lambda v: v)

    if constraint in versions:
        assert resolved == constraint
    elif satisfying:
        assert resolved == max(satisfying, key=key)
    else:
        assert resolved is None
