"""RFC 6902 JSON patch (``application/json-patch+json``): a list of operations on JSON pointers.

The document lives in a holder dict under the key "" while the operations run, so a pointer to
the whole document needs no special case. Operations apply in order to one private copy; the
first that fails raises PatchError and the object passed in is left as it was.
"""

from __future__ import annotations

import re
from typing import Any

from .common import JSONObject, PatchError, copy_json, json_equal, nesting_guard, require_object

_BAD_ESCAPE = re.compile(r"~(?![01])")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_ROOT = ""  # the document lives in a holder dict under this key, so "" paths need no special case


@nesting_guard
def apply_json_patch(obj: JSONObject, ops: Any) -> JSONObject:
    """Applies an RFC 6902 JSON patch (a list of operations) to a copy of obj."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a JSON array of operations")
    holder: JSONObject = {_ROOT: copy_json(obj)}
    for number, op in enumerate(ops):
        _apply_operation(holder, require_object(op, f"JSON patch operation {number}"))
    result = holder.get(_ROOT)
    if not isinstance(result, dict):
        raise PatchError("the JSON patch does not leave a JSON object")
    return result


def _apply_operation(holder: JSONObject, op: JSONObject) -> None:
    name = op.get("op")
    path = _pointer(op, "path")
    if name == "add":
        _add(holder, path, copy_json(_operand(op)))
    elif name == "remove":
        _remove(holder, path)
    elif name == "replace":
        _get(holder, path)  # the target must exist
        _remove(holder, path)
        _add(holder, path, copy_json(_operand(op)))
    elif name == "move":
        source = _pointer(op, "from")
        if len(path) > len(source) and path[: len(source)] == source:
            raise PatchError(f"cannot move {op['from']!r} into its own child {op['path']!r}")
        _add(holder, path, _remove(holder, source))
    elif name == "copy":
        _add(holder, path, copy_json(_get(holder, _pointer(op, "from"))))
    elif name == "test":
        if not json_equal(_get(holder, path), _operand(op)):
            raise PatchError(f"test operation failed at {op['path']!r}")
    else:
        raise PatchError(f"unknown JSON patch operation {name!r}")


def _operand(op: JSONObject) -> Any:
    if "value" not in op:
        raise PatchError(f"JSON patch operation {op.get('op')!r} needs a 'value'")
    return op["value"]


def _pointer(op: JSONObject, member: str) -> list[str]:
    """Parses a JSON pointer (RFC 6901) into tokens, prefixed with the holder's root key."""
    pointer = op.get(member)
    if not isinstance(pointer, str):
        raise PatchError(f"JSON patch operation {op.get('op')!r} needs a string {member!r}")
    if pointer == "":
        return [_ROOT]
    if not pointer.startswith("/") or _BAD_ESCAPE.search(pointer):
        raise PatchError(f"invalid JSON pointer {pointer!r}")
    tokens = [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]
    return [_ROOT, *tokens]


def _list_index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    limit = len(container) + 1 if allow_end else len(container)
    if not _ARRAY_INDEX.fullmatch(token) or int(token) >= limit:
        raise PatchError(f"array index {token!r} is out of range or invalid")
    return int(token)


def _parent(holder: JSONObject, tokens: list[str]) -> Any:
    current: Any = holder
    for depth, token in enumerate(tokens[:-1]):
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_list_index(current, token, allow_end=False)]
        else:
            raise PatchError(f"path {_pointer_text(tokens[: depth + 1])!r} does not exist")
    return current


def _pointer_text(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens[1:])


def _get(holder: JSONObject, tokens: list[str]) -> Any:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_list_index(parent, last, allow_end=False)]
    raise PatchError(f"path {_pointer_text(tokens)!r} does not exist")


def _add(holder: JSONObject, tokens: list[str], value: Any) -> None:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_list_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add below a scalar at {_pointer_text(tokens)!r}")


def _remove(holder: JSONObject, tokens: list[str]) -> Any:
    parent, last = _parent(holder, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_list_index(parent, last, allow_end=False))
    raise PatchError(f"path {_pointer_text(tokens)!r} does not exist")
