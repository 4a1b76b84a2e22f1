"""Validation of a value against an OpenAPI v3 schema, with kube-openapi's messages.

Checks types, compositions (allOf/anyOf/oneOf/not), strings, numbers, arrays, enums and objects
in the real server's order, and the string formats a CRD is likely to use; every problem is a
FieldError, so the 422 a client gets lists the same causes a real cluster would.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from .common import (
    EMBEDDED,
    INT_OR_STRING,
    LIST_MAP_KEYS,
    LIST_TYPE,
    Schema,
    join_path,
    schema_or_none,
)
from .errors import FieldError, field_error, go_number, go_quote, invalid, not_supported, required


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _canonical(value: Any) -> str:
    """A text equal for equal JSON values (1 and 1.0 are equal, true and 1 are not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Mapping):
        members = (f"{json.dumps(str(k))}:{_canonical(value[k])}" for k in sorted(value, key=str))
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    return json.dumps(value, default=repr)


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(go_regexp(pattern))
    except re.error:
        return None  # a Go-only construct: the real server accepted the CRD, so do not fail


def go_regexp(pattern: str) -> str:
    """A Go (RE2) pattern in Python's terms where they differ: ``$`` (no multi-line flag)
    and ``\\z`` are the end of the text, where Python's ``$`` also matches before a final
    newline (so ``^[a-z]+$`` accepted ``"abc\\n"``, which a real server refuses)."""
    out, index, in_class = [], 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            out.append("\\Z" if escaped == "z" and not in_class else char + escaped)
            index += 2
            continue
        if in_class:
            in_class = char != "]" or out[-1] in ("[", "[^")
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "^":
                out.append("[^")
                index += 2
                continue
        elif char == "$":
            char = "\\Z"
        out.append(char)
        index += 1
    return "".join(out)


def validate(schema: Schema, obj: Any) -> list[FieldError]:
    """Every problem of `obj` against `schema`, in the order the real server reports them."""
    errors: list[FieldError] = []
    _validate(schema, obj, "", errors)
    return errors


def _validate(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    if value is None:
        _validate_null(schema, path, errors)
        return
    if not _validate_type(schema, value, path, errors):
        return
    _validate_compositions(schema, value, path, errors)
    if isinstance(value, str):
        _validate_string(schema, value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _validate_number(schema, value, path, errors)
    elif isinstance(value, list):
        _validate_array(schema, value, path, errors)
    _validate_enum(schema, value, path, errors)
    if isinstance(value, Mapping):
        _validate_object(schema, value, path, errors)


def _expected_types(schema: Schema) -> list[str]:
    if schema.get(INT_OR_STRING) is True:
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) and kind else []


def _type_error(path: str, expected: list[str], actual: str) -> FieldError:
    detail = f"{path} in body must be of type {','.join(expected)}: {go_quote(actual)}"
    return invalid(path, actual, detail)


def _validate_null(schema: Schema, path: str, errors: list[FieldError]) -> None:
    expected = _expected_types(schema)
    if expected and schema.get("nullable") is not True:
        errors.append(_type_error(path, expected, "null"))


def _validate_type(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> bool:
    expected = _expected_types(schema)
    if not expected:
        return True
    actual = _json_type(value)
    integral_float = actual == "number" and value.is_integer() and "integer" in expected
    if actual in expected or integral_float or (actual == "integer" and "number" in expected):
        return True
    errors.append(_type_error(path, expected, actual))
    return False


def _composite_error(path: str, detail: str) -> FieldError:
    """allOf/anyOf/oneOf/not failures reach the server without a field, and print as such."""
    return invalid("<nil>", "", f"{go_quote(path)} {detail}")


def _closest(failures: list[list[FieldError]]) -> list[FieldError]:
    """The errors of the branch that came closest: they explain why none passed."""
    return min(failures, key=len)


def _validate_compositions(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    def branch_errors(branch: Any) -> list[FieldError]:
        found: list[FieldError] = []
        if isinstance(branch, Mapping):
            _validate(branch, value, path, found)
        return found

    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        failures = [branch_errors(branch) for branch in all_of]
        for failure in failures:
            errors.extend(failure)
        failed = sum(1 for failure in failures if failure)
        if failed:
            suffix = ". None validated" if failed == len(failures) else ""
            errors.append(_composite_error(path, f"must validate all the schemas (allOf){suffix}"))
    any_of = schema.get("anyOf")
    if isinstance(any_of, list) and any_of:
        failures = [branch_errors(branch) for branch in any_of]
        if not any(not failure for failure in failures):
            errors.append(_composite_error(path, "must validate at least one schema (anyOf)"))
            errors.extend(_closest(failures))
    one_of = schema.get("oneOf")
    if isinstance(one_of, list) and one_of:
        failures = [branch_errors(branch) for branch in one_of]
        passed = sum(1 for failure in failures if not failure)
        if passed != 1:
            found = "Found none valid" if passed == 0 else f"Found {passed} valid alternatives"
            detail = f"must validate one and only one schema (oneOf). {found}"
            errors.append(_composite_error(path, detail))
            if passed == 0:
                errors.extend(_closest(failures))
    negated = schema.get("not")
    if isinstance(negated, Mapping) and not branch_errors(negated):
        errors.append(_composite_error(path, "must not validate the schema (not)"))


def _validate_string(schema: Schema, value: str, path: str, errors: list[FieldError]) -> None:
    max_length = schema.get("maxLength")
    if isinstance(max_length, int) and len(value) > max_length:
        unit = "byte" if max_length == 1 else "bytes"
        errors.append(field_error(path, "Too long", f"may not be more than {max_length} {unit}"))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{path} in body should be at least {min_length} chars long"
        errors.append(invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        compiled = _compiled(pattern)
        if compiled is not None and compiled.search(value) is None:
            errors.append(invalid(path, value, f"{path} in body should match '{pattern}'"))
    format_name = schema.get("format")
    checker = _FORMATS.get(format_name) if isinstance(format_name, str) else None
    if checker is not None and not checker(value):
        detail = f"{path} in body must be of type {format_name}: {go_quote(value)}"
        errors.append(invalid(path, value, detail))


def _validate_number(schema: Schema, value: float, path: str, errors: list[FieldError]) -> None:
    multiple = _number(schema.get("multipleOf"))
    if multiple is not None and multiple > 0 and not _is_multiple(value, multiple):
        detail = f"{path} in body should be a multiple of {go_number(multiple)}"
        errors.append(invalid(path, value, detail))
    for keyword, exclusive_keyword, fails, inclusive_text, exclusive_text in (
        ("maximum", "exclusiveMaximum", _above, "less than or equal to", "less than"),
        ("minimum", "exclusiveMinimum", _below, "greater than or equal to", "greater than"),
    ):
        bound = _number(schema.get(keyword))
        if bound is None:
            continue
        exclusive = schema.get(exclusive_keyword) is True
        if fails(value, bound, exclusive):
            text = exclusive_text if exclusive else inclusive_text
            shown = int(bound) if isinstance(value, int) and float(bound).is_integer() else bound
            detail = f"{path} in body should be {text} {go_number(shown)}"
            errors.append(invalid(path, value, detail))


def _number(value: Any) -> int | float | None:
    """`value` if it is a JSON number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _is_multiple(value: float, factor: float) -> bool:
    quotient = value / factor
    return math.isclose(quotient, round(quotient), rel_tol=1e-9, abs_tol=1e-9)


def _above(value: float, bound: float, exclusive: bool) -> bool:
    return value >= bound if exclusive else value > bound


def _below(value: float, bound: float, exclusive: bool) -> bool:
    return value <= bound if exclusive else value < bound


def _validate_array(schema: Schema, value: list[Any], path: str, errors: list[FieldError]) -> None:
    items = schema_or_none(schema.get("items"))
    if items is not None:
        for index, item in enumerate(value):
            _validate(items, item, f"{path}[{index}]", errors)
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{path} in body should have at least {min_items} items"
        errors.append(invalid(path, len(value), detail))
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(_too_many(path, len(value), max_items))
    if schema.get("uniqueItems") is True and len({_canonical(v) for v in value}) < len(value):
        errors.append(invalid(path, "", f"{path} in body shouldn't contain duplicates"))
    errors.extend(_list_type_errors(schema, value, path))


def _too_many(path: str, actual: int, maximum: int) -> FieldError:
    unit = "item" if maximum == 1 else "items"
    return field_error(path, "Too many", f"must have at most {maximum} {unit}", actual)


def _list_type_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    """Duplicates in `x-kubernetes-list-type: set` lists, or duplicate keys in `map` lists."""
    list_type = schema.get(LIST_TYPE)
    keys = schema.get(LIST_MAP_KEYS)
    if list_type == "set":
        identities = [(_canonical(item), item) for item in value]
    elif list_type == "map" and isinstance(keys, list):
        identities = []
        for item in value:
            key = {k: item.get(k) for k in keys if k in item} if isinstance(item, Mapping) else {}
            identities.append((_canonical(key), key))
    else:
        return []
    seen: set[str] = set()
    duplicates = []
    for index, (identity, shown) in enumerate(identities):
        if identity in seen:
            duplicates.append(field_error(f"{path}[{index}]", "Duplicate value", "", shown))
        seen.add(identity)
    return duplicates


def _validate_enum(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or not allowed:
        return
    if _canonical(value) in {_canonical(option) for option in allowed}:
        return
    names = [option if isinstance(option, str) else json.dumps(option) for option in allowed]
    errors.append(not_supported(path, value, names))


def _validate_object(
    schema: Schema, value: Mapping[str, Any], path: str, errors: list[FieldError]
) -> None:
    count = len(value)
    min_properties = schema.get("minProperties")
    if isinstance(min_properties, int) and count < min_properties:
        detail = f"{path} in body should have at least {min_properties} properties"
        errors.append(invalid(path, count, detail))
        return
    max_properties = schema.get("maxProperties")
    if isinstance(max_properties, int) and count > max_properties:
        errors.append(_too_many(path, count, max_properties))
        return
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    additional = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            continue
        if additional is False:
            detail = f"{join_path(path, key)} in body is a forbidden property"
            errors.append(invalid(path, key, detail))
        elif isinstance(additional, Mapping):
            _validate(additional, item, join_path(path, key), errors)
    for key, property_schema in properties.items():
        if key in value and isinstance(property_schema, Mapping):
            _validate(property_schema, value[key], join_path(path, key), errors)
    required_keys = schema.get("required")
    for key in required_keys if isinstance(required_keys, list) else ():
        if key not in value:
            errors.append(required(join_path(path, key)))
    if schema.get(EMBEDDED) is True:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                errors.append(required(join_path(path, key), "must not be empty"))


def _is_date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in text.upper() or " " in text


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_UUID = re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_MAC = re.compile(r"(?i)[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
_HOSTNAME = re.compile(
    r"(?i)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?"
)

# The formats the real server checks that a CRD is likely to use; others are not checked.
_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_date_time,
    "date": _is_date,
    "uuid": lambda text: _UUID.fullmatch(text) is not None,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "byte": _is_base64,
    "mac": lambda text: _MAC.fullmatch(text) is not None,
    "hostname": lambda text: len(text) <= 255 and _HOSTNAME.fullmatch(text) is not None,
}
