"""Label and field selectors: the Kubernetes grammar, matching rules and error texts.

Covers every label operator (including `!=`/`notin` matching objects without the label),
whitespace and prefixed keys, the server's parse errors, rendering back to text, field
selectors on metadata.name/namespace, and property tests against a plain reference model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.selectors import (
    LabelSelector,
    Operator,
    Requirement,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)

HELM_RELEASE_LABELS = {"name": "demo", "owner": "helm", "status": "deployed", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("name=demo", True),
        ("name==demo", True),
        ("name=other", False),
        ("name=demo,owner=helm", True),
        ("name=demo,owner=flux", False),
        ("name!=other", True),
        ("name!=demo", False),
        ("absent!=x", True),
        ("name in (demo,other)", True),
        ("name in (other)", False),
        ("name notin (other)", True),
        ("name notin (demo)", False),
        ("absent notin (x)", True),
        ("absent in (x)", False),
        ("owner", True),
        ("absent", False),
        ("!absent", True),
        ("!owner", False),
        ("version>2", True),
        ("version>3", False),
        ("version<4", True),
        ("name>1", False),
        ("absent<4", False),
        ("name=", False),
        ("absent=", False),
        ("  name = demo ,  owner  in ( helm , x )  ", True),
        ("name\t=\tdemo", True),
        ("status in (deployed),!absent,owner", True),
    ],
)
def test_label_selector_matches(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(HELM_RELEASE_LABELS) is expected


def test_empty_selector_matches_objects_without_labels() -> None:
    selector = parse_label_selector("")
    assert selector.is_empty
    assert selector.matches({})


def test_prefixed_keys() -> None:
    selector = parse_label_selector(
        "app.kubernetes.io/instance=demo,app.kubernetes.io/name=demo,pod-template-hash=5f7d8"
    )
    labels = {
        "app.kubernetes.io/instance": "demo",
        "app.kubernetes.io/name": "demo",
        "pod-template-hash": "5f7d8",
    }
    assert selector.matches(labels)
    assert not selector.matches({**labels, "app.kubernetes.io/name": "other"})


def test_keywords_are_plain_names_outside_the_operator_position() -> None:
    selector = parse_label_selector("in=notin,notin in (in)")
    assert selector.matches({"in": "notin", "notin": "in"})


@pytest.mark.parametrize(
    ("selector", "values"),
    [
        ("k in ()", ("",)),
        ("k in (,)", ("",)),
        ("k in (a,,b)", ("", "a", "b")),
        ("k in (b,a,b)", ("a", "b")),
        ("k=", ("",)),
    ],
)
def test_value_sets_are_sorted_and_empty_items_are_the_empty_value(
    selector: str, values: tuple[str, ...]
) -> None:
    (requirement,) = parse_label_selector(selector).requirements
    assert requirement.values == values


def test_requirements_are_sorted_by_key() -> None:
    selector = parse_label_selector("b=1,!c,a in (x)")
    assert [r.key for r in selector.requirements] == ["a", "b", "c"]
    assert str(selector) == "a in (x),b=1,!c"


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a=(", "unable to parse requirement: found '(', expected: identifier"),
        ("! =a", "unable to parse requirement: found '=', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        (
            "a>x",
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt'"
            " operators, the value must be an integer",
        ),
        ("a/b/c=d", 'unable to parse requirement: key: Invalid value: "a/b/c": a qualified name'),
        ("/a=b", 'unable to parse requirement: key: Invalid value: "/a": prefix part must be'),
        ("Ex.com/a=b", 'unable to parse requirement: key: Invalid value: "Ex.com/a": prefix part'),
        ("-a=b", 'unable to parse requirement: key: Invalid value: "-a": name part must consist'),
        ("a/=b", 'unable to parse requirement: key: Invalid value: "a/": name part must be non'),
        (
            "a=-b",
            'unable to parse requirement: values[0]: Invalid value: "-b": a valid label must be',
        ),
        (
            f"a={'v' * 64}",
            f'unable to parse requirement: values[0]: Invalid value: "{"v" * 64}": must be no'
            " more than 63 characters",
        ),
        (f"{'k' * 64}", 'unable to parse requirement: key: Invalid value: "kkkk'),
    ],
)
def test_invalid_label_selectors_are_rejected_with_the_server_message(
    selector: str, message: str
) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_label_selector(selector)
    assert str(raised.value).startswith(message)


def test_several_invalid_values_are_reported_together() -> None:
    with pytest.raises(
        SelectorError, match=r'^unable to parse requirement: \[values\[0\]: .*"-a".*'
    ):
        parse_label_selector("k in (-a,-b)")


def test_gt_lt_ignore_labels_that_are_not_integers() -> None:
    selector = parse_label_selector("n>1")
    assert selector.matches({"n": "12"})
    assert not selector.matches({"n": "twelve"})
    assert not selector.matches({"n": str(2**63)})  # beyond int64, like strconv.ParseInt


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


# --- properties against a reference model -----------------------------------------------------

KEYS = ["a", "b", "example.com/c"]
VALUES = ["", "x", "y", "1", "7"]
OPERATORS_WITH_ONE_VALUE = [
    Operator.EQUALS,
    Operator.DOUBLE_EQUALS,
    Operator.NOT_EQUALS,
    Operator.GREATER_THAN,
    Operator.LESS_THAN,
]

label_maps = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES))


@st.composite
def requirements(draw: st.DrawFn) -> Requirement:
    key = draw(st.sampled_from(KEYS))
    operator = draw(st.sampled_from(list(Operator)))
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        return Requirement(key, operator)
    if operator in (Operator.IN, Operator.NOT_IN):
        values = draw(st.sets(st.sampled_from(VALUES), min_size=1))
        return Requirement(key, operator, tuple(sorted(values)))
    numeric = operator in (Operator.GREATER_THAN, Operator.LESS_THAN)
    value = draw(st.sampled_from(["1", "7"] if numeric else VALUES))
    return Requirement(key, operator, (value,))


def reference_matches(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    """The Kubernetes semantics, written out one operator at a time."""
    present = requirement.key in labels
    value = labels.get(requirement.key, "")
    match requirement.operator:
        case Operator.EXISTS:
            return present
        case Operator.DOES_NOT_EXIST:
            return not present
        case Operator.EQUALS | Operator.DOUBLE_EQUALS | Operator.IN:
            return present and value in requirement.values
        case Operator.NOT_EQUALS | Operator.NOT_IN:
            return not present or value not in requirement.values
        case Operator.GREATER_THAN:
            return present and value.isdigit() and int(value) > int(requirement.values[0])
        case Operator.LESS_THAN:
            return present and value.isdigit() and int(value) < int(requirement.values[0])
    raise AssertionError(requirement.operator)


@given(st.lists(requirements(), max_size=4), label_maps)
def test_matches_agrees_with_the_reference_model(
    terms: list[Requirement], labels: dict[str, str]
) -> None:
    text = ",".join(str(term) for term in terms)
    expected = all(reference_matches(term, labels) for term in terms)
    assert parse_label_selector(text).matches(labels) is expected


@given(st.lists(requirements(), max_size=4))
def test_rendering_and_reparsing_gives_the_same_selector(terms: list[Requirement]) -> None:
    selector = parse_label_selector(",".join(str(term) for term in terms))
    assert parse_label_selector(str(selector)) == selector


@given(requirements(), st.sampled_from(VALUES))
def test_not_equals_and_notin_match_objects_without_the_label(
    requirement: Requirement, other_value: str
) -> None:
    negative = requirement.operator in (Operator.NOT_EQUALS, Operator.NOT_IN)
    selector = LabelSelector((requirement,))
    without_key = {key: other_value for key in KEYS if key != requirement.key}
    if negative or requirement.operator is Operator.DOES_NOT_EXIST:
        assert selector.matches(without_key)
    else:
        assert not selector.matches(without_key)


@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_selector_error(text: str) -> None:
    try:
        selector = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(selector)) == selector


# --- field selectors --------------------------------------------------------------------------

SECRET: dict[str, Any] = {"metadata": {"name": "sh.helm.release.v1.demo.v1", "namespace": "apps"}}
CLUSTER_SCOPED: dict[str, Any] = {"metadata": {"name": "helmreleases.flux.weave.works"}}


@pytest.mark.parametrize(
    ("selector", "obj", "expected"),
    [
        ("", SECRET, True),
        ("metadata.name=sh.helm.release.v1.demo.v1", SECRET, True),
        ("metadata.name==sh.helm.release.v1.demo.v1", SECRET, True),
        ("metadata.name=other", SECRET, False),
        ("metadata.name!=other", SECRET, True),
        ("metadata.namespace=apps", SECRET, True),
        ("metadata.namespace=apps,metadata.name!=other", SECRET, True),
        ("metadata.namespace!=apps", SECRET, False),
        ("metadata.name=helmreleases.flux.weave.works", CLUSTER_SCOPED, True),
        ("metadata.namespace=", CLUSTER_SCOPED, True),
        ("metadata.namespace!=apps", CLUSTER_SCOPED, True),
        ("metadata.name=x", {}, False),
        ("metadata.name=", {"metadata": "not a mapping"}, True),
        ("metadata.name=a\\,b\\=c\\\\", {"metadata": {"name": "a,b=c\\"}}, True),
        (",metadata.name=x,", {"metadata": {"name": "x"}}, True),
    ],
)
def test_field_selector_matches(selector: str, obj: dict[str, Any], expected: bool) -> None:
    assert parse_field_selector(selector).matches(obj) is expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("spec.nodeName=n1", "field label not supported: spec.nodeName"),
        ("metadata.name=a,status.phase=Running", "field label not supported: status.phase"),
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_invalid_field_selectors_are_rejected_with_the_server_message(
    selector: str, message: str
) -> None:
    with pytest.raises(SelectorError) as raised:
        parse_field_selector(selector)
    assert str(raised.value) == message


def test_field_selector_pins_a_name() -> None:
    selector = parse_field_selector("metadata.name=w3,metadata.namespace!=kube-system")
    assert selector.required_value("metadata.name") == "w3"
    assert selector.required_value("metadata.namespace") is None


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["metadata.name", "metadata.namespace"]),
            st.sampled_from(["=", "==", "!="]),
            st.text(alphabet="ab,=\\", max_size=4),
        ),
        max_size=3,
    )
)
def test_field_selector_rendering_round_trips(terms: list[tuple[str, str, str]]) -> None:
    escaped = (f"{field}{op}{escape(value)}" for field, op, value in terms)
    selector = parse_field_selector(",".join(escaped))
    assert parse_field_selector(str(selector)) == selector
    assert sorted((r.field, r.value, r.negated) for r in selector.requirements) == sorted(
        (field, value, op == "!=") for field, op, value in terms
    )
