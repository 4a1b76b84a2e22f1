"""Cached HelmReleases share their short strings with each other.

``share_strings`` leaves an object equal to what it was, whatever JSON it holds; a short
string in two objects is then one string; a long one repeated within an object is one
string there; and an object nested far deeper than Python's recursion limit is walked.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.kube.watching import SHARED_UP_TO, share_strings

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@given(st.dictionaries(st.text(), JSON))
def test_an_object_stays_equal(obj: dict[str, Any]) -> None:
    assert share_strings(copy.deepcopy(obj)) == obj


def decoded(text: str) -> dict[str, Any]:
    """A fresh object, as each watch event brings one: its strings its own."""
    found: dict[str, Any] = json.loads(text)
    return found


def test_short_strings_are_shared_across_objects_long_ones_within_one() -> None:
    message = "installed chart podinfo 6.7.1 as release apps/apps-web, revision 1"
    assert len(message) > SHARED_UP_TO
    text = json.dumps(
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True", "message": message},
                    {"type": "Released", "status": "True", "message": message},
                ]
            }
        }
    )
    first, second = share_strings(decoded(text)), share_strings(decoded(text))
    one, other = first["status"]["conditions"], second["status"]["conditions"]
    assert one[0]["status"] is other[1]["status"] is other[0]["status"]
    assert one[0]["message"] is one[1]["message"]
    assert one[0]["message"] is not other[0]["message"]


def test_an_object_deeper_than_the_recursion_limit_is_walked() -> None:
    deep: Any = "bottom"
    for _ in range(20_000):
        deep = [{"level": deep}]
    obj = {"spec": {"values": deep}}
    assert share_strings(obj) is obj
