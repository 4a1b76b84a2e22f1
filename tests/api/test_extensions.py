"""helm-controller's serviceAccountName, driftDetection and postRenderers, in both APIs.

Covers their defaults (unset, null or empty), the dataclasses and normalised renderer
mappings valid values are read into (unknown keys dropped, a given target kept even
empty, as kustomize tells an empty target from none), every invalid value as a SpecError
naming the exact field without showing the value, and the desired-state digest: a change
of postRenderers changes what helm renders and so the digest; serviceAccountName and
driftDetection do not.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api import (
    INVALID,
    SERVED,
    DriftIgnoreRule,
    DriftMode,
    DriftPolicy,
    DriftTarget,
    ReleaseSpec,
    ServedApi,
    SpecError,
    parse,
)
from controller.reconcile.state import desired_digest

SEED: dict[str, Any] = {
    "kind": "HelmRelease",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {
        "chart": {"repository": "https://charts.example.com/", "name": "web", "version": "1.0.0"},
        "values": {"replicas": 1},
    },
}

SMP = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n"
"""A strategic merge patch: applies to the object it names, or to those its target selects."""
JSON6902 = "- op: add\n  path: /metadata/labels/team\n  value: a\n"
"""A JSON 6902 patch: applies to the objects its target selects."""


def release(served: ServedApi, **spec: Any) -> dict[str, Any]:
    """The seed HelmRelease of API ``served`` with these spec fields added."""
    body = copy.deepcopy(SEED)
    body["apiVersion"] = served.api_version
    for key, value in copy.deepcopy(spec).items():
        body["spec"][key] = value
    return body


def parsed(served: ServedApi, **spec: Any) -> ReleaseSpec:
    found = parse(release(served, **spec))
    assert isinstance(found, ReleaseSpec), found
    return found


def digest_of(served: ServedApi, **spec: Any) -> str:
    return desired_digest(parsed(served, **spec), "chart-digest", "values-digest")


# --- defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize("served", SERVED, ids=str)
def test_without_the_fields_nothing_changes(served: ServedApi) -> None:
    spec = parsed(served)
    assert spec.service_account_name is None
    assert spec.drift == DriftPolicy()
    assert spec.drift.mode is DriftMode.DISABLED
    assert spec.drift.ignore == ()
    assert spec.options.post_renderers == ()


@pytest.mark.parametrize(
    "fields",
    [
        {"serviceAccountName": None, "driftDetection": None, "postRenderers": None},
        {"serviceAccountName": "", "driftDetection": {}, "postRenderers": []},
        {"driftDetection": {"mode": None, "ignore": None}},
        {"driftDetection": {"mode": "", "ignore": []}},
        {"driftDetection": {"mode": "disabled"}},
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_null_or_empty_fields_are_their_defaults(served: ServedApi, fields: dict[str, Any]) -> None:
    spec = parsed(served, **fields)
    assert spec.service_account_name is None
    assert spec.drift == DriftPolicy(mode=DriftMode.DISABLED, ignore=())
    assert spec.options.post_renderers == ()


# --- serviceAccountName ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "deployer",
        "ci-deployer",
        "ci.deployer.v2",
        "0",
        "a" * 64,  # a part longer than a DNS label: Kubernetes names only bound the whole
        "a" * 253,
        ".".join(["abc"] * 63) + ".a",  # 253 characters
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_a_service_account_name_is_a_dns_subdomain(served: ServedApi, name: str) -> None:
    assert parsed(served, serviceAccountName=name).service_account_name == name


# --- driftDetection ----------------------------------------------------------------------

EVERY_TARGET_FIELD = {
    "group": "apps",
    "version": "v1",
    "kind": "Deployment|StatefulSet",
    "name": "web-.*",
    "namespace": "apps",
    "labelSelector": "app in (web), tier!=db",
    "annotationSelector": "example.com/drift",
}


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ({"mode": "enabled"}, DriftPolicy(mode=DriftMode.ENABLED)),
        ({"mode": "warn"}, DriftPolicy(mode=DriftMode.WARN)),
        ({"mode": "disabled"}, DriftPolicy(mode=DriftMode.DISABLED)),
        # rules are read whatever the mode (switching it on keeps them)
        (
            {"ignore": [{"paths": ["/spec/replicas"]}]},
            DriftPolicy(ignore=(DriftIgnoreRule(("/spec/replicas",)),)),
        ),
        (
            {
                "mode": "enabled",
                "ignore": [
                    {"paths": ["/spec/replicas", "/metadata/annotations/a~1b"]},
                    {"paths": [""], "target": {"kind": "Secret"}},
                ],
            },
            DriftPolicy(
                mode=DriftMode.ENABLED,
                ignore=(
                    DriftIgnoreRule(("/spec/replicas", "/metadata/annotations/a~1b")),
                    DriftIgnoreRule(("",), DriftTarget(kind="Secret")),
                ),
            ),
        ),
        (
            {"mode": "warn", "ignore": [{"paths": ["/spec"], "target": EVERY_TARGET_FIELD}]},
            DriftPolicy(
                mode=DriftMode.WARN,
                ignore=(
                    DriftIgnoreRule(
                        ("/spec",),
                        DriftTarget(
                            group="apps",
                            version="v1",
                            kind="Deployment|StatefulSet",
                            name="web-.*",
                            namespace="apps",
                            label_selector="app in (web), tier!=db",
                            annotation_selector="example.com/drift",
                        ),
                    ),
                ),
            ),
        ),
        # empty fields of a target are unset; an empty target selects every object
        (
            {"ignore": [{"paths": ["/a"], "target": {"kind": "", "labelSelector": ""}}]},
            DriftPolicy(ignore=(DriftIgnoreRule(("/a",), DriftTarget()),)),
        ),
        (
            {"ignore": [{"paths": ["/a"], "target": None, "someFutureField": 1}]},
            DriftPolicy(ignore=(DriftIgnoreRule(("/a",)),)),
        ),
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_drift_detection_is_read_into_its_policy(
    served: ServedApi, drift: dict[str, Any], expected: DriftPolicy
) -> None:
    assert parsed(served, driftDetection=drift).drift == expected


# --- postRenderers -----------------------------------------------------------------------


def kustomize(*, patches: list[Any] | None = None, images: list[Any] | None = None) -> Any:
    """One renderer in the normalised form: both lists always there."""
    return {"kustomize": {"patches": patches or [], "images": images or []}}


@pytest.mark.parametrize(
    ("renderers", "expected"),
    [
        # a patch without a target, one with, images; empty and unknown fields dropped
        (
            [
                {
                    "kustomize": {
                        "patches": [
                            {"patch": SMP},
                            {
                                "patch": JSON6902,
                                "target": {
                                    "group": "apps",
                                    "version": "v1",
                                    "kind": "Deployment",
                                    "name": "web",
                                    "namespace": "",
                                    "labelSelector": "app=web",
                                    "annotationSelector": "team",
                                    "someFutureField": "x",
                                },
                                "someFutureField": "x",
                            },
                        ],
                        "images": [
                            {"name": "nginx", "newTag": "1.27", "newName": "", "digest": None},
                            {"name": "redis", "newName": "mirror.example.com/redis"},
                            {"name": "db", "digest": "sha256:" + "0" * 64, "someFutureField": 1},
                        ],
                        "patchesStrategicMerge": [{"kind": "Deployment"}],
                    },
                    "someFutureField": True,
                }
            ],
            (
                kustomize(
                    patches=[
                        {"patch": SMP},
                        {
                            "patch": JSON6902,
                            "target": {
                                "group": "apps",
                                "version": "v1",
                                "kind": "Deployment",
                                "name": "web",
                                "labelSelector": "app=web",
                                "annotationSelector": "team",
                            },
                        },
                    ],
                    images=[
                        {"name": "nginx", "newTag": "1.27"},
                        {"name": "redis", "newName": "mirror.example.com/redis"},
                        {"name": "db", "digest": "sha256:" + "0" * 64},
                    ],
                ),
            ),
        ),
        # images alone, patches alone; renderers keep their order
        (
            [
                {"kustomize": {"images": [{"name": "nginx", "newTag": "1.27"}]}},
                {"kustomize": {"patches": [{"patch": SMP}], "images": []}},
            ],
            (
                kustomize(images=[{"name": "nginx", "newTag": "1.27"}]),
                kustomize(patches=[{"patch": SMP}]),
            ),
        ),
        # a null target is none; an empty one (or one of empty fields) selects every object
        (
            [
                {
                    "kustomize": {
                        "patches": [
                            {"patch": SMP, "target": None},
                            {"patch": SMP, "target": {}},
                            {"patch": JSON6902, "target": {"kind": "", "name": None}},
                        ]
                    }
                }
            ],
            (
                kustomize(
                    patches=[
                        {"patch": SMP},
                        {"patch": SMP, "target": {}},
                        {"patch": JSON6902, "target": {}},
                    ]
                ),
            ),
        ),
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_post_renderers_are_normalised_to_what_kustomize_is_given(
    served: ServedApi, renderers: list[Any], expected: tuple[Any, ...]
) -> None:
    assert parsed(served, postRenderers=renderers).options.post_renderers == expected


# --- invalid values ----------------------------------------------------------------------


def rule(**fields: Any) -> dict[str, Any]:
    """``spec.driftDetection`` with one ignore rule."""
    return {"mode": "enabled", "ignore": [{"paths": ["/spec/replicas"], **fields}]}


def target(**fields: Any) -> dict[str, Any]:
    """``spec.driftDetection`` with one ignore rule for this target."""
    return rule(target=fields)


def patch(**fields: Any) -> list[Any]:
    """``spec.postRenderers`` with one renderer of one patch."""
    return [{"kustomize": {"patches": [{"patch": SMP, **fields}]}}]


def image(**fields: Any) -> list[Any]:
    """``spec.postRenderers`` with one renderer of one image."""
    return [{"kustomize": {"images": [fields]}}]


DRIFT = "spec.driftDetection"
RULE = "spec.driftDetection.ignore[0]"
KUSTOMIZE = "spec.postRenderers[0].kustomize"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        # serviceAccountName
        ({"serviceAccountName": "Deployer"}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "ci_deployer"}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "-deployer"}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "deployer."}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "ci..deployer"}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "apps:deployer"}, "spec.serviceAccountName", "DNS subdomain"),
        ({"serviceAccountName": "a" * 254}, "spec.serviceAccountName", "at most 253"),
        ({"serviceAccountName": 7}, "spec.serviceAccountName", "must be a string, not a number"),
        ({"serviceAccountName": ["deployer"]}, "spec.serviceAccountName", "not a list"),
        ({"serviceAccountName": {"name": "deployer"}}, "spec.serviceAccountName", "not a map"),
        ({"serviceAccountName": True}, "spec.serviceAccountName", "not a boolean"),
        # driftDetection
        ({"driftDetection": "enabled"}, DRIFT, "must be a map, not a string"),
        ({"driftDetection": {"mode": "Enabled"}}, f"{DRIFT}.mode", "enabled, warn or disabled"),
        ({"driftDetection": {"mode": "correct"}}, f"{DRIFT}.mode", "enabled, warn or disabled"),
        ({"driftDetection": {"mode": True}}, f"{DRIFT}.mode", "must be a string, not a boolean"),
        ({"driftDetection": {"ignore": {"paths": []}}}, f"{DRIFT}.ignore", "must be a list"),
        ({"driftDetection": {"ignore": ["/spec"]}}, RULE, "must be a map, not a string"),
        ({"driftDetection": {"ignore": [{}]}}, f"{RULE}.paths", "at least one JSON pointer"),
        ({"driftDetection": rule(paths=[])}, f"{RULE}.paths", "at least one JSON pointer"),
        ({"driftDetection": rule(paths="/spec")}, f"{RULE}.paths", "must be a list"),
        ({"driftDetection": rule(paths=["spec"])}, f"{RULE}.paths[0]", "JSON pointer"),
        ({"driftDetection": rule(paths=["/a", "spec/b"])}, f"{RULE}.paths[1]", "JSON pointer"),
        ({"driftDetection": rule(paths=["/a", 3])}, f"{RULE}.paths[1]", "JSON pointer"),
        (
            {"driftDetection": {"ignore": [{"paths": ["/a"]}, {"paths": ["b"]}]}},
            "spec.driftDetection.ignore[1].paths[0]",
            "JSON pointer",
        ),
        ({"driftDetection": rule(target="Deployment")}, f"{RULE}.target", "must be a map"),
        ({"driftDetection": target(kind="Deploy(ment")}, f"{RULE}.target.kind", "regular"),
        ({"driftDetection": target(group="*")}, f"{RULE}.target.group", "regular expression"),
        ({"driftDetection": target(version="[v1")}, f"{RULE}.target.version", "regular"),
        ({"driftDetection": target(name="a{2,1}")}, f"{RULE}.target.name", "regular"),
        # a repetition too large and groups nested too deep: errors, not crashes
        ({"driftDetection": target(name="a{99999999999}")}, f"{RULE}.target.name", "regular"),
        (
            {"driftDetection": target(namespace="(" * 3000 + ")" * 3000)},
            f"{RULE}.target.namespace",
            "regular expression",
        ),
        ({"driftDetection": target(kind=7)}, f"{RULE}.target.kind", "must be a string"),
        (
            {"driftDetection": target(labelSelector="app in (web")},
            f"{RULE}.target.labelSelector",
            "must be a label selector: requirement 1: unbalanced parentheses",
        ),
        (
            {"driftDetection": target(labelSelector="app=web,tier=a=b")},
            f"{RULE}.target.labelSelector",
            "must be a label selector: requirement 2:",
        ),
        (
            {"driftDetection": target(labelSelector="app=-web")},
            f"{RULE}.target.labelSelector",
            "not a label value",
        ),
        (
            {"driftDetection": target(annotationSelector="=web")},
            f"{RULE}.target.annotationSelector",
            "must be a label selector: requirement 1: a key is missing",
        ),
        (
            {"driftDetection": target(annotationSelector=["team"])},
            f"{RULE}.target.annotationSelector",
            "must be a string, not a list",
        ),
        # postRenderers
        ({"postRenderers": {"kustomize": {}}}, "spec.postRenderers", "must be a list"),
        ({"postRenderers": ["kustomize"]}, "spec.postRenderers[0]", "must be a map"),
        ({"postRenderers": [{}]}, KUSTOMIZE, "is required"),
        ({"postRenderers": [{"kustomize": None}]}, KUSTOMIZE, "is required"),
        ({"postRenderers": [{"kustomize": [SMP]}]}, KUSTOMIZE, "must be a map, not a list"),
        ({"postRenderers": [{"kustomize": {}}]}, KUSTOMIZE, "must have patches or images"),
        (
            {"postRenderers": [{"kustomize": {"patches": [], "images": []}}]},
            KUSTOMIZE,
            "must have patches or images",
        ),
        (
            {"postRenderers": [{"kustomize": {"patchesStrategicMerge": [{"kind": "Pod"}]}}]},
            KUSTOMIZE,
            "must have patches or images",
        ),
        (
            {"postRenderers": [*image(name="nginx"), {"kustomize": {}}]},
            "spec.postRenderers[1].kustomize",
            "must have patches or images",
        ),
        ({"postRenderers": [{"kustomize": {"patches": SMP}}]}, f"{KUSTOMIZE}.patches", "list"),
        ({"postRenderers": [{"kustomize": {"patches": [SMP]}}]}, f"{KUSTOMIZE}.patches[0]", "map"),
        ({"postRenderers": patch(patch=None)}, f"{KUSTOMIZE}.patches[0].patch", "is required"),
        ({"postRenderers": patch(patch="")}, f"{KUSTOMIZE}.patches[0].patch", "is required"),
        (
            {"postRenderers": patch(patch={"kind": "Deployment"})},
            f"{KUSTOMIZE}.patches[0].patch",
            "must be a string, not a map",
        ),
        (
            {"postRenderers": patch(target="Deployment")},
            f"{KUSTOMIZE}.patches[0].target",
            "must be a map, not a string",
        ),
        (
            {"postRenderers": patch(target={"kind": ["Deployment"]})},
            f"{KUSTOMIZE}.patches[0].target.kind",
            "must be a string, not a list",
        ),
        (
            {"postRenderers": patch(target={"labelSelector": 1})},
            f"{KUSTOMIZE}.patches[0].target.labelSelector",
            "must be a string, not a number",
        ),
        ({"postRenderers": [{"kustomize": {"images": "nginx"}}]}, f"{KUSTOMIZE}.images", "list"),
        (
            {"postRenderers": [{"kustomize": {"images": ["nginx"]}}]},
            f"{KUSTOMIZE}.images[0]",
            "map",
        ),
        ({"postRenderers": image()}, f"{KUSTOMIZE}.images[0].name", "is required"),
        ({"postRenderers": image(newTag="1.27")}, f"{KUSTOMIZE}.images[0].name", "is required"),
        ({"postRenderers": image(name="")}, f"{KUSTOMIZE}.images[0].name", "is required"),
        ({"postRenderers": image(name=5)}, f"{KUSTOMIZE}.images[0].name", "must be a string"),
        (
            {"postRenderers": image(name="nginx", newTag=1.27)},
            f"{KUSTOMIZE}.images[0].newTag",
            "must be a string, not a number",
        ),
        (
            {"postRenderers": image(name="nginx", digest={"sha256": "0"})},
            f"{KUSTOMIZE}.images[0].digest",
            "must be a string, not a map",
        ),
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_an_invalid_field_is_an_error_naming_it_without_its_value(
    served: ServedApi, fields: dict[str, Any], field: str, message: str
) -> None:
    error = parse(release(served, **fields))
    assert isinstance(error, SpecError)
    assert (error.field, error.reason) == (field, INVALID)
    assert message in error.message
    assert str(error).startswith(f"{field}: ")
    shown = [text for text in strings(fields) if text in error.message]
    assert shown == []


def strings(data: Any) -> Iterator[str]:
    """Every string value in ``data`` long enough to be recognised in a message."""
    if isinstance(data, str):
        if len(data) >= 3:
            yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


# --- the desired-state digest ------------------------------------------------------------

RENDERERS = [{"kustomize": {"patches": [{"patch": SMP}]}}]
IMAGES = [{"kustomize": {"images": [{"name": "nginx", "newTag": "1.27"}]}}]
DIFFERENT_RENDERERS = [
    [],
    RENDERERS,
    [{"kustomize": {"patches": [{"patch": SMP.replace("2", "3")}]}}],
    [{"kustomize": {"patches": [{"patch": SMP, "target": {"kind": "Deployment"}}]}}],
    [{"kustomize": {"patches": [{"patch": SMP, "target": {}}]}}],
    IMAGES,
    [{"kustomize": {"images": [{"name": "nginx", "newTag": "1.28"}]}}],
    [{"kustomize": {"images": [{"name": "nginx", "digest": "sha256:" + "0" * 64}]}}],
    [*RENDERERS, *IMAGES],
    [*IMAGES, *RENDERERS],
    [{"kustomize": {"patches": [{"patch": SMP}], "images": IMAGES[0]["kustomize"]["images"]}}],
]
"""Post-renderers that each make kustomize do something else (none is no renderer)."""


@pytest.mark.parametrize("served", SERVED, ids=str)
def test_every_change_of_post_renderers_changes_the_desired_digest(served: ServedApi) -> None:
    digests = [digest_of(served, postRenderers=renderers) for renderers in DIFFERENT_RENDERERS]
    assert len(set(digests)) == len(DIFFERENT_RENDERERS)
    assert digests[0] == digest_of(served)


@pytest.mark.parametrize("served", SERVED, ids=str)
def test_only_what_kustomize_is_given_enters_the_digest(served: ServedApi) -> None:
    noisy = [
        {
            "kustomize": {
                "patches": [{"patch": SMP, "someFutureField": 1, "target": None}],
                "images": [],
                "patchesStrategicMerge": [{"kind": "Pod"}],
            },
            "someFutureField": True,
        }
    ]
    assert digest_of(served, postRenderers=noisy) == digest_of(served, postRenderers=RENDERERS)
    assert digest_of(served, postRenderers=[]) == digest_of(served)


@pytest.mark.parametrize(
    "fields",
    [
        {"serviceAccountName": "deployer"},
        {"driftDetection": {"mode": "enabled"}},
        {"driftDetection": {"mode": "warn", "ignore": [{"paths": ["/spec/replicas"]}]}},
        {
            "serviceAccountName": "ci.deployer",
            "driftDetection": target(kind="Deployment", labelSelector="app=web"),
        },
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_service_account_and_drift_detection_leave_the_digest_alone(
    served: ServedApi, fields: dict[str, Any]
) -> None:
    """Neither changes what helm renders: no upgrade when they change."""
    spec = parsed(served, **fields)
    assert spec != parsed(served)
    assert desired_digest(spec, "c", "v") == desired_digest(parsed(served), "c", "v")
