"""Merged values and their digest: deep merge in source order, canonical digest.

Properties: the digest does not depend on key order, and any change to any value
changes it.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from controller.values import canonical_json, merge_values, values_digest

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
values_maps = st.dictionaries(st.text(max_size=8), json_values, max_size=6)


def reversed_order(data: Any) -> Any:
    """The same data with every map's keys inserted in reverse order."""
    if isinstance(data, dict):
        return {key: reversed_order(data[key]) for key in reversed(list(data))}
    if isinstance(data, list):
        return [reversed_order(item) for item in data]
    return data


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ([], {}),
        ([{"a": 1}], {"a": 1}),
        ([{"a": 1}, {"b": 2}], {"a": 1, "b": 2}),
        ([{"a": 1}, {"a": 2}], {"a": 2}),  # later sources win
        ([{"m": {"x": 1, "y": 1}}, {"m": {"y": 2, "z": 3}}], {"m": {"x": 1, "y": 2, "z": 3}}),
        (
            [{"m": {"x": {"deep": 1}}}, {"m": {"x": {"deeper": 2}}}],
            {"m": {"x": {"deep": 1, "deeper": 2}}},
        ),
        ([{"m": {"x": 1}}, {"m": 5}], {"m": 5}),  # a scalar replaces a map
        ([{"m": 5}, {"m": {"x": 1}}], {"m": {"x": 1}}),  # and a map a scalar
        ([{"l": [1, 2]}, {"l": [3]}], {"l": [3]}),  # lists are replaced, not appended
        ([{"a": 1}, {"a": None}], {"a": None}),
    ],
)
def test_merge_values(sources: list[dict[str, Any]], expected: dict[str, Any]) -> None:
    assert merge_values(sources) == expected


def test_merge_does_not_modify_its_sources() -> None:
    first, second = {"m": {"x": 1}}, {"m": {"y": 2}}
    merge_values([first, second])
    assert (first, second) == ({"m": {"x": 1}}, {"m": {"y": 2}})


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": [1, 2.5], "a": {"d": "é", "c": None}}) == (
        '{"a":{"c":null,"d":"é"},"b":[1,2.5]}'.encode()
    )


def test_numbers_keep_the_type_they_were_parsed_as() -> None:
    assert values_digest({"replicas": 1}) != values_digest({"replicas": 1.0})
    assert values_digest({"replicas": 1}) != values_digest({"replicas": "1"})


def test_digest_is_hex_sha256() -> None:
    assert values_digest({}) == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


@settings(max_examples=50)
@given(values_maps)
def test_digest_does_not_depend_on_key_order(values: dict[str, Any]) -> None:
    assert values_digest(reversed_order(values)) == values_digest(values)


@settings(max_examples=50)
@given(values_maps, st.text(max_size=8), json_values, json_values)
def test_digest_changes_with_any_value_change(
    values: dict[str, Any], key: str, before: Any, after: Any
) -> None:
    assume(canonical_json(before) != canonical_json(after))
    nested_before = {**values, "nested": {key: before}}
    nested_after = {**values, "nested": {key: after}}
    assert values_digest(nested_before) != values_digest(nested_after)
    assert values_digest({**values, key: before}) != values_digest({**values, key: after})


@settings(max_examples=50)
@given(values_maps, st.text(max_size=8))
def test_digest_changes_when_a_key_is_added(values: dict[str, Any], key: str) -> None:
    assume(key not in values)
    assert values_digest({**values, key: None}) != values_digest(values)
