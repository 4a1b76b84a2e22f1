"""OpenAPI v3 structural schemas of apiextensions.k8s.io/v1 CRDs: prune, default, validate.

The server admits a custom resource in the real server's order: `prune` drops fields the schema
does not know, `apply_defaults` fills in defaults, `validate` reports what is still wrong.
Error texts follow the real server (kube-openapi messages wrapped in field errors), so kubectl
prints the same lines. `structural_errors` rejects CRD schemas the real server would not accept.
Everything here is pure: plain JSON values in, new values or error lists out.
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

Schema = Mapping[str, Any]

_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED = "x-kubernetes-embedded-resource"
_INT_OR_STRING = "x-kubernetes-int-or-string"
_LIST_TYPE = "x-kubernetes-list-type"
_LIST_MAP_KEYS = "x-kubernetes-list-map-keys"


# --- field errors -----------------------------------------------------------------------------

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


def _error(field: str, kind: str, detail: str = "", value: object = _OMITTED) -> FieldError:
    """Lay out an error as apimachinery's field.Error does: type, bad value, detail."""
    parts = [kind]
    if value is not _OMITTED:
        parts.append(_go_value(value))
    if detail:
        parts.append(detail)
    return FieldError(field, kind, ": ".join(parts))


def _required(field: str, detail: str = "") -> FieldError:
    return _error(field, "Required value", detail)


def _invalid(field: str, value: object, detail: str) -> FieldError:
    return _error(field, "Invalid value", detail, value)


def _forbidden(field: str, detail: str) -> FieldError:
    return _error(field, "Forbidden", detail)


def _not_supported(field: str, value: object, allowed: Sequence[str]) -> FieldError:
    quoted = ", ".join(_go_quote(item) for item in allowed)
    return _error(field, "Unsupported value", f"supported values: {quoted}", value)


def invalid_message(kind_group: str, name: str, errors: Sequence[FieldError]) -> str:
    """The `message` of the 422 Status, e.g. `HelmRelease.flux.weave.works "x" is invalid: ...`."""
    texts = list(dict.fromkeys(str(error) for error in errors))  # the server drops duplicates
    head = f"{kind_group} {_go_quote(name)} is invalid"
    if not texts:
        return head
    if len(texts) == 1:
        return f"{head}: {texts[0]}"
    return f"{head}: [{', '.join(texts)}]"


# --- Go value formatting ----------------------------------------------------------------------

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES.update({"\v": "\\v", '"': '\\"', "\\": "\\\\"})


def _go_quote(text: str) -> str:
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


def _go_number(number: float) -> str:
    return str(number) if isinstance(number, int) else _go_float(number)


def _go_sharp(value: Any) -> str:
    """Go's %#v of a decoded JSON value, as field errors print maps and lists."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_go_quote(str(k))}:{_go_sharp(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_sharp(item) for item in value) + "}"
    return _go_quote(str(value))


def _go_value(value: object) -> str:
    """A bad value as field.Error prints it: simple types plainly, strings quoted, null "null"."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_number(value)
    if isinstance(value, str):
        return _go_quote(value)
    return _go_sharp(value)


# --- JSON helpers -----------------------------------------------------------------------------


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


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _schema_or_none(value: Any) -> Schema | None:
    return value if isinstance(value, Mapping) else None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a Go-only construct: the real server accepted the CRD, so do not fail


# --- validation -------------------------------------------------------------------------------


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
    if schema.get(_INT_OR_STRING) is True:
        return ["integer", "string"]
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) and kind else []


def _type_error(path: str, expected: list[str], actual: str) -> FieldError:
    detail = f"{path} in body must be of type {','.join(expected)}: {_go_quote(actual)}"
    return _invalid(path, actual, detail)


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
    return _invalid("<nil>", "", f"{_go_quote(path)} {detail}")


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
        errors.append(_error(path, "Too long", f"may not be more than {max_length} {unit}"))
    min_length = schema.get("minLength")
    if isinstance(min_length, int) and len(value) < min_length:
        detail = f"{path} in body should be at least {min_length} chars long"
        errors.append(_invalid(path, value, detail))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        compiled = _compiled(pattern)
        if compiled is not None and compiled.search(value) is None:
            errors.append(_invalid(path, value, f"{path} in body should match '{pattern}'"))
    format_name = schema.get("format")
    checker = _FORMATS.get(format_name) if isinstance(format_name, str) else None
    if checker is not None and not checker(value):
        detail = f"{path} in body must be of type {format_name}: {_go_quote(value)}"
        errors.append(_invalid(path, value, detail))


def _validate_number(schema: Schema, value: float, path: str, errors: list[FieldError]) -> None:
    multiple = _number(schema.get("multipleOf"))
    if multiple is not None and multiple > 0 and not _is_multiple(value, multiple):
        detail = f"{path} in body should be a multiple of {_go_number(multiple)}"
        errors.append(_invalid(path, value, detail))
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
            detail = f"{path} in body should be {text} {_go_number(shown)}"
            errors.append(_invalid(path, value, detail))


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
    items = _schema_or_none(schema.get("items"))
    if items is not None:
        for index, item in enumerate(value):
            _validate(items, item, f"{path}[{index}]", errors)
    min_items = schema.get("minItems")
    if isinstance(min_items, int) and len(value) < min_items:
        detail = f"{path} in body should have at least {min_items} items"
        errors.append(_invalid(path, len(value), detail))
    max_items = schema.get("maxItems")
    if isinstance(max_items, int) and len(value) > max_items:
        errors.append(_too_many(path, len(value), max_items))
    if schema.get("uniqueItems") is True and len({_canonical(v) for v in value}) < len(value):
        errors.append(_invalid(path, "", f"{path} in body shouldn't contain duplicates"))
    errors.extend(_list_type_errors(schema, value, path))


def _too_many(path: str, actual: int, maximum: int) -> FieldError:
    unit = "item" if maximum == 1 else "items"
    return _error(path, "Too many", f"must have at most {maximum} {unit}", actual)


def _list_type_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    """Duplicates in `x-kubernetes-list-type: set` lists, or duplicate keys in `map` lists."""
    list_type = schema.get(_LIST_TYPE)
    keys = schema.get(_LIST_MAP_KEYS)
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
            duplicates.append(_error(f"{path}[{index}]", "Duplicate value", "", shown))
        seen.add(identity)
    return duplicates


def _validate_enum(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> None:
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or not allowed:
        return
    if _canonical(value) in {_canonical(option) for option in allowed}:
        return
    names = [option if isinstance(option, str) else json.dumps(option) for option in allowed]
    errors.append(_not_supported(path, value, names))


def _validate_object(
    schema: Schema, value: Mapping[str, Any], path: str, errors: list[FieldError]
) -> None:
    count = len(value)
    min_properties = schema.get("minProperties")
    if isinstance(min_properties, int) and count < min_properties:
        detail = f"{path} in body should have at least {min_properties} properties"
        errors.append(_invalid(path, count, detail))
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
            detail = f"{_child(path, key)} in body is a forbidden property"
            errors.append(_invalid(path, key, detail))
        elif isinstance(additional, Mapping):
            _validate(additional, item, _child(path, key), errors)
    for key, property_schema in properties.items():
        if key in value and isinstance(property_schema, Mapping):
            _validate(property_schema, value[key], _child(path, key), errors)
    required = schema.get("required")
    for key in required if isinstance(required, list) else ():
        if key not in value:
            errors.append(_required(_child(path, key)))
    if schema.get(_EMBEDDED) is True:
        for key in ("apiVersion", "kind"):
            if not value.get(key):
                errors.append(_required(_child(path, key), "must not be empty"))


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


# --- pruning ----------------------------------------------------------------------------------

_OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)
_RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")


def prune(
    schema: Schema, obj: Mapping[str, Any], unknown: list[str] | None = None
) -> dict[str, Any]:
    """A copy of `obj` without the fields `schema` does not declare.

    apiVersion, kind and metadata of the object itself are kept as they are (metadata has its
    own rules). The path of every dropped field (`spec.foo`, `spec.items[0].bar`) is appended
    to `unknown` when given: the server warns about them, or rejects them when strict.
    """
    dropped = unknown if unknown is not None else []
    return _prune_object(schema, obj, "", dropped, verbatim=_RESOURCE_FIELDS)


def _prune(schema: Schema | None, value: Any, path: str, dropped: list[str]) -> Any:
    if schema is None:
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        if schema.get(_EMBEDDED) is True:
            return _prune_embedded(schema, value, path, dropped)
        return _prune_object(schema, value, path, dropped)
    if isinstance(value, list):
        items = _schema_or_none(schema.get("items"))
        return [
            _prune(items, item, f"{path}[{index}]", dropped) for index, item in enumerate(value)
        ]
    return value


def _prune_object(
    schema: Schema,
    value: Mapping[str, Any],
    path: str,
    dropped: list[str],
    verbatim: Sequence[str] = (),
) -> dict[str, Any]:
    properties = _schema_or_none(schema.get("properties")) or {}
    additional = schema.get("additionalProperties")
    preserve = schema.get(_PRESERVE) is True or additional is True
    result: dict[str, Any] = {}
    for key, item in value.items():
        child = _child(path, key)
        if key in verbatim:
            result[key] = copy.deepcopy(item)
        elif key in properties:
            result[key] = _prune(_schema_or_none(properties[key]), item, child, dropped)
        elif isinstance(additional, Mapping):
            result[key] = _prune(additional, item, child, dropped)
        elif preserve:
            result[key] = copy.deepcopy(item)
        else:
            dropped.append(child)
    return result


def _prune_embedded(
    schema: Schema, value: Mapping[str, Any], path: str, dropped: list[str]
) -> dict[str, Any]:
    """An embedded object keeps apiVersion and kind, and the ObjectMeta fields of metadata."""
    result = _prune_object(schema, value, path, dropped, verbatim=_RESOURCE_FIELDS)
    metadata = value.get("metadata")
    if isinstance(metadata, Mapping):
        for key in metadata:
            if key not in _OBJECT_META_FIELDS:
                dropped.append(_child(_child(path, "metadata"), key))
        result["metadata"] = {
            key: item for key, item in result["metadata"].items() if key in _OBJECT_META_FIELDS
        }
    return result


# --- defaulting -------------------------------------------------------------------------------


def apply_defaults(schema: Schema, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` with the schema's defaults filled in, as the real server does.

    A null where the schema does not allow one is replaced by the default, or dropped when there
    is none; a null the schema allows (`nullable: true`) stays null.
    """
    result = copy.deepcopy(dict(obj))
    _default(schema, result)
    return result


def _is_replaceable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and schema.get("nullable") is not True


def _default(schema: Schema | None, value: Any) -> None:
    """Fill in defaults in place (`value` is a private copy)."""
    if schema is None:
        return
    if isinstance(value, dict):
        _default_object(schema, value)
    elif isinstance(value, list):
        items = _schema_or_none(schema.get("items"))
        for index, item in enumerate(value):
            if _is_replaceable_null(item, items) and items is not None and "default" in items:
                value[index] = copy.deepcopy(items["default"])
            _default(items, value[index])


def _default_object(schema: Schema, value: dict[str, Any]) -> None:
    properties = _schema_or_none(schema.get("properties")) or {}
    additional = _schema_or_none(schema.get("additionalProperties"))
    for key, property_schema in properties.items():
        defaulted = isinstance(property_schema, Mapping) and "default" in property_schema
        if defaulted and (key not in value or _is_replaceable_null(value[key], property_schema)):
            value[key] = copy.deepcopy(property_schema["default"])
    for key in list(value):
        child_schema = _schema_or_none(properties[key]) if key in properties else additional
        if _is_replaceable_null(value[key], child_schema):
            if child_schema is not None and "default" in child_schema:
                value[key] = copy.deepcopy(child_schema["default"])
            else:
                del value[key]
                continue
        _default(child_schema, value[key])


# --- structural schema rules ------------------------------------------------------------------

_TYPES = ("array", "boolean", "integer", "number", "object", "string")
_VALUE_VALIDATIONS = ("allOf", "anyOf", "oneOf", "not")
# Keywords a value validation (allOf/anyOf/oneOf/not) must leave to the structural part.
_FORBIDDEN_IN_VALUE_VALIDATION = {
    "type": "must be empty to be structural",
    "additionalProperties": "must be undefined to be structural",
    "default": "must be undefined to be structural",
    "title": "must be empty to be structural",
    "description": "must be empty to be structural",
    "nullable": "must be false to be structural",
    _PRESERVE: "must be false to be structural",
    _EMBEDDED: "must be false to be structural",
    _INT_OR_STRING: "must be false to be structural",
    _LIST_TYPE: "must be undefined to be structural",
    _LIST_MAP_KEYS: "must be empty to be structural",
}


def structural_errors(schema: Schema) -> list[str]:
    """Why `schema` (an openAPIV3Schema) is not structural, as texts relative to its root.

    For example `properties[spec].type: Required value: must not be empty for specified object
    fields`; the server prefixes them with the schema's place in the CRD and a dot.
    """
    problems: list[FieldError] = []
    if schema.get("type") != "object":
        if schema.get("type"):
            problems.append(_invalid("type", schema.get("type"), "must be object at the root"))
        else:
            problems.append(_required("type", "must not be empty at the root"))
    properties = _schema_or_none(schema.get("properties")) or {}
    metadata = properties.get("metadata")
    if isinstance(metadata, Mapping) and _metadata_goes_beyond_names(metadata):
        problems.append(
            _forbidden(
                "properties[metadata]",
                "must not specify anything other than name and generateName, but metadata is"
                " implicitly specified",
            )
        )
    _check_node(schema, "", None, problems)
    return [str(problem) for problem in problems]


def _metadata_goes_beyond_names(metadata: Schema) -> bool:
    properties = metadata.get("properties")
    extra = set(properties) - {"name", "generateName"} if isinstance(properties, Mapping) else set()
    return bool(extra) or any(key in metadata for key in ("required", "additionalProperties"))


def _check_node(schema: Schema, path: str, place: str | None, problems: list[FieldError]) -> None:
    """Check one node; `place` says where it is for a missing type (None: the root, checked
    by the caller)."""
    kind = schema.get("type")
    exempt = schema.get(_INT_OR_STRING) is True or schema.get(_PRESERVE) is True
    if place is not None and not kind and not exempt:
        problems.append(_required(_child(path, "type"), f"must not be empty {place}"))
    if kind and kind not in _TYPES:
        problems.append(_not_supported(_child(path, "type"), kind, _TYPES))
    if kind and schema.get(_INT_OR_STRING) is True:
        problems.append(
            _forbidden(_child(path, "type"), "must be empty if x-kubernetes-int-or-string is true")
        )
    if schema.get(_PRESERVE) is False:
        problems.append(
            _invalid(_child(path, _PRESERVE), False, "must be true or undefined to be structural")
        )
    if schema.get("uniqueItems") is True:
        problems.append(
            _forbidden(
                _child(path, "uniqueItems"),
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
            )
        )
    if schema.get(_EMBEDDED) is True and kind != "object":
        problems.append(
            _invalid(_child(path, "type"), kind or "", f"must be object if {_EMBEDDED} is true")
        )
    if "default" in schema:
        problems.extend(_default_errors(schema, path))
    _check_children(schema, path, problems)
    for keyword in _VALUE_VALIDATIONS:
        for branch_path, branch in _branches(schema, keyword, path):
            _check_value_validation(branch, branch_path, problems)


def _default_errors(schema: Schema, path: str) -> list[FieldError]:
    """A default must itself be valid: the server validates it like an object's field."""
    default_path = _child(path, "default")
    return [
        replace(
            error,
            field=default_path
            if error.field in ("", "<nil>")
            else _child(default_path, error.field),
        )
        for error in validate(schema, schema["default"])
    ]


def _check_children(schema: Schema, path: str, problems: list[FieldError]) -> None:
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    if isinstance(properties, Mapping):
        if properties and additional is not None and additional is not True:
            problems.append(
                _forbidden(
                    _child(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                )
            )
        for key, child in properties.items():
            child_path = _child(path, f"properties[{key}]")
            if isinstance(child, Mapping):
                _check_node(child, child_path, "for specified object fields", problems)
    if isinstance(additional, Mapping):
        _check_node(
            additional,
            _child(path, "additionalProperties"),
            "for specified object fields",
            problems,
        )
    items = schema.get("items")
    if isinstance(items, list):
        problems.append(
            _forbidden(_child(path, "items"), "items must be a schema object and not an array")
        )
    elif isinstance(items, Mapping):
        _check_node(items, _child(path, "items"), "for specified array items", problems)
    elif schema.get("type") == "array":
        problems.append(_required(_child(path, "items"), "must be specified"))


def _branches(schema: Schema, keyword: str, path: str) -> list[tuple[str, Schema]]:
    value = schema.get(keyword)
    if isinstance(value, Mapping):
        return [(_child(path, keyword), value)]
    if isinstance(value, list):
        return [
            (_child(path, f"{keyword}[{index}]"), branch)
            for index, branch in enumerate(value)
            if isinstance(branch, Mapping)
        ]
    return []


def _is_set(value: Any) -> bool:
    return value is not None and value is not False and value != "" and value != []


def _check_value_validation(schema: Schema, path: str, problems: list[FieldError]) -> None:
    """Inside allOf/anyOf/oneOf/not only value checks may appear, never structure."""
    for keyword, detail in _FORBIDDEN_IN_VALUE_VALIDATION.items():
        if _is_set(schema.get(keyword)):
            problems.append(_forbidden(_child(path, keyword), detail))
    properties = schema.get("properties")
    for key, child in properties.items() if isinstance(properties, Mapping) else ():
        if isinstance(child, Mapping):
            _check_value_validation(child, _child(path, f"properties[{key}]"), problems)
    items = schema.get("items")
    if isinstance(items, Mapping):
        _check_value_validation(items, _child(path, "items"), problems)
    for keyword in _VALUE_VALIDATIONS:
        for branch_path, branch in _branches(schema, keyword, path):
            _check_value_validation(branch, branch_path, problems)
