"""A source's content made values: a YAML map merged at the top, or one value at a target path.

Pure and blocking (the resolver runs large documents in a thread). Nothing here logs or
shows content: a problem is a short phrase (``is not valid YAML (line 3, column 7)``)
that completes the source's name.

YAML is read as helm reads values files (YAML 1.1: ``yes`` is true), then made what JSON
can hold, as helm's YAML-to-JSON step does: keys become strings (``1`` -> ``"1"``), dates
stay the text they were written as; ``.nan``/``.inf``, binary data and sets are refused. A
document whose aliases expand to more values than ``max_nodes`` (a "billion laughs"),
or that nests deeper than ``MAX_DEPTH``, is refused too.

With a target path (helm-controller's ``targetPath``) the content is not YAML: it is one
value, typed as ``helm --set path=value`` types it: quoted (``'x'`` or ``"x"``) it is the
string between the quotes; else ``true``/``false`` (any case) a boolean, ``null`` null, a
base-10 integer that does not start with 0 (or ``0`` itself) an integer, anything else
the string as it is (whitespace and newlines kept). Unlike ``--set``, the content is always
one value: commas, braces and backslashes in it are taken literally (no ``{a,b}`` lists,
no second assignment after a comma).

Target paths: keys separated by dots, ``a.b`` is key ``b`` in map ``a``; ``\\.`` is a dot
inside a key (``a\\.b`` is the one key ``a.b``); a backslash before anything else is
itself. Empty keys and ``--set``'s list indexes (``a[0]``) are refused.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Final

import yaml

from controller.api import MAX_VALUES_DEPTH

MAX_DEPTH: Final = MAX_VALUES_DEPTH  # the same bound as spec.values
"""Maps and lists nested deeper than this are refused (no values file needs as many)."""
INT64: Final = 1 << 63
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """Safe YAML without implicit timestamps: ``2024-01-02`` stays the string it is, as in
    helm's values (which go through JSON)."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }


class _Refused(Exception):
    """A document that JSON cannot hold, or too big once expanded (a problem phrase)."""


def parse_values(data: bytes, *, max_nodes: int) -> dict[str, Any] | str:
    """The values of a YAML document (a map; an empty document is an empty map), or a
    phrase saying why it is not one (blocking)."""
    text = _text(data)
    if text is None:
        return "is not UTF-8 text"
    try:
        document = yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"is not valid YAML{where}"
    except yaml.YAMLError:
        return "is not valid YAML"
    except RecursionError:
        return f"nests deeper than {MAX_DEPTH} levels"
    if document is None:
        return {}
    if not isinstance(document, dict):
        return f"is not a map of values but {_kind(document)}"
    try:
        plain: dict[str, Any] = _Plain(max_nodes).value(document, 0)
    except _Refused as refused:
        return str(refused)
    return plain


def parse_target_path(path: str) -> tuple[str, ...] | str:
    """The keys of a target path, or a phrase saying why it cannot be one."""
    keys: list[str] = []
    key: list[str] = []
    index = 0
    while index < len(path):
        char = path[index]
        if char == "\\" and path[index + 1 : index + 2] == ".":
            key.append(".")
            index += 2
            continue
        if char == ".":
            keys.append("".join(key))
            key = []
        elif char in "[]":
            return "uses a list index ([...]), which is not supported"
        else:
            key.append(char)
        index += 1
    keys.append("".join(key))
    if not all(keys):
        return "has an empty key (a leading, trailing or doubled dot)"
    return tuple(keys)


def value_at(path: tuple[str, ...], data: bytes) -> dict[str, Any] | str:
    """The content as one value at ``path`` (nested maps), or why it cannot be."""
    text = _text(data)
    if text is None:
        return "is not UTF-8 text"
    value: Any = typed_value(text)
    for key in reversed(path):
        value = {key: value}
    placed: dict[str, Any] = value
    return placed


def typed_value(text: str) -> Any:
    """One value typed as ``helm --set`` types it (see the module's docstring)."""
    if text[:1] in ("'", '"') and text.endswith(text[0]):
        return text.strip("'\"")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if text == "0":
        return 0
    if not text.startswith("0") and _INTEGER.fullmatch(text):
        number = int(text)
        if -INT64 <= number < INT64:
            return number
    return text


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


class _Plain:
    """Copies a loaded document into plain JSON data, counting every value it visits
    (an alias counts each time it is used)."""

    def __init__(self, budget: int) -> None:
        self._left = budget

    def value(self, value: Any, depth: int) -> Any:
        self._left -= 1
        if self._left < 0:
            raise _Refused("expands (through YAML aliases) to more values than the size limit")
        if depth > MAX_DEPTH:
            raise _Refused(f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return {_key(key): self.value(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item, depth + 1) for item in value]
        if value is None or isinstance(value, str | bool | int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _Refused("holds .nan or .inf, which values cannot hold")
            return value
        if isinstance(value, datetime.date):  # an explicit !!timestamp tag
            return value.isoformat()
        raise _Refused(f"holds {_kind(value)}, which values cannot hold")


def _key(key: Any) -> str:
    """A map key as the string JSON needs (as helm's YAML-to-JSON step writes it)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, int) or (isinstance(key, float) and math.isfinite(key)):
        return str(key)
    raise _Refused(f"has a key that is {_kind(key)}, which values cannot hold")


def _kind(value: Any) -> str:
    """What a value is, in words (never the value)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, set):
        return "a set"
    if isinstance(value, datetime.date):
        return "a date"
    return f"a {type(value).__name__}"
