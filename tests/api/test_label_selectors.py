"""Label selectors of drift ignore rules' targets: Kubernetes' syntax and matching.

Covers every operator (``=``, ``==``, ``!=``, ``in``, ``notin``, exists, ``!key``, ``>``
and ``<``), whitespace, several requirements, the empty selector, empty values, the
selectors Kubernetes refuses (each an error that never shows the text), and agreement
with the in-memory API server's parser, which follows apimachinery's ``labels.Parse``.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.selectors import SelectorError as ServerSelectorError
from apiserver.selectors import parse_label_selector
from controller.api.selectors import SelectorError, parse_selector

WEB = {"app": "web", "tier": "front"}
DB = {"app": "db", "tier": "back", "legacy": "true"}
BARE: dict[str, str] = {}
EMPTY_APP = {"app": ""}
NUMBERED = {"replicas": "3", "app": "web"}
PREFIXED = {"example.com/team": "a", "app": "web"}


@pytest.mark.parametrize(
    ("selector", "labels", "matched"),
    [
        # equality
        ("app=web", WEB, True),
        ("app=web", DB, False),
        ("app=web", BARE, False),
        ("app==web", WEB, True),
        ("app==web", DB, False),
        ("app=", EMPTY_APP, True),
        ("app=", WEB, False),
        ("app=", BARE, False),
        # inequality: objects without the label match
        ("app!=web", WEB, False),
        ("app!=web", DB, True),
        ("app!=web", BARE, True),
        # sets
        ("app in (web,db)", WEB, True),
        ("app in (web,db)", DB, True),
        ("app in (web)", DB, False),
        ("app in (web)", BARE, False),
        ("app notin (web)", WEB, False),
        ("app notin (web)", DB, True),
        ("app notin (web)", BARE, True),
        ("app in ()", EMPTY_APP, True),  # () is the empty value alone
        ("app in ()", WEB, False),
        ("app in (web,)", EMPTY_APP, True),  # an empty entry is the empty value
        ("app notin (,db)", EMPTY_APP, False),
        ("app in(web)", WEB, True),
        ("in in (in)", {"in": "in"}, True),  # in and notin are words outside operators
        # existence
        ("legacy", DB, True),
        ("legacy", WEB, False),
        ("!legacy", WEB, True),
        ("!legacy", DB, False),
        ("! legacy", WEB, True),
        ("!legacy", BARE, True),
        # integers
        ("replicas>2", NUMBERED, True),
        ("replicas>3", NUMBERED, False),
        ("replicas<4", NUMBERED, True),
        ("replicas<3", NUMBERED, False),
        ("replicas>2", BARE, False),
        ("app>2", NUMBERED, False),  # not an integer: never greater, nor less
        ("app<2", NUMBERED, False),
        # spaces
        ("  app = web  ", WEB, True),
        ("app\t==\tweb", WEB, True),
        ("app in ( web , db )", DB, True),
        ("app  notin  (db)", WEB, True),
        # several requirements: all must match
        ("app=web,tier=front", WEB, True),
        ("app=web,tier=back", WEB, False),
        ("app in (web,db), tier notin (back), !legacy", WEB, True),
        ("app in (web,db), tier notin (back), !legacy", DB, False),
        ("app, tier", WEB, True),
        ("app, !tier", WEB, False),
        # prefixed keys
        ("example.com/team=a", PREFIXED, True),
        ("example.com/team", WEB, False),
        # the empty selector matches everything
        ("", WEB, True),
        ("", BARE, True),
        ("   ", DB, True),
    ],
)
def test_a_selector_matches_as_kubernetes_matches_it(
    selector: str, labels: dict[str, str], matched: bool
) -> None:
    assert parse_selector(selector).matches(labels) is matched


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        # parentheses
        ("app in (web", "unbalanced parentheses, ')' is missing"),
        ("app in (web,", "unbalanced parentheses, ')' is missing"),
        ("app in web)", "expected '(' after in or notin"),
        ("app=web)", "unbalanced parentheses"),
        ("(app=web)", "a key is missing"),
        ("app in ((web))", "unbalanced parentheses, '(' inside parentheses"),
        ("app in (web))", "unbalanced parentheses"),
        # operators and values
        ("a=b=c", "requirement 1: expected ',' or the end after it"),
        ("app=web db", "expected ',' or the end after it"),
        ("!app=web", "expected ',' or the end after it"),
        ("app web", "expected an operator"),
        ("app notin web", "expected '(' after in or notin"),
        ("app=(web)", "expected a value after the operator"),
        ("app in (web db)", "expected values separated by ','"),
        ("app in (,,)", "expected values separated by ','"),
        ("app=-web", "a value is not a label value"),
        ("app in (web,db_)", "a value is not a label value"),
        ("app=" + "v" * 64, "a value is not a label value"),
        ("replicas>three", "> and < compare with an integer"),
        ("replicas>", "> and < compare with an integer"),
        ("replicas<99999999999999999999", "> and < compare with an integer"),
        # keys
        ("=x", "requirement 1: a key is missing"),
        ("==x", "a key is missing"),
        ("!", "a key is missing"),
        ("!=x", "a key is missing"),
        (",app", "requirement 1: a key is missing"),
        ("app,", "requirement 2: a key is missing"),
        ("app,,tier", "requirement 2: a key is missing"),
        ("app=web,=db", "requirement 2: a key is missing"),
        ("/app", "the key is not a label key"),
        ("team/", "the key is not a label key"),
        ("a/b/c", "the key is not a label key"),
        ("Example.com/team", "the key is not a label key"),
        ("-app", "the key is not a label key"),
        ("k" * 64, "the key is not a label key"),
        ("p" * 254 + "/team", "the key is not a label key"),
    ],
)
def test_a_selector_kubernetes_refuses_is_an_error(selector: str, message: str) -> None:
    with pytest.raises(SelectorError, match=r"^requirement [0-9]+: ") as raised:
        parse_selector(selector)
    assert message in str(raised.value)
    # where the problem is, never the keys or values themselves
    words = set(re.findall(r"[-\w./]{3,}", selector)) - {"notin"}
    shown = [word for word in words if word in str(raised.value)]
    assert shown == []


@pytest.mark.parametrize(
    "selector",
    [
        "app=" + "v" * 63,
        "k" * 63,
        "p" * 253 + "/team",
        "example.com/Team_1.x",
        "replicas>007",
        "app in (,)",
        "app=in,notin",
    ],
)
def test_the_longest_and_oddest_valid_selectors_parse(selector: str) -> None:
    parse_selector(selector)


WORDS = ["app", "tier", "in", "notin", "web", "db", "3", "-x", "a/b", "", " "]
SYMBOLS = ["=", "==", "!=", "!", "(", ")", ",", ">", "<", " "]
LABEL_SETS = [WEB, DB, BARE, EMPTY_APP, NUMBERED, {"in": "3", "tier": "", "web": "db"}]


@given(st.lists(st.sampled_from(WORDS + SYMBOLS), max_size=9).map("".join))
def test_selectors_parse_and_match_as_the_api_server_does(text: str) -> None:
    """Any text of the selector alphabet: both refuse it, or both match the same labels."""
    try:
        expected = parse_label_selector(text)
    except ServerSelectorError:
        with pytest.raises(SelectorError):
            parse_selector(text)
        return
    selector = parse_selector(text)
    assert [selector.matches(labels) for labels in LABEL_SETS] == [
        expected.matches(labels) for labels in LABEL_SETS
    ]
