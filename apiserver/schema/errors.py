"""Field errors as the real server words them, down to Go's formatting of the bad value.

kubectl prints a rejected object's causes verbatim, so an error here must read exactly like
apimachinery's ``field.Error`` (type, bad value, detail) and the 422 message like the real
server's; the Go formatting helpers (``%q``, ``%v``, ``%#v``) exist for that alone, and for the
decoders' messages (``decoding``), which print values the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_REASONS = {
    "Invalid value": "FieldValueInvalid",
    "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported",
    "Too long": "FieldValueTooLong",
    "Too many": "FieldValueTooMany",
    "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate",
}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field. `message` is everything the server prints after the field."""

    field: str
    type: str
    message: str

    @property
    def reason(self) -> str:
        """The `StatusCause.reason` the real server sends for this error."""
        return _REASONS[self.type]

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


_OMITTED = object()  # errors such as "Required value" show no value


def field_error(field: str, kind: str, detail: str = "", value: object = _OMITTED) -> FieldError:
    """Lay out an error as apimachinery's field.Error does: type, bad value, detail."""
    parts = [kind]
    if value is not _OMITTED:
        parts.append(_go_value(value))
    if detail:
        parts.append(detail)
    return FieldError(field, kind, ": ".join(parts))


def required(field: str, detail: str = "") -> FieldError:
    return field_error(field, "Required value", detail)


def invalid(field: str, value: object, detail: str) -> FieldError:
    return field_error(field, "Invalid value", detail, value)


def forbidden(field: str, detail: str) -> FieldError:
    return field_error(field, "Forbidden", detail)


def not_supported(field: str, value: object, allowed: Sequence[str]) -> FieldError:
    quoted = ", ".join(go_quote(item) for item in allowed)
    return field_error(field, "Unsupported value", f"supported values: {quoted}", value)


def invalid_message(kind_group: str, name: str, errors: Sequence[FieldError]) -> str:
    """The `message` of the 422 Status, e.g. `HelmRelease.flux.weave.works "x" is invalid: ...`."""
    texts = list(dict.fromkeys(str(error) for error in errors))  # the server drops duplicates
    head = f"{kind_group} {go_quote(name)} is invalid"
    if not texts:
        return head
    if len(texts) == 1:
        return f"{head}: {texts[0]}"
    return f"{head}: [{', '.join(texts)}]"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES.update({"\v": "\\v", '"': '\\"', "\\": "\\\\"})


def go_quote(text: str) -> str:
    """Go's %q of a string."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _go_float(number: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form below 1e-4 and from 1e6."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    shortest = Decimal(repr(number)).normalize()
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:
        return format(shortest, "f")
    digits = shortest.as_tuple().digits
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    sign = "-" if number < 0 else ""
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"


def go_number(number: float) -> str:
    return str(number) if isinstance(number, int) else _go_float(number)


def go_sharp(value: Any) -> str:
    """Go's %#v of a decoded JSON value, as field errors print maps and lists."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{go_quote(str(k))}:{go_sharp(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(go_sharp(item) for item in value) + "}"
    return go_quote(str(value))


def go_print(value: Any) -> str:
    """Go's %v of a decoded JSON value, as the server prints a patch: map[spec:map[replicas:2]]."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_print(item) for item in value) + "]"
    return str(value)


def _go_value(value: object) -> str:
    """A bad value as field.Error prints it: simple types plainly, strings quoted, null "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return go_number(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_sharp(value)
