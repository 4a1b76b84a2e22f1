"""Decoding of the Kubernetes protobuf request bodies that helm and kubectl send.

The typed Go clients (helm's release storage, ``kubectl create secret|configmap|namespace``,
``kubectl auth can-i``) write with ``Content-Type: application/vnd.kubernetes.protobuf`` and do
not fall back to JSON, so the in-memory API server has to read these bodies. Only the few
message types those clients send are described here; the result is the JSON form the real
server would return for them.

A body is the magic ``k8s\\0`` followed by ``runtime.Unknown{1 TypeMeta, 2 raw, 3
contentEncoding, 4 contentType}``, where ``raw`` is the protobuf of the typed object. Field
numbers follow ``k8s.io/api/core/v1/generated.proto``,
``k8s.io/api/authorization/v1/generated.proto`` and
``k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["ProtobufError", "UnsupportedKind", "decode_object", "is_protobuf"]

PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _FIXED64, _LEN, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5
_MAX_VARINT_BYTES = 10
_MAX_GROUP_DEPTH = 64


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf object."""


class UnsupportedKind(ProtobufError):
    """The body is well-formed but carries a kind this decoder does not describe."""


def is_protobuf(content_type: str) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == PROTOBUF_MEDIA_TYPE


# --- wire format -----------------------------------------------------------------------------

WireValue = int | bytes


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    for index in range(_MAX_VARINT_BYTES):
        if pos + index >= len(buf):
            raise ProtobufError(f"truncated varint at offset {pos}")
        byte = buf[pos + index]
        result |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos + index + 1
    raise ProtobufError(f"varint longer than {_MAX_VARINT_BYTES} bytes at offset {pos}")


def _take(buf: bytes, pos: int, size: int) -> tuple[bytes, int]:
    end = pos + size
    if end > len(buf):
        raise ProtobufError(f"field of {size} bytes at offset {pos} runs past the end")
    return buf[pos:end], end


def _skip_group(buf: bytes, pos: int, field_number: int, depth: int) -> int:
    """Skips a deprecated group up to its matching end tag; returns the offset after it."""
    if depth > _MAX_GROUP_DEPTH:
        raise ProtobufError("groups nested too deeply")
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _END_GROUP:
            if number != field_number:
                raise ProtobufError(f"end of group {number} does not match group {field_number}")
            return pos
        _, pos = _read_value(buf, pos, number, wire_type, depth + 1)
    raise ProtobufError(f"group {field_number} is not terminated")


def _read_value(
    buf: bytes, pos: int, number: int, wire_type: int, depth: int
) -> tuple[WireValue | None, int]:
    """Reads one field value; groups are skipped and yield None."""
    if wire_type == _VARINT:
        return _read_varint(buf, pos)
    if wire_type == _FIXED64:
        return _take(buf, pos, 8)
    if wire_type == _LEN:
        size, pos = _read_varint(buf, pos)
        return _take(buf, pos, size)
    if wire_type == _FIXED32:
        return _take(buf, pos, 4)
    if wire_type == _START_GROUP:
        return None, _skip_group(buf, pos, number, depth)
    raise ProtobufError(f"invalid wire type {wire_type} for field {number}")


def _iter_fields(buf: bytes) -> Iterator[tuple[int, int, WireValue]]:
    """Yields (field number, wire type, value) for every field of one message."""
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at offset {pos}")
        value, pos = _read_value(buf, pos, number, wire_type, 0)
        if value is not None:
            yield number, wire_type, value


# --- scalar conversions ----------------------------------------------------------------------


def _to_int64(value: WireValue) -> int:
    assert isinstance(value, int)
    return value - (1 << 64) if value >= 1 << 63 else value


def _to_bool(value: WireValue) -> bool:
    return value != 0


def _to_str(value: WireValue) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"string field is not valid UTF-8 (byte {exc.start})") from None


def _to_base64(value: WireValue) -> str:
    assert isinstance(value, bytes)
    return base64.b64encode(value).decode("ascii")


def _to_time(value: WireValue) -> str | None:
    """metav1.Time{1 seconds, 2 nanos} as RFC 3339 with second precision, like its JSON form."""
    assert isinstance(value, bytes)
    if not value:  # the zero time is sent as an empty message and is null in JSON
        return None
    seconds = 0
    for number, wire_type, raw in _iter_fields(value):
        if number == 1:
            seconds = _to_int64(_expect(raw, wire_type, _VARINT, number))
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"timestamp {seconds} is out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _expect(value: WireValue, wire_type: int, expected: int, number: int) -> WireValue:
    if wire_type != expected:
        raise ProtobufError(f"field {number} has wire type {wire_type}, expected {expected}")
    return value


# --- message schemas -------------------------------------------------------------------------

Shape = Literal["single", "repeated", "map"]


@dataclass(frozen=True)
class _Field:
    name: str
    wire_type: int
    convert: Callable[[WireValue], Any]
    shape: Shape = "single"
    # Pointer fields (*bool, *int64, *string in Go) keep a zero value: it was set on purpose.
    keep_zero: bool = False


_Schema = dict[int, _Field]


def _string(name: str, shape: Shape = "single", keep_zero: bool = False) -> _Field:
    return _Field(name, _LEN, _to_str, shape, keep_zero)


def _int64(name: str, keep_zero: bool = False) -> _Field:
    return _Field(name, _VARINT, _to_int64, keep_zero=keep_zero)


def _bool(name: str) -> _Field:
    return _Field(name, _VARINT, _to_bool, keep_zero=True)


def _message(name: str, schema: _Schema, shape: Shape = "single") -> _Field:
    return _Field(name, _LEN, lambda value: _decode_message(value, schema), shape)


def _time(name: str) -> _Field:
    return _Field(name, _LEN, _to_time)


def _string_map(name: str) -> _Field:
    return _Field(name, _LEN, _to_str, "map")


def _bytes_map(name: str) -> _Field:
    return _Field(name, _LEN, _to_base64, "map")


_OWNER_REFERENCE: _Schema = {
    1: _string("kind"),
    3: _string("name"),
    4: _string("uid"),
    5: _string("apiVersion"),
    6: _bool("controller"),
    7: _bool("blockOwnerDeletion"),
}

_OBJECT_META: _Schema = {
    1: _string("name"),
    2: _string("generateName"),
    3: _string("namespace"),
    4: _string("selfLink"),
    5: _string("uid"),
    6: _string("resourceVersion"),
    7: _int64("generation"),
    8: _time("creationTimestamp"),
    9: _time("deletionTimestamp"),
    10: _int64("deletionGracePeriodSeconds", keep_zero=True),
    11: _string_map("labels"),
    12: _string_map("annotations"),
    13: _message("ownerReferences", _OWNER_REFERENCE, "repeated"),
    14: _string("finalizers", "repeated"),
    # 17 managedFields is skipped: the server keeps its own field ownership.
}

_SECRET: _Schema = {
    1: _message("metadata", _OBJECT_META),
    2: _bytes_map("data"),
    3: _string("type"),
    4: _string_map("stringData"),
    5: _bool("immutable"),
}

_CONFIG_MAP: _Schema = {
    1: _message("metadata", _OBJECT_META),
    2: _string_map("data"),
    3: _bytes_map("binaryData"),
    4: _bool("immutable"),
}

_NAMESPACE_CONDITION: _Schema = {
    1: _string("type"),
    2: _string("status"),
    4: _time("lastTransitionTime"),
    5: _string("reason"),
    6: _string("message"),
}

_NAMESPACE: _Schema = {
    1: _message("metadata", _OBJECT_META),
    2: _message("spec", {1: _string("finalizers", "repeated")}),
    3: _message(
        "status",
        {1: _string("phase"), 2: _message("conditions", _NAMESPACE_CONDITION, "repeated")},
    ),
}

_DELETE_OPTIONS: _Schema = {
    1: _int64("gracePeriodSeconds", keep_zero=True),
    2: _message(
        "preconditions",
        {1: _string("uid", keep_zero=True), 2: _string("resourceVersion", keep_zero=True)},
    ),
    3: _bool("orphanDependents"),
    4: _string("propagationPolicy", keep_zero=True),
    5: _string("dryRun", "repeated"),
}

# k8s.io/api/authorization/v1/generated.proto: what ``kubectl auth can-i [--list]`` sends.
_RESOURCE_ATTRIBUTES: _Schema = {
    1: _string("namespace"),
    2: _string("verb"),
    3: _string("group"),
    4: _string("version"),
    5: _string("resource"),
    6: _string("subresource"),
    7: _string("name"),
    # 8 fieldSelector and 9 labelSelector are skipped: RBAC does not read them.
}

_SELF_SUBJECT_ACCESS_REVIEW: _Schema = {
    1: _message("metadata", _OBJECT_META),
    2: _message(
        "spec",
        {
            1: _message("resourceAttributes", _RESOURCE_ATTRIBUTES),
            2: _message("nonResourceAttributes", {1: _string("path"), 2: _string("verb")}),
        },
    ),
}

_SELF_SUBJECT_RULES_REVIEW: _Schema = {
    1: _message("metadata", _OBJECT_META),
    2: _message("spec", {1: _string("namespace")}),
}

_TYPE_META: _Schema = {1: _string("apiVersion"), 2: _string("kind")}

_SCHEMAS_BY_KIND: dict[str, _Schema] = {
    "Secret": _SECRET,
    "ConfigMap": _CONFIG_MAP,
    "Namespace": _NAMESPACE,
    "DeleteOptions": _DELETE_OPTIONS,
    "SelfSubjectAccessReview": _SELF_SUBJECT_ACCESS_REVIEW,
    "SelfSubjectRulesReview": _SELF_SUBJECT_RULES_REVIEW,
}

_MAP_ENTRY_KEY, _MAP_ENTRY_VALUE = 1, 2


def _decode_map_entry(entry: bytes, spec: _Field) -> tuple[str, Any]:
    key, value = "", spec.convert(b"")  # an absent key or value is the empty one
    for number, wire_type, raw in _iter_fields(entry):
        if number == _MAP_ENTRY_KEY:
            key = _to_str(_expect(raw, wire_type, _LEN, number))
        elif number == _MAP_ENTRY_VALUE:
            value = spec.convert(_expect(raw, wire_type, spec.wire_type, number))
    return key, value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value == {}


def _decode_message(buf: WireValue, schema: _Schema) -> dict[str, Any]:
    assert isinstance(buf, bytes)
    result: dict[str, Any] = {}
    for number, wire_type, raw in _iter_fields(buf):
        spec = schema.get(number)
        if spec is None:
            continue  # unknown field: already skipped by its wire type
        if spec.shape == "map":
            entry = _expect(raw, wire_type, _LEN, number)
            assert isinstance(entry, bytes)
            key, value = _decode_map_entry(entry, spec)
            result.setdefault(spec.name, {})[key] = value
            continue
        value = spec.convert(_expect(raw, wire_type, spec.wire_type, number))
        if spec.shape == "repeated":
            result.setdefault(spec.name, []).append(value)
        elif value is None or (_is_empty(value) and not spec.keep_zero):
            result.pop(spec.name, None)  # the last occurrence wins, even an empty one
        else:
            result[spec.name] = value
    return result


# --- envelope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Envelope:
    api_version: str
    kind: str
    raw: bytes
    content_encoding: str


def _decode_envelope(body: bytes) -> _Envelope:
    if not body.startswith(MAGIC):
        raise ProtobufError("body does not start with the Kubernetes protobuf magic k8s\\0")
    api_version = kind = content_encoding = ""
    raw = b""
    for number, wire_type, value in _iter_fields(body[len(MAGIC) :]):
        if number == 1:
            type_meta = _decode_message(_expect(value, wire_type, _LEN, number), _TYPE_META)
            api_version = type_meta.get("apiVersion", "")
            kind = type_meta.get("kind", "")
        elif number == 2:
            raw_value = _expect(value, wire_type, _LEN, number)
            assert isinstance(raw_value, bytes)
            raw = raw_value
        elif number == 3:
            content_encoding = _to_str(_expect(value, wire_type, _LEN, number))
    return _Envelope(api_version, kind, raw, content_encoding)


def decode_object(body: bytes) -> dict[str, Any]:
    """Decodes a protobuf request body into the object's JSON form.

    Raises ProtobufError for malformed input and UnsupportedKind (a ProtobufError) for a kind
    without a schema here. Empty fields are omitted; bytes maps are base64 strings.
    """
    envelope = _decode_envelope(body)
    if not envelope.kind:
        raise ProtobufError("protobuf body carries no kind")
    if envelope.content_encoding:
        raise ProtobufError(f"unsupported content encoding {envelope.content_encoding!r}")
    schema = _SCHEMAS_BY_KIND.get(envelope.kind)
    if schema is None:
        raise UnsupportedKind(f"protobuf bodies of kind {envelope.kind!r} are not supported")
    obj: dict[str, Any] = {"apiVersion": envelope.api_version} if envelope.api_version else {}
    obj["kind"] = envelope.kind
    obj.update(_decode_message(envelope.raw, schema))
    return obj
