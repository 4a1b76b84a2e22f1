"""A source's content made values, without I/O: YAML read as helm reads values files and
made what JSON holds (dates kept as written, keys as strings; .nan, binary data and sets
refused), alias bombs and deep nesting refused, the phrases problems are told with (never
content), target paths split (escaped dots, empty keys, list indexes) and one value typed
as ``helm --set`` types it."""

from __future__ import annotations

from typing import Any

import pytest

from controller.sources.content import (
    MAX_DEPTH,
    parse_target_path,
    parse_values,
    typed_value,
    value_at,
)

NODES = 10_000


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("a: 1\nb: [x, {c: d}]\n", {"a": 1, "b": ["x", {"c": "d"}]}),
        (
            "date: 2024-01-02\nwhen: 2024-01-02T03:04:05Z\n",
            {"date": "2024-01-02", "when": "2024-01-02T03:04:05Z"},
        ),
        ("explicit: !!timestamp 2024-01-02\n", {"explicit": "2024-01-02"}),
        ("on: yes\noff: no\n", {"true": True, "false": False}),
        ("1: one\n2.5: two\nnull: three\n", {"1": "one", "2.5": "two", "null": "three"}),
        ("mode: 0755\nfloat: 1.5e+3\n", {"mode": 493, "float": 1500.0}),
        (
            "base: &base {a: 1, b: 2}\nderived: {<<: *base, b: 3}\n",
            {"base": {"a": 1, "b": 2}, "derived": {"a": 1, "b": 3}},
        ),
        ("\ufeffa: 1\n", {"a": 1}),
        ("", {}),
        ("~\n", {}),
        ("# only a comment\n", {}),
    ],
)
def test_yaml_documents_become_plain_values(document: str, expected: dict[str, Any]) -> None:
    assert parse_values(document.encode(), max_nodes=NODES) == expected


BOMB = b"""
a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
"""


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"a: [1, 2\n", "is not valid YAML (line 2, column 1)"),
        (b"a: 1\n---\nb: 2\n", "is not valid YAML (line 2, column 1)"),
        (b"a: b: c\n", "is not valid YAML (line 1, column 5)"),
        (b"- 1\n", "is not a map of values but a list"),
        (b"text\n", "is not a map of values but a string"),
        (b"true\n", "is not a map of values but a boolean"),
        (b"a: .inf\n", "holds .nan or .inf, which values cannot hold"),
        (b"a: !!binary aGk=\n", "holds binary data, which values cannot hold"),
        (b"a: !!set {x}\n", "holds a set, which values cannot hold"),
        (b"\xff\xfe", "is not UTF-8 text"),
        (BOMB, "expands (through YAML aliases) to more values than the size limit"),
        (b"a: &a [*a]\n", f"nests deeper than {MAX_DEPTH} levels"),
        (
            b"a: " + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
            f"nests deeper than {MAX_DEPTH} levels",
        ),
    ],
)
def test_documents_that_are_not_values_are_told_without_content(
    document: bytes, problem: str
) -> None:
    assert parse_values(document, max_nodes=NODES) == problem


def test_nesting_up_to_the_limit_is_fine() -> None:
    document = b"a: " + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    values = parse_values(document, max_nodes=NODES)
    assert isinstance(values, dict)


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        (r"a\.b", ("a.b",)),
        (r"config.app\.yml.content", ("config", "app.yml", "content")),
        (r"a\b", (r"a\b",)),
        ("with space.x", ("with space", "x")),
    ],
)
def test_target_paths_are_split_on_unescaped_dots(path: str, keys: tuple[str, ...]) -> None:
    assert parse_target_path(path) == keys


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "has an empty key (a leading, trailing or doubled dot)"),
        ("a..b", "has an empty key (a leading, trailing or doubled dot)"),
        ("a[0]", "uses a list index ([...]), which is not supported"),
        ("a.b]", "uses a list index ([...]), which is not supported"),
    ],
)
def test_target_paths_that_cannot_work(path: str, problem: str) -> None:
    assert parse_target_path(path) == problem


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("false", False),
        ("Null", None),
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("+7", 7),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), str(2**63)),
        ("007", "007"),
        ("1.5", "1.5"),
        ("1_000", "1_000"),
        ("'quoted'", "quoted"),
        ('"42"', "42"),
        ("'", ""),
        ("'mixed\"", "'mixed\""),
        ("true\n", "true\n"),
        ("a,b", "a,b"),
        ("", ""),
    ],
)
def test_one_value_is_typed_as_helm_set_types_it(text: str, value: Any) -> None:
    assert typed_value(text) == value
    assert type(typed_value(text)) is type(value)


def test_value_at_nests_the_value_under_the_keys() -> None:
    assert value_at(("a", "b.c"), b"1") == {"a": {"b.c": 1}}
    assert value_at(("a",), b"\xff") == "is not UTF-8 text"
