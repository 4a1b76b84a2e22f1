"""The values helm reads from its standard input (``values_document``): JSON in ASCII,
with the characters beyond the Basic Multilingual Plane as YAML's ``\\U`` escapes.

Real helm 4 and helm 3 render a chart that echoes ``.Values`` back as JSON: what they
read is what was declared, for values meant to trip a YAML reader (surrogate pairs,
escaped backslashes next to them, YAML's line breaks and keywords, exponents; keys too
long for YAML's implicit keys, written in YAML's explicit form instead). Any text
at all reads back the same through a YAML reader (hypothesis), so an escaped backslash
is never taken for the start of another escape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from controller.helm import values_document
from testkit import run

ECHO_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata: {name: echo}
data:
  values: {{ toJson .Values | quote }}
"""

TRICKY: dict[str, Any] = {
    "astral": "\U0001f600 and \U0010ffff",
    "escaped": "\\ud83d\\ude00, \\\U0001f600, \\\\\U0001f600",
    "breaks": "line\u2028separator\u0085next line\ttab\u0001control\u007fdelete",
    "edges": "\ud7ff\ue000\uffff",
    "keywords": ["yes", "no", "on", "~", "null", "<<", "=", "0x10", "1e3", ""],
    "symbols": "'\"`{}[],:#&*!|>%@",
    "numbers": [1e-05, 1.5, 3.0, -0.0, 0, -7, 2**53 - 1],  # helm reads numbers as float64
    "nested": [1, [2, {"flag": True, "nothing": None}], [], {}],
    "k.e.y": {"<<": "not a merge", "~": 1, "1": "one", "": "empty"},
}


@pytest.fixture
def echo_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "echo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: echo\nversion: 0.1.0\n")
    (chart / "templates" / "echo.yaml").write_text(ECHO_TEMPLATE)
    return chart


LONG_KEYS: dict[str, Any] = {
    "\U0001f600" * 200: "a key too long for YAML's implicit keys once escaped",
    "k" * 2000: {"astral": "\U0001f600", "edges": "\ud7ff\ue000\uffff"},
}


@pytest.mark.parametrize("values", [TRICKY, LONG_KEYS], ids=["tricky", "long-keys"])
async def test_helm_reads_the_declared_values(
    helm_bin: Path, helm_env: dict[str, str], echo_chart: Path, values: dict[str, Any]
) -> None:
    document = values_document(values).decode("ascii")
    done = await run(
        (str(helm_bin), "template", "echo", str(echo_chart), "-f", "-"), helm_env, stdin=document
    )
    assert done.code == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert json.loads(rendered["data"]["values"]) == values


def test_the_document_is_ascii_and_json_where_no_character_is_astral() -> None:
    values = {"plain": "caf\u00e9", "list": [1, 2.5, None]}
    document = values_document(values)
    assert document.isascii()
    assert json.loads(document) == values


JSON_TEXT = st.text(st.characters(blacklist_categories=["Cs"]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(JSON_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(JSON_TEXT, JSON_VALUES, max_size=5))
def test_any_text_reads_back_the_same_through_yaml(values: dict[str, Any]) -> None:
    document = values_document(values)
    assert document.isascii()
    assert yaml.safe_load(document) == values
