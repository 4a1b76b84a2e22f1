"""Which paths of a release's values changed: the key paths only, never a value.

helm-operator's ``--log-release-diffs`` logged the whole diff of the values, secrets
included. ``values_diff`` lists only where the values differ, one line per path:
``+ a.b`` (added), ``- c`` (removed), ``~ d.e`` (changed). An added or removed subtree
is one line; lists are compared item by item (``~ hosts[2]``). Keys that are not plain
names are quoted (``annotations["app.kubernetes.io/name"]``), control characters
escaped; paths are cut to ``MAX_PATH`` characters and the lines to ``MAX_LINES``.

Numbers compare by value (``1`` is ``1.0``, as Helm reads them) but a boolean is never a
number and a string never a number (``"1"`` to ``1`` is a change).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MAX_LINES = 100
"""Lines listed; the rest are counted in one last line."""
MAX_PATH = 200
"""Characters of a path; a longer one is cut and ends with ``...``."""
MAX_KEY = 64
"""Characters of one key in a path; a longer one is cut and ends with ``...``."""

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_CUT = "..."

Path = tuple[str | int, ...]
"""Keys (str) and list indices (int) from the top of the values down."""


def values_diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, limit: int = MAX_LINES
) -> list[str]:
    """``+ path``, ``- path`` and ``~ path`` lines, in key order, where ``new`` differs
    from ``old``; beyond ``limit`` lines, one ``... N more`` line."""
    lines: list[str] = []
    more = 0
    # Depth first without recursion (values may nest deeply): a pending path to
    # compare, or a finished line; pushed in reverse so they come out in key order.
    pending: list[tuple[Path, Any, Any] | str] = [((), old, new)]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if len(lines) < limit:
                lines.append(item)
            else:
                more += 1
            continue
        path, before, after = item
        pending.extend(reversed(_compare(path, before, after)))
    if more:
        lines.append(f"{_CUT} {more} more")
    return lines


def _compare(path: Path, before: Any, after: Any) -> list[tuple[Path, Any, Any] | str]:
    """What comparing two values at ``path`` gives: lines, and pairs still to compare."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = sorted({*before, *after}, key=lambda key: (str(key), type(key).__name__))
        return [_child(path, str(key), key, before, after) for key in keys]
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        size = max(len(before), len(after))
        return [_child(path, index, index, before, after) for index in range(size)]
    if _same(before, after):
        return []
    return [f"~ {render(path)}"]


def _child(
    path: Path, segment: str | int, key: Any, before: Any, after: Any
) -> tuple[Path, Any, Any] | str:
    """The line or the pair for ``before[key]`` and ``after[key]`` (either may be absent)."""
    child = (*path, segment)
    in_before = key in before if isinstance(before, Mapping) else key < len(before)
    in_after = key in after if isinstance(after, Mapping) else key < len(after)
    if not in_before:
        return f"+ {render(child)}"
    if not in_after:
        return f"- {render(child)}"
    return (child, before[key], after[key])


def _same(before: Any, after: Any) -> bool:
    """Equal leaves: numbers by value, anything else of the same type only."""
    if isinstance(before, bool) or isinstance(after, bool):
        return type(before) is type(after) and before == after
    numbers = (int, float)
    if isinstance(before, numbers) and isinstance(after, numbers):
        return before == after
    return type(before) is type(after) and bool(before == after)


def render(path: Path) -> str:
    """``a.b["c.d"][2]``, cut to ``MAX_PATH`` characters; ``(top)`` for the empty path."""
    parts: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
            continue
        plain = _PLAIN_KEY.fullmatch(segment) is not None
        key = segment if len(segment) <= MAX_KEY else segment[: MAX_KEY - len(_CUT)] + _CUT
        if plain:
            parts.append(f".{key}" if parts else key)
        else:
            parts.append(f"[{json.dumps(key)}]")  # escapes quotes and control characters
        if sum(map(len, parts)) > MAX_PATH:
            break
    text = "".join(parts) or "(top)"
    return text if len(text) <= MAX_PATH else text[: MAX_PATH - len(_CUT)] + _CUT
