"""values_diff: the changed paths of two sets of values, never a value.

Covers: added, removed and changed keys, nested and in lists; a subtree added or
removed whole is one line; numbers compare by value but never equal a boolean or a
string; keys that are not plain names are quoted and escaped; paths and the number of
lines are bounded; deep nesting needs no recursion; no value ever appears.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.diffs import MAX_LINES, MAX_PATH, values_diff

SECRET = "hunter2-s3cr3t"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {}, []),
        ({"a": 1}, {"a": 1}, []),
        ({}, {"a": 1}, ["+ a"]),
        ({"a": 1}, {}, ["- a"]),
        ({"a": 1}, {"a": 2}, ["~ a"]),
        ({"a": {"b": 1}}, {"a": {"b": 2}}, ["~ a.b"]),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": {"d": 1}}}, ["+ a.c"]),  # a subtree: one line
        ({"a": {"b": {"c": 1}}}, {"a": {}}, ["- a.b"]),
        ({"a": {"b": 1}}, {"a": 1}, ["~ a"]),  # a mapping became a leaf
        ({"a": [1]}, {"a": {"0": 1}}, ["~ a"]),  # a list became a mapping
        ({"a": None}, {"a": 0}, ["~ a"]),
        ({"a": None}, {"a": None}, []),
        # Lists: item by item.
        ({"l": [1, 2, 3]}, {"l": [1, 5, 3]}, ["~ l[1]"]),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, ["+ l[2]"]),
        ({"l": [1, 2, 3]}, {"l": [1]}, ["- l[1]", "- l[2]"]),
        ({"l": [{"a": 1}]}, {"l": [{"a": 2}]}, ["~ l[0].a"]),
        ({"l": [[1], [2]]}, {"l": [[1], [2, 3]]}, ["+ l[1][1]"]),
        # Numbers by value, as Helm reads them; booleans and strings are not numbers.
        ({"n": 1}, {"n": 1.0}, []),
        ({"n": 1}, {"n": True}, ["~ n"]),
        ({"n": 0}, {"n": False}, ["~ n"]),
        ({"n": True}, {"n": True}, []),
        ({"n": 1}, {"n": "1"}, ["~ n"]),
        ({"s": "x"}, {"s": "x"}, []),
        # Key order: sorted, so the output does not depend on the order of the input.
        ({"b": 1, "a": 1}, {"a": 2, "c": 1}, ["~ a", "- b", "+ c"]),
        # Keys that are not plain names are quoted, control characters escaped.
        ({}, {"app.kubernetes.io/name": 1}, ['+ ["app.kubernetes.io/name"]']),
        ({"a": {}}, {"a": {"x y": 1}}, ['+ a["x y"]']),
        ({}, {"line\nbreak": 1}, ['+ ["line\\nbreak"]']),
        ({}, {'say "hi"': 1}, ['+ ["say \\"hi\\""]']),
        ({}, {"caf\u00e9": 1}, ['+ ["caf\\u00e9"]']),
        ({}, {"": 1}, ['+ [""]']),
        ({}, {1: "int key"}, ['+ ["1"]']),
        ({}, {"snake_case-and-dash": 1}, ["+ snake_case-and-dash"]),
    ],
)
def test_values_diff(old: dict[Any, Any], new: dict[Any, Any], expected: list[str]) -> None:
    assert values_diff(old, new) == expected


def test_secrets_never_appear() -> None:
    old = {"db": {"password": SECRET, "hosts": [SECRET]}, "gone": SECRET}
    new = {"db": {"password": SECRET + "!", "hosts": [SECRET, SECRET]}, "new": {"k": SECRET}}
    diff = values_diff(old, new)
    assert diff == ["+ db.hosts[1]", "~ db.password", "- gone", "+ new"]
    assert not any(SECRET in line for line in diff)


def test_a_long_key_is_cut() -> None:
    [line] = values_diff({}, {"k" * 1000: 1})
    assert line.startswith("+ kkkk")
    assert line.endswith("...")
    assert len(line) < 80


def test_a_long_path_is_cut() -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for index in range(200):
        deep = {f"level{index}": deep}
    [line] = values_diff({}, {"top": deep})
    assert line == "+ top"
    [line] = values_diff(deep, {**deep, "x": 1})
    assert line == "+ x"
    changed = _nest(200, 2)
    [line] = values_diff(_nest(200, 1), changed)
    assert line.startswith("~ n.n.n.n")
    assert len(line) == len("~ ") + MAX_PATH
    assert line.endswith("...")


def test_deep_nesting_needs_no_recursion() -> None:
    depth = 20_000  # far deeper than Python's recursion limit
    [line] = values_diff(_nest(depth, 1), _nest(depth, 2))
    assert line.startswith("~ n.n.n")


def test_the_lines_are_bounded() -> None:
    new = {f"k{index:04d}": index for index in range(1000)}
    diff = values_diff({}, new)
    assert len(diff) == MAX_LINES + 1
    assert diff[0] == "+ k0000"
    assert diff[-1] == f"... {1000 - MAX_LINES} more"
    assert values_diff({}, new, limit=3) == ["+ k0000", "+ k0001", "+ k0002", "... 997 more"]


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)
mappings = st.dictionaries(st.text(max_size=5), values, max_size=4)


@given(mappings, mappings)
def test_a_diff_is_empty_exactly_when_nothing_changed(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    assert values_diff(old, old) == []
    diff = values_diff(old, new)
    assert (diff == []) == _equal(old, new)
    assert all(line[:2] in ("+ ", "- ", "~ ") for line in diff)
    assert all(len(line) <= len("~ ") + MAX_PATH for line in diff)


def _nest(depth: int, leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for _ in range(depth):
        value = {"n": value}
    return dict(value)


def _equal(a: Any, b: Any) -> bool:
    """Equality as values_diff sees it (numbers by value, booleans apart)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)
