"""CRD structural schemas: validation messages, pruning, defaulting and structural rules.

Each validation keyword is checked against the text the real API server returns; pruning and
defaulting follow the server's rules (preserve-unknown-fields, embedded resources, nullable);
`structural_errors` rejects non-structural schemas; the project's flux.weave.works/v1beta1
HelmRelease CRD accepts the documented example as written (it declares no defaults), rejects bad
HelmReleases with the server's messages (its chart oneOf included), and gets defaults filled in
by the same admission once its schema declares some. Property tests
check that arbitrary JSON never crashes admission and that pruning and defaulting are stable.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from apiserver.schema import (
    FieldError,
    apply_defaults,
    invalid_message,
    prune,
    structural_errors,
    validate,
)

CRD_PATH = Path(__file__).resolve().parents[2] / "manifests/crds/helmreleases.flux.weave.works.yaml"
HELM_RELEASE_SCHEMA: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0][
    "schema"
]["openAPIV3Schema"]


def at(path: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A root object schema holding `schema` at the dotted `path`."""
    for key in reversed(path.split(".")):
        schema = {"type": "object", "properties": {key: schema}}
    return schema


def nested(path: str, value: Any) -> dict[str, Any]:
    """An object holding `value` at the dotted `path`."""
    head, _, rest = path.partition(".")
    return {head: nested(rest, value) if rest else value}


def messages(schema: dict[str, Any], obj: Any) -> list[str]:
    return [str(error) for error in validate(schema, obj)]


# --- validation messages ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        (
            {"type": "integer"},
            "string",
            'spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"',
        ),
        (
            {"type": "integer"},
            1.5,
            'spec.x: Invalid value: "number": spec.x in body must be of type integer: "number"',
        ),
        (
            {"type": "integer"},
            True,
            'spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean"',
        ),
        (
            {"type": "string"},
            {"a": 1},
            'spec.x: Invalid value: "object": spec.x in body must be of type string: "object"',
        ),
        (
            {"type": "object"},
            [1],
            'spec.x: Invalid value: "array": spec.x in body must be of type object: "array"',
        ),
        (
            {"type": "boolean"},
            "true",
            'spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string"',
        ),
        (
            {"type": "string"},
            None,
            'spec.x: Invalid value: "null": spec.x in body must be of type string: "null"',
        ),
        (
            {"x-kubernetes-int-or-string": True},
            True,
            'spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string:'
            ' "boolean"',
        ),
        (
            {"type": "string", "enum": ["a", "b"]},
            "x",
            'spec.x: Unsupported value: "x": supported values: "a", "b"',
        ),
        (
            {"type": "integer", "enum": [1, 2]},
            3,
            'spec.x: Unsupported value: 3: supported values: "1", "2"',
        ),
        (
            {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "Bad_Name",
            'spec.x: Invalid value: "Bad_Name": spec.x in body should match'
            " '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        (
            {"type": "string", "maxLength": 53},
            "r" * 54,
            "spec.x: Too long: may not be more than 53 bytes",
        ),
        (
            {"type": "string", "maxLength": 1},
            "ab",
            "spec.x: Too long: may not be more than 1 byte",
        ),
        (
            {"type": "string", "minLength": 3},
            "ab",
            'spec.x: Invalid value: "ab": spec.x in body should be at least 3 chars long',
        ),
        (
            {"type": "integer", "minimum": 1},
            0,
            "spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1",
        ),
        (
            {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
            1,
            "spec.x: Invalid value: 1: spec.x in body should be greater than 1",
        ),
        (
            {"type": "integer", "maximum": 10},
            11,
            "spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10",
        ),
        (
            {"type": "number", "maximum": 1.5, "exclusiveMaximum": True},
            1.5,
            "spec.x: Invalid value: 1.5: spec.x in body should be less than 1.5",
        ),
        (
            {"type": "number", "maximum": 1e6},
            2e6,
            "spec.x: Invalid value: 2e+06: spec.x in body should be less than or equal to 1e+06",
        ),
        (
            {"type": "integer", "multipleOf": 5},
            7,
            "spec.x: Invalid value: 7: spec.x in body should be a multiple of 5",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "minItems": 2},
            ["a"],
            "spec.x: Invalid value: 1: spec.x in body should have at least 2 items",
        ),
        (
            {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            ["a", "b"],
            "spec.x: Too many: 2: must have at most 1 item",
        ),
        (
            {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
            [1, 2, 1],
            'spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates',
        ),
        (
            {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
            ["a", "b", "a"],
            'spec.x[2]: Duplicate value: "a"',
        ),
        (
            {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
            [{"name": "a"}, {"name": "a"}],
            'spec.x[1]: Duplicate value: map[string]interface {}{"name":"a"}',
        ),
        (
            {"type": "object", "minProperties": 2},
            {"a": 1},
            "spec.x: Invalid value: 1: spec.x in body should have at least 2 properties",
        ),
        (
            {"type": "object", "maxProperties": 1},
            {"a": 1, "b": 2},
            "spec.x: Too many: 2: must have at most 1 item",
        ),
        (
            {"type": "object", "additionalProperties": False},
            {"a": 1},
            'spec.x: Invalid value: "a": spec.x.a in body is a forbidden property',
        ),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            {"a": "1"},
            'spec.x.a: Invalid value: "string": spec.x.a in body must be of type integer: "string"',
        ),
        (
            {"type": "string", "format": "date-time"},
            "yesterday",
            'spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time:'
            ' "yesterday"',
        ),
        (
            {"type": "string", "format": "ipv4"},
            "10.0.0.256",
            'spec.x: Invalid value: "10.0.0.256": spec.x in body must be of type ipv4:'
            ' "10.0.0.256"',
        ),
        (
            {"type": "string", "format": "uuid"},
            "not-a-uuid",
            'spec.x: Invalid value: "not-a-uuid": spec.x in body must be of type uuid:'
            ' "not-a-uuid"',
        ),
        (
            {"type": "object", "x-kubernetes-embedded-resource": True},
            {"kind": "Pod"},
            "spec.x.apiVersion: Required value: must not be empty",
        ),
        (
            {"type": "string", "pattern": "^a"},
            'b"\n',
            'spec.x: Invalid value: "b\\"\\n": spec.x in body should match \'^a\'',
        ),
    ],
)
def test_keyword_failures_are_reported_like_the_real_server(
    schema: dict[str, Any], value: Any, expected: str
) -> None:
    assert messages(at("spec.x", schema), nested("spec.x", value)) == [expected]


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer"}, 3),
        ({"type": "integer"}, 3.0),
        ({"type": "number"}, 3),
        ({"type": "number"}, 3.5),
        ({"type": "string", "nullable": True}, None),
        ({"x-kubernetes-int-or-string": True}, 8080),
        ({"x-kubernetes-int-or-string": True}, "http"),
        ({"x-kubernetes-preserve-unknown-fields": True}, {"any": ["thing", 1, None]}),
        ({"type": "string", "format": "date-time"}, "2026-11-23T23:45:00Z"),
        ({"type": "string", "format": "date"}, "2026-11-23"),
        ({"type": "string", "format": "cidr"}, "10.0.0.0/8"),
        ({"type": "string", "format": "ipv6"}, "fd00::1"),
        ({"type": "string", "format": "byte"}, "aGVsbG8="),
        ({"type": "string", "format": "no-such-format"}, "anything"),
        ({"type": "string", "pattern": "(?<!x)y"}, "y"),
        ({"type": "integer", "enum": [1, 2]}, 2.0),
        ({"type": "string", "minLength": 2, "maxLength": 2}, "ab"),
        ({"type": "integer", "minimum": 1, "maximum": 1}, 1),
        (
            {"type": "object", "x-kubernetes-embedded-resource": True},
            {"apiVersion": "v1", "kind": "Pod"},
        ),
        ({"type": "array", "items": {"type": "integer"}, "x-kubernetes-list-type": "set"}, [1, 2]),
    ],
)
def test_valid_values_pass(schema: dict[str, Any], value: Any) -> None:
    assert validate(at("spec.x", schema), nested("spec.x", value)) == []


def test_required_fields_and_nested_paths() -> None:
    schema = at(
        "spec",
        {
            "type": "object",
            "required": ["chart"],
            "properties": {
                "chart": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                }
            },
        },
    )
    assert messages(schema, {"spec": {}}) == ["spec.chart: Required value"]
    assert messages(schema, {"spec": {"chart": {"version": "1"}}}) == [
        "spec.chart.name: Required value"
    ]
    assert messages({"type": "object", "required": ["spec"]}, {}) == ["spec: Required value"]


def test_array_items_are_reported_with_their_index() -> None:
    schema = at(
        "spec.ports",
        {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"port": {"type": "integer", "maximum": 65535}},
            },
        },
    )
    obj = nested("spec.ports", [{"port": 80}, {"port": 70000}])
    assert messages(schema, obj) == [
        "spec.ports[1].port: Invalid value: 70000: spec.ports[1].port in body should be less than"
        " or equal to 65535"
    ]


def test_several_errors_are_all_reported() -> None:
    schema = at(
        "spec",
        {
            "type": "object",
            "required": ["a"],
            "properties": {"b": {"type": "integer"}, "c": {"type": "string", "enum": ["x"]}},
        },
    )
    assert messages(schema, {"spec": {"b": "1", "c": "y"}}) == [
        'spec.b: Invalid value: "string": spec.b in body must be of type integer: "string"',
        'spec.c: Unsupported value: "y": supported values: "x"',
        "spec.a: Required value",
    ]


OVERLAPPING = [{"maximum": 3}, {"minimum": 0}]
DISJOINT = [{"maximum": 3}, {"minimum": 10}]
AT_MOST_3 = "spec.x: Invalid value: 5: spec.x in body should be less than or equal to 3"


@pytest.mark.parametrize(
    ("keyword", "branches", "value", "expected"),
    [
        (
            "allOf",
            OVERLAPPING,
            5,
            [AT_MOST_3, '<nil>: Invalid value: "": "spec.x" must validate all the schemas (allOf)'],
        ),
        ("allOf", OVERLAPPING, 1, []),
        (
            "anyOf",
            DISJOINT,
            5,
            [
                '<nil>: Invalid value: "": "spec.x" must validate at least one schema (anyOf)',
                AT_MOST_3,
            ],
        ),
        ("anyOf", DISJOINT, 11, []),
        (
            "oneOf",
            DISJOINT,
            5,
            [
                '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf).'
                " Found none valid",
                AT_MOST_3,
            ],
        ),
        (
            "oneOf",
            OVERLAPPING,
            1,
            [
                '<nil>: Invalid value: "": "spec.x" must validate one and only one schema (oneOf).'
                " Found 2 valid alternatives"
            ],
        ),
        ("oneOf", OVERLAPPING, 5, []),
    ],
)
def test_value_validation_compositions(
    keyword: str, branches: list[dict[str, Any]], value: int, expected: list[str]
) -> None:
    schema = at("spec.x", {"type": "integer", keyword: branches})
    assert messages(schema, nested("spec.x", value)) == expected


def test_not() -> None:
    schema = at("spec.x", {"type": "string", "not": {"enum": ["forbidden"]}})
    assert messages(schema, nested("spec.x", "forbidden")) == [
        '<nil>: Invalid value: "": "spec.x" must not validate the schema (not)'
    ]
    assert messages(schema, nested("spec.x", "fine")) == []


def test_field_error_parts_and_cause_reason() -> None:
    (error,) = validate(at("spec.x", {"type": "string", "maxLength": 2}), nested("spec.x", "abc"))
    assert error == FieldError("spec.x", "Too long", "Too long: may not be more than 2 bytes")
    assert error.reason == "FieldValueTooLong"
    (required,) = validate({"type": "object", "required": ["spec"]}, {})
    assert required.reason == "FieldValueRequired"


def test_invalid_message_single_and_several() -> None:
    one = FieldError("spec.chart.name", "Required value", "Required value")
    two = FieldError("spec.x", "Invalid value", 'Invalid value: "a": bad')
    kind = "HelmRelease.flux.weave.works"
    assert invalid_message(kind, "demo", [one]) == (
        'HelmRelease.flux.weave.works "demo" is invalid: spec.chart.name: Required value'
    )
    assert invalid_message(kind, "demo", [one, two, one]) == (
        'HelmRelease.flux.weave.works "demo" is invalid: '
        '[spec.chart.name: Required value, spec.x: Invalid value: "a": bad]'
    )


# --- the project's HelmRelease CRD ------------------------------------------------------------

EXAMPLE: dict[str, Any] = {
    "apiVersion": "flux.weave.works/v1beta1",
    "kind": "HelmRelease",
    "metadata": {"name": "rabbitmq", "namespace": "default"},
    "spec": {
        "releaseName": "rabbitmq",
        "chart": {
            "repository": "https://charts.example.com/",
            "name": "rabbitmq",
            "version": "3.3.6",
        },
        "values": {"replicas": 1},
    },
}


def admit(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What the server does with a HelmRelease: prune, default, validate."""
    admitted = apply_defaults(HELM_RELEASE_SCHEMA, prune(HELM_RELEASE_SCHEMA, obj))
    return admitted, messages(HELM_RELEASE_SCHEMA, admitted)


def with_spec(**changes: Any) -> dict[str, Any]:
    return {**EXAMPLE, "spec": {**EXAMPLE["spec"], **changes}}


def test_the_crd_schema_is_structural() -> None:
    assert structural_errors(HELM_RELEASE_SCHEMA) == []


def test_the_documented_example_is_valid_and_keeps_its_values() -> None:
    admitted, errors = admit(EXAMPLE)
    assert errors == []
    assert admitted["spec"]["values"] == {"replicas": 1}
    assert admitted["spec"]["chart"] == EXAMPLE["spec"]["chart"]
    assert admitted["metadata"] == EXAMPLE["metadata"]


def one_of_failed(path: str, found: str) -> str:
    """The server's message for a oneOf that failed: it carries no field (Go's nil path)."""
    return (
        f'<nil>: Invalid value: "": "{path}" must validate one and only one schema (oneOf). {found}'
    )


def test_a_helm_release_without_chart_name_is_rejected() -> None:
    # v1beta1 asks for the name only within its chart oneOf (repository, name and version, or
    # git and path): the oneOf fails, followed by the Required errors of one of its branches.
    chart = {"repository": "https://charts.example.com/", "version": "3.3.6"}
    _, errors = admit(with_spec(chart=chart))
    assert errors[0] == one_of_failed("spec.chart", "Found none valid")
    assert errors[1:]
    for error in errors[1:]:
        assert re.fullmatch(r"spec\.chart\.\w+: Required value", error), error


@pytest.mark.parametrize(
    ("chart", "expected"),
    [
        pytest.param({"git": "git@github.com:org/repo", "path": "charts/app"}, [], id="git"),
        pytest.param(
            {"git": "git@github.com:org/repo"},
            [
                one_of_failed("spec.chart", "Found none valid"),
                "spec.chart.path: Required value",
            ],
            id="git without path",
        ),
        pytest.param(
            {
                "git": "git@github.com:org/repo",
                "path": "charts/app",
                **EXAMPLE["spec"]["chart"],
            },
            [one_of_failed("spec.chart", "Found 2 valid alternatives")],
            id="git and repository",
        ),
    ],
)
def test_the_chart_comes_from_git_or_from_a_repository(
    chart: dict[str, Any], expected: list[str]
) -> None:
    _, errors = admit(with_spec(chart=chart))
    assert errors == expected


def test_each_values_source_sets_exactly_one_reference() -> None:
    one = {"configMapKeyRef": {"name": "values"}}
    two = {**one, "secretKeyRef": {"name": "values"}}
    _, errors = admit(with_spec(valuesFrom=[one, two]))
    assert errors == [one_of_failed("spec.valuesFrom[1]", "Found 2 valid alternatives")]


def test_a_bad_release_name_is_rejected() -> None:
    _, errors = admit(with_spec(releaseName="Bad_Name"))
    assert errors == [
        'spec.releaseName: Invalid value: "Bad_Name": spec.releaseName in body should match'
        " '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
    ]
    _, errors = admit(with_spec(releaseName="r" * 54))
    assert errors == ["spec.releaseName: Too long: may not be more than 53 bytes"]


def test_a_helm_release_without_spec_is_rejected() -> None:
    _, errors = admit({key: value for key, value in EXAMPLE.items() if key != "spec"})
    assert errors == ["spec: Required value"]


def test_unknown_spec_fields_are_pruned_and_reported() -> None:
    unknown: list[str] = []
    pruned = prune(HELM_RELEASE_SCHEMA, with_spec(replicas=3), unknown)
    assert "replicas" not in pruned["spec"]
    assert unknown == ["spec.replicas"]


# --- pruning ----------------------------------------------------------------------------------

PRUNING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "known": {"type": "string"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "list": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "limits": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"cpu": {"type": "string"}},
                    },
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {}}},
                },
            },
        },
    },
}


def test_prune_drops_undeclared_fields_and_reports_their_paths() -> None:
    unknown: list[str] = []
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "labels": {"a": "b"}},
        "spec": {
            "known": "k",
            "extra": 1,
            "list": [{"name": "a", "junk": 1}, {"name": "b"}],
            "limits": {"web": {"cpu": "1", "gpu": "2"}},
        },
        "status": {"x": 1},
    }
    pruned = prune(PRUNING_SCHEMA, obj, unknown)
    assert pruned == {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "labels": {"a": "b"}},
        "spec": {
            "known": "k",
            "list": [{"name": "a"}, {"name": "b"}],
            "limits": {"web": {"cpu": "1"}},
        },
    }
    assert list(pruned) == ["apiVersion", "kind", "metadata", "spec"]
    assert unknown == ["spec.extra", "spec.list[0].junk", "spec.limits.web.gpu", "status"]


def test_prune_keeps_preserved_and_additional_properties() -> None:
    obj = {
        "spec": {
            "free": {"anything": {"deep": [1, {"x": None}]}},
            "labels": {"app": "web", "tier": "db"},
        }
    }
    assert prune(PRUNING_SCHEMA, obj) == obj


def test_prune_keeps_embedded_resource_identity_and_object_meta_only() -> None:
    unknown: list[str] = []
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1},
        "spec": {"containers": []},
        "other": 1,
    }
    pruned = prune(PRUNING_SCHEMA, {"spec": {"template": template}}, unknown)
    assert pruned["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {},
    }
    assert unknown == [
        "spec.template.spec.containers",
        "spec.template.other",
        "spec.template.metadata.bogus",
    ]


def test_prune_empties_objects_where_the_schema_has_a_scalar() -> None:
    unknown: list[str] = []
    obj = {"spec": {"known": {"not": "a string"}, "list": "not a list"}}
    assert prune(PRUNING_SCHEMA, obj, unknown) == {"spec": {"known": {}, "list": "not a list"}}
    assert unknown == ["spec.known.not"]


def test_prune_does_not_modify_its_input() -> None:
    obj = {"spec": {"known": "k", "extra": {"a": 1}}}
    prune(PRUNING_SCHEMA, obj)
    assert obj == {"spec": {"known": "k", "extra": {"a": 1}}}


# --- defaulting -------------------------------------------------------------------------------

DEFAULTING_SCHEMA: dict[str, Any] = at(
    "spec",
    {
        "type": "object",
        "default": {},
        "properties": {
            "timeout": {"type": "integer", "default": 300},
            "mode": {"type": "string", "default": "fast"},
            "optional": {"type": "string", "nullable": True, "default": "set"},
            "plain": {"type": "string"},
            "install": {
                "type": "object",
                "default": {},
                "properties": {"retries": {"type": "integer", "default": 3}},
            },
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "default": {"port": 1},
                    "properties": {"protocol": {"type": "string", "default": "TCP"}},
                },
            },
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string", "default": "on"},
            },
        },
    },
)


def test_defaults_fill_missing_fields_recursively() -> None:
    assert apply_defaults(DEFAULTING_SCHEMA, {"metadata": {"name": "x"}}) == {
        "metadata": {"name": "x"},
        "spec": {
            "timeout": 300,
            "mode": "fast",
            "optional": "set",
            "install": {"retries": 3},
        },
    }


def test_defaults_keep_given_values() -> None:
    spec = {"timeout": 5, "mode": "slow", "optional": "mine", "install": {"retries": 0}}
    assert apply_defaults(DEFAULTING_SCHEMA, {"spec": spec})["spec"] == spec


def test_nulls_are_defaulted_dropped_or_kept_as_the_schema_says() -> None:
    obj = {"spec": {"timeout": None, "plain": None, "optional": None}}
    spec = apply_defaults(DEFAULTING_SCHEMA, obj)["spec"]
    assert spec["timeout"] == 300  # not nullable, has a default
    assert "plain" not in spec  # not nullable, no default
    assert spec["optional"] is None  # nullable: stays null


def test_defaults_apply_to_array_items_and_additional_properties() -> None:
    obj = {"spec": {"ports": [{}, None, {"protocol": "UDP"}], "env": {"A": None, "B": "off"}}}
    spec = apply_defaults(DEFAULTING_SCHEMA, obj)["spec"]
    assert spec["ports"] == [
        {"protocol": "TCP"},
        {"port": 1, "protocol": "TCP"},
        {"protocol": "UDP"},
    ]
    assert spec["env"] == {"A": "on", "B": "off"}


def test_defaulting_does_not_modify_its_input_or_share_defaults() -> None:
    obj: dict[str, Any] = {}
    first = apply_defaults(DEFAULTING_SCHEMA, obj)
    first["spec"]["install"]["retries"] = 99
    assert obj == {}
    assert apply_defaults(DEFAULTING_SCHEMA, {})["spec"]["install"] == {"retries": 3}


def test_the_crd_defaults_nothing() -> None:
    # The operator applies its defaults itself, telling an unset field from one set to false.
    admitted, errors = admit(EXAMPLE)
    assert errors == []
    assert admitted == EXAMPLE
    set_to_false = with_spec(resetValues=False, wait=False)
    assert admit(set_to_false)[0] == set_to_false


def test_defaults_declared_in_the_crd_schema_are_admitted() -> None:
    # The HelmRelease schema with the defaults its earlier version declared: admission fills
    # them in beside the oneOf, the patterns and the preserved values, and keeps given ones.
    assert EXAMPLE["spec"].keys() == {"releaseName", "chart", "values"}
    schema = copy.deepcopy(HELM_RELEASE_SCHEMA)
    spec = schema["properties"]["spec"]["properties"]
    spec["timeout"]["default"] = 300
    spec["maxHistory"]["default"] = 10
    admitted = apply_defaults(schema, prune(schema, EXAMPLE))
    assert messages(schema, admitted) == []
    assert admitted["spec"] == {**EXAMPLE["spec"], "timeout": 300, "maxHistory": 10}
    given = with_spec(timeout=120, maxHistory=0)
    assert apply_defaults(schema, prune(schema, given)) == given


# --- structural rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "properties": {"spec": {"properties": {}}}},
            "properties[spec].type: Required value: must not be empty for specified object fields",
        ),
        (
            {"type": "array", "items": {"type": "string"}},
            'type: Invalid value: "array": must be object at the root',
        ),
        ({"properties": {}}, "type: Required value: must not be empty at the root"),
        (
            at(
                "spec",
                {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                },
            ),
            "properties[spec].additionalProperties: Forbidden: additionalProperties and properties"
            " are mutual exclusive",
        ),
        (
            at("spec", {"type": "array"}),
            "properties[spec].items: Required value: must be specified",
        ),
        (
            at("spec", {"type": "array", "items": [{"type": "string"}]}),
            "properties[spec].items: Forbidden: items must be a schema object and not an array",
        ),
        (
            at("spec", {"type": "array", "items": {}}),
            "properties[spec].items.type: Required value: must not be empty for specified array"
            " items",
        ),
        (
            at("spec", {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
            "properties[spec].uniqueItems: Forbidden: uniqueItems cannot be set to true since the"
            " runtime complexity becomes quadratic",
        ),
        (
            at("spec", {"type": "text"}),
            'properties[spec].type: Unsupported value: "text": supported values: "array",'
            ' "boolean", "integer", "number", "object", "string"',
        ),
        (
            at("spec", {"type": "string", "anyOf": [{"type": "string"}]}),
            "properties[spec].anyOf[0].type: Forbidden: must be empty to be structural",
        ),
        (
            at("spec", {"type": "integer", "not": {"default": 1}}),
            "properties[spec].not.default: Forbidden: must be undefined to be structural",
        ),
        (
            at("spec", {"type": "object", "x-kubernetes-preserve-unknown-fields": False}),
            "properties[spec].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be"
            " true or undefined to be structural",
        ),
        (
            at("metadata", {"type": "object", "properties": {"labels": {"type": "object"}}}),
            "properties[metadata]: Forbidden: must not specify anything other than name and"
            " generateName, but metadata is implicitly specified",
        ),
        (
            at("spec", {"type": "integer", "default": "ten"}),
            'properties[spec].default: Invalid value: "string":  in body must be of type integer:'
            ' "string"',
        ),
        (
            at(
                "spec",
                {
                    "type": "object",
                    "default": {"n": 0},
                    "properties": {"n": {"type": "integer", "minimum": 1}},
                },
            ),
            "properties[spec].default.n: Invalid value: 0: n in body should be greater than or"
            " equal to 1",
        ),
    ],
)
def test_non_structural_schemas_are_rejected(schema: dict[str, Any], expected: str) -> None:
    assert structural_errors(schema) == [expected]


@pytest.mark.parametrize(
    "schema",
    [
        at("spec", {"x-kubernetes-preserve-unknown-fields": True}),
        at("spec", {"x-kubernetes-int-or-string": True}),
        at(
            "metadata",
            {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
        ),
        at("spec", {"type": "object", "additionalProperties": {"type": "integer"}}),
        at("spec", {"type": "integer", "anyOf": [{"minimum": 1}, {"maximum": -1}]}),
        at("spec", {"type": "integer", "default": 3, "minimum": 1}),
    ],
)
def test_structural_schemas_are_accepted(schema: dict[str, Any]) -> None:
    assert structural_errors(schema) == []


# --- properties -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["spec", "chart", "name", "version", "values", "timeout", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
helm_releases = st.fixed_dictionaries(
    {"metadata": st.just({"name": "r"})},
    optional={
        "spec": st.dictionaries(
            st.sampled_from(["releaseName", "chart", "values", "timeout", "wait", "junk"]),
            json_values,
            max_size=5,
        )
        | json_values
    },
)


@given(helm_releases)
def test_admission_never_crashes_and_is_stable(obj: dict[str, Any]) -> None:
    pruned = prune(HELM_RELEASE_SCHEMA, obj)
    assert prune(HELM_RELEASE_SCHEMA, pruned) == pruned
    defaulted = apply_defaults(HELM_RELEASE_SCHEMA, pruned)
    assert apply_defaults(HELM_RELEASE_SCHEMA, defaulted) == defaulted
    for error in validate(HELM_RELEASE_SCHEMA, defaulted):
        assert str(error).startswith(f"{error.field}: {error.type}")
