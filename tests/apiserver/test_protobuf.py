"""Decoding of Kubernetes protobuf request bodies (Secret, ConfigMap, Namespace, DeleteOptions).

Covers the JSON form produced for each kind (empty fields omitted, bytes as base64), byte-exact
round-trips of Secret data, skipping of unknown fields of every wire type, and clear
ProtobufError values for malformed input. Bodies are built with a small encoder in this file.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiserver.protobuf import (
    ProtobufError,
    UnsupportedKind,
    decode_object,
    is_protobuf,
)

# --- a minimal protobuf encoder ------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are sent as 10-byte two's complement
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def int_field(number: int, value: int) -> bytes:
    return tag(number, 0) + varint(value)


def bytes_field(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def str_field(number: int, text: str) -> bytes:
    return bytes_field(number, text.encode())


def map_field(number: int, entries: dict[str, bytes]) -> bytes:
    return b"".join(
        bytes_field(number, bytes_field(1, key.encode()) + bytes_field(2, value))
        for key, value in entries.items()
    )


def str_map_field(number: int, entries: dict[str, str]) -> bytes:
    return map_field(number, {key: value.encode() for key, value in entries.items()})


def envelope(kind: str, raw: bytes, api_version: str = "v1") -> bytes:
    type_meta = str_field(1, api_version) + str_field(2, kind)
    return b"k8s\x00" + bytes_field(1, type_meta) + bytes_field(2, raw)


def object_meta(**fields: bytes) -> bytes:
    return b"".join(fields.values())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- content type --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf; charset=utf-8", True),
        ("Application/VND.Kubernetes.Protobuf;stream=watch", True),
        ("application/json", False),
        ("application/vnd.kubernetes.protobuf+json", False),
        ("", False),
    ],
)
def test_is_protobuf_recognises_the_media_type(content_type: str, expected: bool) -> None:
    assert is_protobuf(content_type) is expected


# --- kinds ---------------------------------------------------------------------------------


def test_helm_release_secret_decodes_to_its_json_form() -> None:
    release = b"H4sIAAAAAAAA/\x00\xff\x80binary"
    meta = object_meta(
        name=str_field(1, "sh.helm.release.v1.demo.v1"),
        namespace=str_field(3, "default"),
        creation=bytes_field(8, b""),  # the zero time: null in JSON, so omitted
        labels=str_map_field(11, {"name": "demo", "owner": "helm", "status": "pending-install"}),
    )
    raw = (
        bytes_field(1, meta)
        + map_field(2, {"release": release})
        + str_field(3, "helm.sh/release.v1")
    )

    assert decode_object(envelope("Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "sh.helm.release.v1.demo.v1",
            "namespace": "default",
            "labels": {"name": "demo", "owner": "helm", "status": "pending-install"},
        },
        "data": {"release": b64(release)},
        "type": "helm.sh/release.v1",
    }


def test_secret_string_data_and_immutable_are_decoded() -> None:
    raw = str_map_field(4, {"password": "s3cret"}) + int_field(5, 1)

    decoded = decode_object(envelope("Secret", raw))

    assert decoded["stringData"] == {"password": "s3cret"}
    assert decoded["immutable"] is True


def test_object_meta_fields_are_decoded() -> None:
    owner = (
        str_field(1, "Deployment")
        + str_field(3, "demo")
        + str_field(4, "uid-1")
        + str_field(5, "apps/v1")
        + int_field(6, 1)
        + int_field(7, 0)
    )
    meta = b"".join(
        [
            str_field(2, "demo-"),
            str_field(4, "/api/v1/namespaces/default/configmaps/demo"),
            str_field(5, "0b0c"),
            str_field(6, "42"),
            int_field(7, 3),
            bytes_field(8, int_field(1, 1_700_000_000) + int_field(2, 123)),
            bytes_field(9, int_field(1, 1_700_000_030)),
            int_field(10, 30),
            str_map_field(12, {"note": "x"}),
            bytes_field(13, owner),
            str_field(14, "example.com/a"),
            str_field(14, "example.com/b"),
            bytes_field(17, str_field(1, "helm")),  # managedFields: skipped
        ]
    )

    decoded = decode_object(envelope("ConfigMap", bytes_field(1, meta)))

    assert decoded["metadata"] == {
        "generateName": "demo-",
        "selfLink": "/api/v1/namespaces/default/configmaps/demo",
        "uid": "0b0c",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2023-11-14T22:13:20Z",
        "deletionTimestamp": "2023-11-14T22:13:50Z",
        "deletionGracePeriodSeconds": 30,
        "annotations": {"note": "x"},
        "ownerReferences": [
            {
                "kind": "Deployment",
                "name": "demo",
                "uid": "uid-1",
                "apiVersion": "apps/v1",
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ],
        "finalizers": ["example.com/a", "example.com/b"],
    }


def test_zero_generation_and_empty_strings_are_omitted() -> None:
    meta = str_field(1, "demo") + str_field(2, "") + int_field(7, 0) + str_field(5, "")

    decoded = decode_object(envelope("ConfigMap", bytes_field(1, meta)))

    assert decoded == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo"}}


def test_negative_int64_is_decoded_from_ten_byte_varint() -> None:
    meta = int_field(10, -1)

    decoded = decode_object(envelope("Secret", bytes_field(1, meta)))

    assert decoded["metadata"] == {"deletionGracePeriodSeconds": -1}


def test_config_map_decodes_data_binary_data_and_false_immutable() -> None:
    raw = (
        bytes_field(1, str_field(1, "settings"))
        + str_map_field(2, {"a.yaml": "x: 1\n", "empty": ""})
        + map_field(3, {"blob": b"\x00\x01"})
        + int_field(4, 0)
    )

    assert decode_object(envelope("ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"a.yaml": "x: 1\n", "empty": ""},
        "binaryData": {"blob": b64(b"\x00\x01")},
        "immutable": False,
    }


def test_namespace_decodes_spec_finalizers_and_status() -> None:
    condition = str_field(1, "NamespaceDeletionContentFailure") + str_field(2, "False")
    raw = (
        bytes_field(1, str_field(1, "bar"))
        + bytes_field(2, str_field(1, "kubernetes"))
        + bytes_field(3, str_field(1, "Active") + bytes_field(2, condition))
    )

    assert decode_object(envelope("Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "bar"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {
            "phase": "Active",
            "conditions": [{"type": "NamespaceDeletionContentFailure", "status": "False"}],
        },
    }


def test_delete_options_keep_explicit_zero_values() -> None:
    raw = (
        int_field(1, 0)
        + bytes_field(2, str_field(1, "uid-1") + str_field(2, "7"))
        + int_field(3, 0)
        + str_field(4, "Background")
        + str_field(5, "All")
    )

    assert decode_object(envelope("DeleteOptions", raw, api_version="meta.k8s.io/v1")) == {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1", "resourceVersion": "7"},
        "orphanDependents": False,
        "propagationPolicy": "Background",
        "dryRun": ["All"],
    }


def test_empty_delete_options_decode_to_type_only() -> None:
    assert decode_object(envelope("DeleteOptions", b"")) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
    }


def test_map_entry_without_value_maps_to_empty_value() -> None:
    raw = bytes_field(2, bytes_field(1, b"empty"))

    assert decode_object(envelope("Secret", raw))["data"] == {"empty": ""}


def test_last_occurrence_of_a_singular_field_wins() -> None:
    raw = str_field(3, "Opaque") + str_field(3, "helm.sh/release.v1")

    assert decode_object(envelope("Secret", raw))["type"] == "helm.sh/release.v1"


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    group = tag(30, 3) + int_field(1, 5) + tag(2, 3) + tag(2, 4) + tag(30, 4)
    unknown = (
        int_field(21, 300)
        + tag(22, 1)
        + b"\x01" * 8
        + bytes_field(23, b"\xff\xfe")
        + tag(24, 5)
        + b"\x02" * 4
        + group
    )
    raw = unknown + bytes_field(1, unknown + str_field(1, "demo")) + str_field(3, "Opaque")

    assert decode_object(envelope("Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "demo"},
        "type": "Opaque",
    }


def test_envelope_content_type_field_is_ignored() -> None:
    body = envelope("Secret", str_field(3, "Opaque")) + str_field(4, "application/x-ignored")

    assert decode_object(body)["type"] == "Opaque"


# --- malformed input -----------------------------------------------------------------------

SECRET_BYTES = b"top-secret-value"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "magic"),
        (b'{"kind":"Secret"}', "magic"),
        (b"k8s\x00" + b"\x80", "truncated varint"),
        (b"k8s\x00" + b"\x08" + b"\xff" * 11, "longer than"),
        (b"k8s\x00" + tag(1, 2) + varint(50) + b"short", "runs past the end"),
        (b"k8s\x00" + tag(1, 6), "invalid wire type"),
        (b"k8s\x00" + tag(1, 7), "invalid wire type"),
        (b"k8s\x00" + b"\x00", "field number 0"),
        (b"k8s\x00" + tag(9, 3) + int_field(1, 1), "not terminated"),
        (b"k8s\x00" + tag(9, 3) + tag(8, 4), "does not match"),
        (b"k8s\x00" + tag(1, 0) + varint(1), "wire type"),
        (b"k8s\x00" + bytes_field(2, str_field(3, "Opaque")), "no kind"),
        (envelope("Secret", str_field(3, "Opaque")) + str_field(3, "gzip"), "content encoding"),
        (envelope("Secret", bytes_field(1, bytes_field(1, b"\xc3\x28"))), "UTF-8"),
        (envelope("Secret", str_field(2, "not-a-map-entry-but-bytes")), "wire type"),
        (envelope("Secret", int_field(2, 1)), "wire type"),
        (envelope("Secret", bytes_field(1, bytes_field(8, int_field(1, 1 << 62)))), "range"),
        (envelope("Secret", map_field(2, {"k": SECRET_BYTES})[:-3]), "runs past the end"),
    ],
)
def test_malformed_bodies_raise_protobuf_error(body: bytes, message: str) -> None:
    with pytest.raises(ProtobufError, match=message) as excinfo:
        decode_object(body)
    assert SECRET_BYTES.decode() not in str(excinfo.value)


def test_unsupported_kind_is_a_distinct_protobuf_error() -> None:
    with pytest.raises(UnsupportedKind, match="'Deployment'"):
        decode_object(envelope("Deployment", b"", api_version="apps/v1"))


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_protobuf_error(payload: bytes) -> None:
    for body in (b"k8s\x00" + payload, envelope("Secret", payload)):
        try:
            decoded = decode_object(body)
        except ProtobufError:
            continue
        assert isinstance(decoded, dict)


# --- round-trips ---------------------------------------------------------------------------

keys = st.text(min_size=1, max_size=20)
text_values = st.text(max_size=40)


@given(
    data=st.dictionaries(keys, st.binary(max_size=300), max_size=5),
    labels=st.dictionaries(keys, text_values, max_size=5),
    annotations=st.dictionaries(keys, text_values, max_size=5),
)
def test_secret_data_labels_and_annotations_round_trip(
    data: dict[str, bytes], labels: dict[str, str], annotations: dict[str, str]
) -> None:
    meta = str_field(1, "s") + str_map_field(11, labels) + str_map_field(12, annotations)
    raw = bytes_field(1, meta) + map_field(2, data)

    decoded = decode_object(envelope("Secret", raw))

    metadata: dict[str, Any] = decoded["metadata"]
    assert metadata.get("labels", {}) == labels
    assert metadata.get("annotations", {}) == annotations
    round_tripped = {k: base64.b64decode(v) for k, v in decoded.get("data", {}).items()}
    assert round_tripped == data
