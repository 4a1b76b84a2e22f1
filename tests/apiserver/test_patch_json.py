"""JSON patch (RFC 6902) and JSON merge patch (RFC 7386) as the API server applies them.

Covers the RFCs' example tables, JSON pointer escaping, error cases raising PatchError, that
inputs are never mutated nor shared with the result, and merge patch properties: a computed
patch turns a into b, applying a patch twice changes nothing more, and null-free patches never
delete keys they do not mention.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.patch import PatchError, apply_json_patch, apply_merge_patch

# --- RFC 6902 ------------------------------------------------------------------------------

RFC6902_EXAMPLES = [
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
        id="A.1 add an object member",
    ),
    pytest.param(
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
        id="A.2 add an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
        id="A.3 remove an object member",
    ),
    pytest.param(
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
        id="A.4 remove an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
        id="A.5 replace a value",
    ),
    pytest.param(
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
        id="A.6 move a value",
    ),
    pytest.param(
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
        id="A.7 move an array element",
    ),
    pytest.param(
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
        id="A.8 testing a value: success",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
        id="A.10 add a nested member object",
    ),
    pytest.param(
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
        id="A.11 ignore unrecognized elements",
    ),
    pytest.param(
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
        id="A.14 ~ escape ordering",
    ),
    pytest.param(
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
        id="A.16 adding an array value",
    ),
    pytest.param(
        {"a/b": 1, "m~n": 2},
        [
            {"op": "replace", "path": "/a~1b", "value": 3},
            {"op": "remove", "path": "/m~0n"},
        ],
        {"a/b": 3},
        id="escaped slash and tilde",
    ),
    pytest.param(
        {"a": {"b": [1, 2]}},
        [{"op": "copy", "from": "/a/b", "path": "/c"}, {"op": "add", "path": "/c/-", "value": 3}],
        {"a": {"b": [1, 2]}, "c": [1, 2, 3]},
        id="copy is independent of its source",
    ),
    pytest.param(
        {"a": 1},
        [{"op": "replace", "path": "", "value": {"b": 2}}],
        {"b": 2},
        id="replace the whole document",
    ),
    pytest.param(
        {"a": [1]},
        [{"op": "add", "path": "/a/1", "value": 2}],
        {"a": [1, 2]},
        id="add at the index equal to the length appends",
    ),
    pytest.param(
        {"metadata": {"managedFields": [{"manager": "helm"}], "resourceVersion": "5"}},
        [
            {"op": "replace", "path": "/metadata/managedFields", "value": [{}]},
            {"op": "replace", "path": "/metadata/resourceVersion", "value": "5"},
        ],
        {"metadata": {"managedFields": [{}], "resourceVersion": "5"}},
        id="what helm 4 sends when moving a release to server-side apply",
    ),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), RFC6902_EXAMPLES)
def test_json_patch_examples(doc: dict[str, Any], ops: list[Any], expected: Any) -> None:
    before = copy.deepcopy(doc)

    assert apply_json_patch(doc, ops) == expected
    assert doc == before


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [
        pytest.param(
            {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}], "test", id="A.9"
        ),
        pytest.param(
            {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}], "exist", id="A.12"
        ),
        pytest.param(
            {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}], "test", id="A.15"
        ),
        pytest.param({"a": True}, [{"op": "test", "path": "/a", "value": 1}], "test", id="true≠1"),
        pytest.param({"a": 1}, [{"op": "remove", "path": "/b"}], "exist", id="remove missing"),
        pytest.param(
            {"a": 1}, [{"op": "replace", "path": "/b", "value": 1}], "exist", id="replace"
        ),
        pytest.param({"a": [1]}, [{"op": "remove", "path": "/a/1"}], "index", id="index range"),
        pytest.param({"a": [1, 2]}, [{"op": "remove", "path": "/a/01"}], "index", id="index zero"),
        pytest.param({"a": [1]}, [{"op": "remove", "path": "/a/-"}], "index", id="remove end"),
        pytest.param({"a": [1]}, [{"op": "add", "path": "/a/x", "value": 1}], "index", id="idx"),
        pytest.param({"a": 1}, [{"op": "add", "path": "/a/b", "value": 1}], "scalar", id="scalar"),
        pytest.param({"a": {}}, [{"op": "move", "from": "/a", "path": "/a/b"}], "child", id="mv"),
        pytest.param({"a": 1}, [{"op": "copy", "from": "/b", "path": "/c"}], "exist", id="copy"),
        pytest.param({"a": 1}, [{"op": "add", "path": "/b"}], "value", id="no value"),
        pytest.param({"a": 1}, [{"op": "remove"}], "path", id="no path"),
        pytest.param({"a": 1}, [{"op": "move", "path": "/b"}], "from", id="no from"),
        pytest.param({"a": 1}, [{"op": "frobnicate", "path": "/a"}], "unknown", id="unknown op"),
        pytest.param({"a": 1}, [{"op": "remove", "path": "a"}], "pointer", id="no slash"),
        pytest.param({"a": 1}, [{"op": "remove", "path": "/~2"}], "pointer", id="bad escape"),
        pytest.param({"a": 1}, [{"op": "remove", "path": ""}], "object", id="remove root"),
        pytest.param({"a": 1}, [{"op": "replace", "path": "", "value": 1}], "object", id="scalar"),
        pytest.param({"a": 1}, {"op": "remove", "path": "/a"}, "array", id="not a list"),
        pytest.param({"a": 1}, ["remove /a"], "object", id="op not an object"),
    ],
)
def test_invalid_json_patches_raise_patch_error(
    doc: dict[str, Any], ops: Any, message: str
) -> None:
    before = copy.deepcopy(doc)

    with pytest.raises(PatchError, match=message):
        apply_json_patch(doc, ops)
    assert doc == before


def test_json_patch_error_messages_do_not_reveal_values() -> None:
    ops = [{"op": "test", "path": "/data/password", "value": "hunter2"}]

    with pytest.raises(PatchError) as excinfo:
        apply_json_patch({"data": {"password": "s3cret"}}, ops)
    assert "hunter2" not in str(excinfo.value)
    assert "s3cret" not in str(excinfo.value)


def test_json_patch_result_shares_nothing_with_the_patch() -> None:
    value = {"nested": ["x"]}
    result = apply_json_patch({}, [{"op": "add", "path": "/a", "value": value}])

    result["a"]["nested"].append("y")

    assert value == {"nested": ["x"]}


# --- RFC 7386 ------------------------------------------------------------------------------

RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"a": "x"}, {"a": {"b": None, "c": 1}}, {"a": {"c": 1}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_examples(doc: dict[str, Any], patch: dict[str, Any], expected: Any) -> None:
    before = copy.deepcopy(doc)

    assert apply_merge_patch(doc, patch) == expected
    assert doc == before


def test_kubectl_apply_merge_patch_of_a_custom_resource() -> None:
    live = {"metadata": {"name": "w1", "annotations": {"a": "old"}}, "spec": {"color": "red"}}
    patch = {"metadata": {"annotations": {"a": "new"}}, "spec": {"color": None, "size": 2}}

    assert apply_merge_patch(live, patch) == {
        "metadata": {"name": "w1", "annotations": {"a": "new"}},
        "spec": {"size": 2},
    }


@pytest.mark.parametrize("patch", [["c"], None, "bar", 1])
def test_merge_patch_must_be_an_object(patch: Any) -> None:
    with pytest.raises(PatchError, match="JSON object"):
        apply_merge_patch({"a": "b"}, patch)


def test_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    doc: dict[str, Any] = {"keep": {"x": [1]}}
    patch: dict[str, Any] = {"new": {"y": [2]}}

    result = apply_merge_patch(doc, patch)
    result["keep"]["x"].append(9)
    result["new"]["y"].append(9)

    assert doc == {"keep": {"x": [1]}}
    assert patch == {"new": {"y": [2]}}


def test_deeply_nested_documents_raise_patch_error() -> None:
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"a": deep}

    with pytest.raises(PatchError, match="nested too deeply"):
        apply_merge_patch({}, deep)


# --- merge patch properties ----------------------------------------------------------------

non_null_scalars = st.booleans() | st.integers() | st.text(max_size=5)
scalars = st.none() | non_null_scalars
keys = st.sampled_from(["a", "b", "c", "d"])
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)
null_free_values = st.recursive(
    non_null_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)
documents = st.dictionaries(keys, json_values, max_size=4)
null_free_documents = st.dictionaries(keys, null_free_values, max_size=4)


def create_merge_patch(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that turns source into target (target must not hold nulls in objects)."""
    patch: dict[str, Any] = {key: None for key in source if key not in target}
    for key, value in target.items():
        old = source.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            nested = create_merge_patch(old, value)
            if nested:
                patch[key] = nested
        elif key not in source or old != value or type(old) is not type(value):
            patch[key] = create_merge_patch({}, value) if isinstance(value, dict) else value
    return patch


@given(documents, null_free_documents)
def test_computed_merge_patch_turns_source_into_target(
    source: dict[str, Any], target: dict[str, Any]
) -> None:
    assert apply_merge_patch(source, create_merge_patch(source, target)) == target


@given(documents, documents)
def test_merge_patch_is_idempotent(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    once = apply_merge_patch(doc, patch)

    assert apply_merge_patch(once, patch) == once


def assert_keeps_unmentioned_keys(doc: Any, patch: Any, result: Any) -> None:
    if not isinstance(doc, dict) or not isinstance(patch, dict):
        return
    for key, value in doc.items():
        assert key in result
        if key in patch:
            assert_keeps_unmentioned_keys(value, patch[key], result[key])
        else:
            assert result[key] == value


@given(null_free_documents, null_free_documents)
def test_null_free_patches_never_delete_unmentioned_keys(
    doc: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert_keeps_unmentioned_keys(doc, patch, apply_merge_patch(doc, patch))
