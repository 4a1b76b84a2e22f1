"""What a real server's decoding makes of a built-in object: wrong types, unknown fields.

A real server never validates a built-in object against a schema: it decodes the JSON into Go
structs, and the decoder is what rejects a string where an int32 goes, and what drops (or, under
strict field validation, rejects) fields the struct does not have. Three decoders do this, each
with its own words, and `decode` speaks the one a request reaches (its ``Dialect``):

- ``JSON``: Go's encoding/json, for create, update and the JSON and merge patches. The first
  wrong type ends it: ``json: cannot unmarshal string into Go struct field DeploymentSpec.
  spec.replicas of type int32``.
- ``UNSTRUCTURED``: the runtime converter a strategic merge patch result goes through
  (``unrecognized type: int32``); it takes an integral float for an integer.
- ``TYPED``: structured-merge-diff, which server-side apply types the applied configuration with
  (``.spec.replicas: expected numeric (int or float), got string``); it reports every problem,
  unknown fields included (``field not declared in schema``).

The schema must carry a ``GoType`` on every node (see ``builtin``). Fields a schema requires are
reported outside ``status`` when the schema still requires them (``builtin`` keeps only the
required fields a real server rejects the absence of).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .common import Schema
from .errors import FieldError, go_print, go_sharp, required

GO_TYPE = "x-go-type"
"""The key of a node's GoType in a built-in kind's schema."""


class Dialect(Enum):
    JSON = "encoding/json"
    UNSTRUCTURED = "unstructured converter"
    TYPED = "structured-merge-diff"


@dataclass(frozen=True)
class GoType:
    """What a schema node decodes into, as the decoders see it.

    ``kind`` is one of struct, map, slice, int, float, string, bool, bytes (a base64 string),
    intstr, quantity and any (free-form JSON); ``name`` is the type as Go prints it
    (``int32``, ``v1.PodSpec``, ``[]v1.Container``). A list names its elements by ``keys``
    when it is a ``map`` list, by value when a ``set``, else by index (server-side apply paths).
    """

    kind: str
    name: str
    list_type: str = "atomic"
    keys: tuple[str, ...] = ()

    @property
    def struct_name(self) -> str:
        """A struct's name without its package, as Go's decoder names it in errors."""
        return self.name.rpartition(".")[2]


ANY = GoType("any", "interface {}")

# One step down an object: (FIELD, name, owning struct), (KEY, map key, None) or
# (ITEM, index, (item, list type)).
_FIELD, _KEY, _ITEM = 0, 1, 2
_Step = tuple[int, Any, Any]


@dataclass
class Decoded:
    """What decoding an object found, in document order."""

    errors: list[str] = field(default_factory=list)
    """Decoding errors in the dialect's words (JSON and UNSTRUCTURED: only the first counts)."""
    unknown: bool = False
    """Some fields are not in the schema: the decoder drops them (``prune`` does it here)."""
    missing: list[FieldError] = field(default_factory=list)
    """Fields the schema requires that are absent, as validation reports them."""


def decode(schema: Schema, obj: Mapping[str, Any], dialect: Dialect) -> Decoded:
    """What `dialect`'s decoder reports for `obj`, a built-in object, against its kind's schema."""
    walk = _Walk(dialect)
    walk.struct(schema, schema[GO_TYPE], obj, root=True)
    return walk.found


class _Walk:
    """One pass over an object: the steps to the current value, and what was found so far."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.steps: list[_Step] = []
        self.found = Decoded()
        self.check_required = True

    def value(self, schema: Schema, value: Any) -> None:
        if value is None:
            return  # every decoder takes null for any field: its zero value
        go: GoType = schema.get(GO_TYPE, ANY)
        if go.kind == "struct":
            self.struct(schema, go, value)
        elif go.kind == "map":
            self.map(schema, go, value)
        elif go.kind == "slice":
            self.slice(schema, go, value)
        elif go.kind != "any":
            problem = _SCALAR_CHECKS[self.dialect](go, value)
            if problem is not None:
                self.mismatch(problem)

    def struct(self, schema: Schema, go: GoType, value: Any, root: bool = False) -> None:
        if not isinstance(value, Mapping):
            self.mismatch(_shape_problem(self.dialect, go, value))
            return
        if self.check_required:
            for key in schema["required"]:
                if key not in value:
                    path = _field_path([*self.steps, (_FIELD, key, go)])
                    self.found.missing.append(required(path))
        properties: Mapping[str, Schema] = schema["properties"]
        for key, item in value.items():
            child = properties.get(key)
            if child is None:
                self.unknown_field(key)
                continue
            check_required = self.check_required
            self.check_required = check_required and not (root and key == "status")
            self.steps.append((_FIELD, key, go))
            self.value(child, item)
            self.steps.pop()
            self.check_required = check_required

    def map(self, schema: Schema, go: GoType, value: Any) -> None:
        if not isinstance(value, Mapping):
            self.mismatch(_shape_problem(self.dialect, go, value))
            return
        items: Schema = schema["additionalProperties"]
        for key, item in value.items():
            self.steps.append((_KEY, key, None))
            self.value(items, item)
            self.steps.pop()

    def slice(self, schema: Schema, go: GoType, value: Any) -> None:
        if not isinstance(value, list):
            self.mismatch(_shape_problem(self.dialect, go, value))
            return
        items: Schema = schema["items"]
        for index, item in enumerate(value):
            self.steps.append((_ITEM, index, (item, go)))
            self.value(items, item)
            self.steps.pop()

    def unknown_field(self, key: str) -> None:
        self.found.unknown = True
        if self.dialect is Dialect.TYPED:
            self.found.errors.append(
                f"{_smd_path([*self.steps, (_FIELD, key, None)])}: field not declared in schema"
            )

    def mismatch(self, problem: _Problem) -> None:
        self.found.errors.append(problem.words(self.dialect, self.steps))


@dataclass(frozen=True)
class _Problem:
    """A value its Go type cannot take: `text` is the decoder's own message.

    ``go_type`` is set when the message is encoding/json's UnmarshalTypeError, which the decoder
    completes with the field the value is in: (the value as Go names it, the type).
    """

    text: str
    go_type: tuple[str, str] | None = None

    def words(self, dialect: Dialect, steps: list[_Step]) -> str:
        if dialect is Dialect.TYPED:
            return f"{_smd_path(steps)}: {self.text}"
        if self.go_type is None:
            return self.text
        what, type_name = self.go_type
        fields = [label for kind, label, _ in steps if kind == _FIELD]
        struct = next(owner for kind, _, owner in reversed(steps) if kind == _FIELD)
        return (
            f"json: cannot unmarshal {what} into Go struct field "
            f"{struct.struct_name}.{'.'.join(fields)} of type {type_name}"
        )


def _json_kind(value: Any) -> str:
    """How encoding/json names a JSON value in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, Mapping) else "array"


def _unstructured_kind(value: Any) -> str:
    """The Go kind of an unstructured value, as the runtime converter names it."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "map" if isinstance(value, Mapping) else "slice"


def _go_type_of(value: Any) -> str:
    """Go's %T of an unstructured value."""
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return _unstructured_kind(value)


def _shape_problem(dialect: Dialect, go: GoType, value: Any) -> _Problem:
    """A struct, map or slice given something else."""
    if dialect is Dialect.JSON:
        return _Problem("", (_json_kind(value), go.name))
    if dialect is Dialect.UNSTRUCTURED:
        if go.kind == "struct":
            return _Problem(f"cannot restore struct from: {_unstructured_kind(value)}")
        return _Problem(f"cannot restore {go.kind} from {_unstructured_kind(value)}")
    expected = "list" if go.kind == "slice" else "map"
    return _Problem(f"expected {expected}, got &{{{go_print(value)}}}")


_INT_BITS = {"int32": 32, "int64": 64, "int": 64}


def _fits(type_name: str, value: int) -> bool:
    bits = _INT_BITS[type_name]
    return -(1 << (bits - 1)) <= value < 1 << (bits - 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(value: Any) -> str:
    """encoding/json's name for a value an integer cannot take: numbers come with their text."""
    return f"number {value!r}" if _is_number(value) else _json_kind(value)


def _json_scalar(go: GoType, value: Any) -> _Problem | None:
    """encoding/json: the value's JSON type must be the field's, and an integer must fit."""
    kind = go.kind
    if kind == "quantity":
        return _quantity_problem(value)
    if kind == "intstr" and isinstance(value, str):
        return None
    if kind in ("int", "intstr"):
        type_name = "int32" if kind == "intstr" else go.name
        if _is_int(value) and _fits(type_name, value):
            return None
        return _Problem("", (_number_text(value), type_name))
    if not _SAME_TYPE[kind](value):
        return _Problem("", (_json_kind(value), go.name))
    if kind == "bytes":
        offset = base64_error(value)
        return None if offset is None else _Problem(_illegal_base64(offset))
    return None


def _unstructured_scalar(go: GoType, value: Any) -> _Problem | None:
    """The runtime converter: Go's conversions from the unstructured value to the field's kind."""
    kind = go.kind
    if kind == "quantity":
        return _quantity_problem(value)
    if kind == "intstr":
        if isinstance(value, str) or (_is_number(value) and float(value).is_integer()):
            return None  # a number goes through JSON, where an integral float is an integer
        return _Problem(f"json: cannot unmarshal {_number_text(value)} into Go value of type int32")
    if kind in ("int", "float") and _is_number(value):
        if kind == "float" or float(value).is_integer():
            return None
        return _Problem(f"cannot convert float64 to {go.name}")
    if kind == "bytes":
        if not isinstance(value, str):
            return _Problem(f"cannot restore slice from {_unstructured_kind(value)}")
        offset = base64_error(value)
        if offset is None:
            return None
        return _Problem(f"error decoding from string: {_illegal_base64(offset)}")
    if _SAME_TYPE[kind](value):
        return None
    if _is_int(value) and kind == "string":
        return _Problem(
            "cannot convert int64 to string"
        )  # Go converts ints to strings, then refuses
    return _Problem(f"unrecognized type: {go.name}")


def _typed_scalar(go: GoType, value: Any) -> _Problem | None:
    """structured-merge-diff: numbers, strings, booleans, or any scalar for int-or-string."""
    kind = go.kind
    if kind in ("int", "float"):
        if _is_number(value):
            return None
        return _Problem(f"expected numeric (int or float), got {_go_type_of(value)}")
    if kind in ("string", "bytes"):
        if isinstance(value, str):
            return None
        return _Problem(f"expected string, got &value.valueUnstructured{{Value:{go_sharp(value)}}}")
    if kind == "bool":
        if isinstance(value, bool):
            return None
        return _Problem(f"expected boolean, got &{{{go_print(value)}}}")
    if isinstance(value, Mapping | list):
        return _Problem(f"expected any scalar, got &{{{go_print(value)}}}")
    return None


_SAME_TYPE: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "float": _is_number,
    "string": lambda value: isinstance(value, str),
    "bytes": lambda value: isinstance(value, str),
    "bool": lambda value: isinstance(value, bool),
}
_SCALAR_CHECKS: dict[Dialect, Callable[[GoType, Any], _Problem | None]] = {
    Dialect.JSON: _json_scalar,
    Dialect.UNSTRUCTURED: _unstructured_scalar,
    Dialect.TYPED: _typed_scalar,
}

_QUANTITY_FORMAT = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
_QUANTITY = re.compile(r"[+-]?[0-9]*(?:\.[0-9]*)?([eEinumkKMGTP]*[-+]?[0-9]*)")
_QUANTITY_SUFFIXES = frozenset(
    {"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
)
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")


def _quantity_problem(value: Any) -> _Problem | None:
    """resource.Quantity's parser: a number, or a string such as ``500m`` or ``1Gi``."""
    if _is_number(value):
        return None
    if not isinstance(value, str):
        return _Problem(_QUANTITY_FORMAT)  # the parser reads the JSON text itself
    text = value.strip()
    match = _QUANTITY.fullmatch(text)
    if not text or match is None:
        return _Problem(_QUANTITY_FORMAT)
    suffix = match.group(1)
    if suffix in _QUANTITY_SUFFIXES or _EXPONENT.fullmatch(suffix):
        return None
    return _Problem("unable to parse quantity's suffix")


def _illegal_base64(offset: int) -> str:
    return f"illegal base64 data at input byte {offset}"


_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")


def base64_error(text: str) -> int | None:
    """Where Go's base64.StdEncoding finds `text` corrupt (its byte offset), None if it decodes.

    Python's strict decoder settles the common case at C speed; Go's own algorithm (it skips
    newlines, and names the offset) runs only when that one refuses.
    """
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _go_base64_error(text.encode())
    return None


def _go_base64_error(data: bytes) -> int | None:
    """Go's decodeQuantum, quantum after quantum: the offset of the first corrupt byte."""
    position = 0
    while True:
        count = 0
        while count < 4:
            if position == len(data):
                return None if count == 0 else position - count
            byte = data[position]
            position += 1
            if byte in _BASE64_ALPHABET:
                count += 1
            elif byte not in _NEWLINES:
                return _padding_error(data, position, count) if byte == ord("=") else position - 1
        # a full quantum: on to the next


def _padding_error(data: bytes, position: int, count: int) -> int | None:
    """After a ``=`` that came as character `count` of a quantum: padding, then only newlines."""
    if count < 2:
        return position - 1
    if count == 2:
        position = _skip_newlines(data, position)
        if position == len(data):
            return len(data)
        if data[position] != ord("="):
            return position - 1
        position += 1
    position = _skip_newlines(data, position)
    return position if position < len(data) else None


def _skip_newlines(data: bytes, position: int) -> int:
    while position < len(data) and data[position] in _NEWLINES:
        position += 1
    return position


def _field_path(steps: list[_Step]) -> str:
    """A field path as validation errors print it: spec.containers[0].name, data[key]."""
    parts: list[str] = []
    for kind, label, _ in steps:
        if kind == _FIELD:
            parts.append(f".{label}" if parts else label)
        else:
            parts.append(f"[{label}]")
    return "".join(parts)


def _smd_path(steps: list[_Step]) -> str:
    """A path as structured-merge-diff prints it: .spec.containers[name="app"].image."""
    parts: list[str] = []
    for kind, label, extra in steps:
        if kind != _ITEM:
            parts.append(f".{label}")
            continue
        item, go = extra
        parts.append(_smd_element(label, item, go))
    return "".join(parts)


def _smd_element(index: int, item: Any, go: GoType) -> str:
    if go.list_type == "set":
        return f"[={json.dumps(item)}]"
    if go.list_type == "map" and isinstance(item, Mapping):
        pairs = [f"{key}={json.dumps(item[key])}" for key in sorted(go.keys) if key in item]
        if pairs:
            return f"[{','.join(pairs)}]"
    return f"[{index}]"
