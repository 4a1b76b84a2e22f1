"""Parsing HelmRelease bodies of both served APIs into ReleaseSpec or SpecError.

Covers the seed example exactly, every default, every malformed field with the
message that names it (in both API versions), the fields whose feature is not built
yet (refused by name, never dropped), helm 2, each version's default release name,
and the bounds the CRD's schema shares (spec.timeout).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.api import (
    FINALIZER,
    INVALID,
    NOT_SUPPORTED,
    SERVED,
    V1,
    V1BETA1,
    ChartSpec,
    GitChartSpec,
    ReleaseOptions,
    ReleaseSpec,
    ServedApi,
    SourceKind,
    SpecError,
    ValuesSource,
    default_release_name,
    label_value,
    owned_by,
    owner_labels,
    parse,
)
from controller.api.parsing import MAX_TIMEOUT
from controller.keys import ReleaseKey

CRD = Path(__file__).resolve().parents[2] / "manifests/crds/helmreleases.flux.weave.works.yaml"

SEED: dict[str, Any] = {
    "apiVersion": "flux.weave.works/v1beta1",
    "kind": "HelmRelease",
    "metadata": {"name": "rabbit", "namespace": "default"},
    "spec": {
        "releaseName": "rabbitmq",
        "chart": {
            "repository": "https://charts.example.com/",
            "name": "rabbitmq",
            "version": "3.3.6",
            "chartPullSecret": {"name": "my-secret"},
        },
        "values": {"replicas": 1},
    },
}


def with_spec(**changes: Any) -> dict[str, Any]:
    """The seed with top-level spec fields replaced (None removes the field)."""
    body = copy.deepcopy(SEED)
    for key, value in changes.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return body


def as_version(body: dict[str, Any], served: ServedApi) -> dict[str, Any]:
    return {**body, "apiVersion": served.api_version}


def with_chart(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED)
    for key, value in changes.items():
        if value is None:
            body["spec"]["chart"].pop(key, None)
        else:
            body["spec"]["chart"][key] = value
    return body


def test_seed_example_parses_with_defaults() -> None:
    assert parse(SEED) == ReleaseSpec(
        group="flux.weave.works",
        namespace="default",
        name="rabbit",
        release_name="rabbitmq",
        target_namespace="default",
        chart=ChartSpec(
            repository="https://charts.example.com/",
            name="rabbitmq",
            version="3.3.6",
            pull_secret="my-secret",
        ),
        values={"replicas": 1},
        options=ReleaseOptions(
            timeout=300.0,
            wait=False,
            reset_values=True,
            force=False,
            skip_crds=False,
            max_history=10,
            disable_openapi_validation=False,
        ),
    )


def test_both_apis_read_the_same_spec_into_their_own_group() -> None:
    v1 = parse(as_version(SEED, V1))
    v1beta1 = parse(as_version(SEED, V1BETA1))
    assert isinstance(v1, ReleaseSpec)
    assert isinstance(v1beta1, ReleaseSpec)
    assert (v1.group, v1beta1.group) == ("helm.fluxcd.io", "flux.weave.works")
    assert replace(v1, group=v1beta1.group) == v1beta1


def test_an_api_version_not_served_is_an_error() -> None:
    error = parse(as_version(SEED, ServedApi("helm.toolkit.fluxcd.io", "v2")))
    assert isinstance(error, SpecError)
    assert error.field == "apiVersion"


def test_a_chart_without_a_version_is_the_newest_as_helm_operator_asked_for_it() -> None:
    spec = parse(with_chart(version=None))
    assert isinstance(spec, ReleaseSpec)
    assert spec.chart.version == "*"


def test_every_field_of_a_feature_not_built_is_named_at_once() -> None:
    body = as_version(with_chart(repository="s3://bucket/charts"), V1)
    body["spec"]["helmVersion"] = "v2"
    body["metadata"]["annotations"] = {"helm.fluxcd.io/migrate": "true"}
    error = parse(body)
    assert isinstance(error, SpecError)
    assert error.reason == NOT_SUPPORTED
    assert error.field == (
        "metadata.annotations[helm.fluxcd.io/migrate], spec.helmVersion, spec.chart.repository"
    )
    assert "2to3" in error.message
    assert "s3:// repositories are not supported" in error.message


def test_values_sources_are_read_in_order_with_their_defaults() -> None:
    spec = parse(
        with_spec(
            valueFileSecrets=[{"name": "legacy"}],
            valuesFrom=[
                {"configMapKeyRef": {"name": "env"}},
                {
                    "secretKeyRef": {
                        "name": "creds",
                        "namespace": "vault",
                        "key": "k",
                        "optional": True,
                    }
                },
                {"externalSourceRef": {"url": "https://values.example.com/v.yaml"}},
                {"chartFileRef": {"path": "ci/prod.yaml", "optional": True}},
                {"configMapKeyRef": {"name": "one", "valuesKey": "v"}, "targetPath": "a.b"},
            ],
        )
    )
    assert isinstance(spec, ReleaseSpec)
    assert spec.values_from == (
        ValuesSource("spec.valueFileSecrets[0]", SourceKind.SECRET, "legacy"),
        ValuesSource("spec.valuesFrom[0]", SourceKind.CONFIG_MAP, "env"),
        ValuesSource("spec.valuesFrom[1]", SourceKind.SECRET, "creds", "vault", "k", optional=True),
        ValuesSource("spec.valuesFrom[2]", SourceKind.URL, "https://values.example.com/v.yaml"),
        ValuesSource("spec.valuesFrom[3]", SourceKind.CHART_FILE, "ci/prod.yaml", optional=True),
        ValuesSource(
            "spec.valuesFrom[4]", SourceKind.CONFIG_MAP, "one", key="v", target_path="a.b"
        ),
    )
    assert str(spec.values_from[2]) == "spec.valuesFrom[1] (Secret vault/creds key k)"


def test_release_names_take_dots_as_helm_does() -> None:
    spec = parse(with_spec(releaseName="rabbit.mq"))
    assert isinstance(spec, ReleaseSpec)
    assert spec.release_name == "rabbit.mq"


def test_release_key_is_target_namespace_and_release_name() -> None:
    spec = parse(with_spec(targetNamespace="apps"))
    assert isinstance(spec, ReleaseSpec)
    assert spec.release == ReleaseKey("apps", "rabbitmq")


def test_every_option_is_read() -> None:
    spec = parse(
        with_spec(
            targetNamespace="apps",
            timeout=60,
            wait=True,
            resetValues=False,
            forceUpgrade=True,
            skipCRDs=True,
            maxHistory=0,
            disableOpenAPIValidation=True,
        )
    )
    assert isinstance(spec, ReleaseSpec)
    assert spec.target_namespace == "apps"
    assert spec.options == ReleaseOptions(
        timeout=60.0,
        wait=True,
        reset_values=False,
        force=True,
        skip_crds=True,
        max_history=0,
        disable_openapi_validation=True,
    )


@pytest.mark.parametrize(("given", "reset"), [(None, True), (True, True), (False, False)])
def test_values_are_reset_unless_reuse_is_asked_for_explicitly(
    given: bool | None, reset: bool
) -> None:
    spec = parse(with_spec(resetValues=given))
    assert isinstance(spec, ReleaseSpec)
    assert spec.options.reset_values is reset


@pytest.mark.parametrize(
    ("served", "target", "expected"),
    [
        (V1BETA1, None, "default-rabbit"),
        (V1BETA1, "apps", "default-rabbit"),
        (V1, None, "default-rabbit"),
        (V1, "default", "default-rabbit"),
        (V1, "apps", "default-apps-rabbit"),  # helm-operator 1.x's name for it
    ],
)
def test_default_release_name_is_each_api_versions_own(
    served: ServedApi, target: str | None, expected: str
) -> None:
    spec = parse(as_version(with_spec(releaseName=None, targetNamespace=target), served))
    assert isinstance(spec, ReleaseSpec)
    assert spec.release_name == expected


def test_missing_values_and_pull_secret_are_empty() -> None:
    body = with_spec(values=None)
    del body["spec"]["chart"]["chartPullSecret"]
    spec = parse(body)
    assert isinstance(spec, ReleaseSpec)
    assert spec.values == {}
    assert spec.chart.pull_secret is None


def test_values_never_appear_in_repr() -> None:
    spec = parse(with_spec(values={"password": "hunter2-secret"}))
    assert "hunter2-secret" not in repr(spec)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"metadata": {"name": "x", "namespace": "d"}}, "spec", "is required"),
        ({"spec": {}}, "metadata", "is required"),
        ({"metadata": {"namespace": "d"}, "spec": {}}, "metadata.name", "is required"),
        ({"metadata": {"name": "x"}, "spec": {}}, "metadata.namespace", "is required"),
        ({"metadata": {"name": "x", "namespace": "d"}, "spec": []}, "spec", "must be a map"),
        (with_spec(chart=None), "spec.chart", "is required"),
        (with_spec(chart="rabbitmq"), "spec.chart", "must be a map, not a string"),
        (with_chart(repository=None), "spec.chart.repository", "is required"),
        (with_chart(repository=""), "spec.chart.repository", "is required"),
        (with_chart(repository="charts.example.com"), "spec.chart.repository", "http://"),
        (with_chart(name=None), "spec.chart.name", "is required"),
        (with_chart(name=7), "spec.chart.name", "must be a string, not a number"),
        (with_chart(name="stable/rabbitmq"), "spec.chart.name", "not a path"),
        (with_chart(version=3.3), "spec.chart.version", "must be a string, not a number"),
        (with_chart(chartPullSecret="s"), "spec.chart.chartPullSecret", "must be a map"),
        (with_chart(chartPullSecret={"x": 1}), "spec.chart.chartPullSecret.name", "required"),
        (with_spec(releaseName="Rabbit"), "spec.releaseName", "lower case alphanumeric"),
        (with_spec(releaseName="-rabbit"), "spec.releaseName", "start and end"),
        (with_spec(releaseName="rabbit..mq"), "spec.releaseName", "alphanumeric characters, '-'"),
        (
            {**with_spec(releaseName=None), "metadata": {"name": "a_b", "namespace": "d"}},
            "metadata.name",
            "release name 'd-a_b' must consist of",
        ),
        (with_spec(releaseName="r" * 54), "spec.releaseName", "longer than 53"),
        (with_spec(releaseName=["r"]), "spec.releaseName", "must be a string, not a list"),
        (with_spec(targetNamespace="Apps"), "spec.targetNamespace", "not a valid namespace"),
        (with_spec(targetNamespace="a.b"), "spec.targetNamespace", "not a valid namespace"),
        (with_spec(targetNamespace="a" * 64), "spec.targetNamespace", "at most 63"),
        (with_spec(values=[1]), "spec.values", "must be a map, not a list"),
        (with_spec(values="a: 1"), "spec.values", "must be a map, not a string"),
        (with_spec(valuesFrom={}), "spec.valuesFrom", "must be a list, not a map"),
        (with_spec(valuesFrom=["x"]), "spec.valuesFrom[0]", "must be a map, not a string"),
        (with_spec(valuesFrom=[{}]), "spec.valuesFrom[0]", "exactly one of configMapKeyRef"),
        (
            with_spec(valuesFrom=[{"secretKeyRef": {"name": "a"}, "chartFileRef": {"path": "b"}}]),
            "spec.valuesFrom[0]",
            "exactly one of",
        ),
        (
            with_spec(valuesFrom=[{"configMapKeyRef": {}}]),
            "spec.valuesFrom[0].configMapKeyRef.name",
            "is required",
        ),
        (
            with_spec(valuesFrom=[{"configMapKeyRef": {"name": "a", "namespace": "No"}}]),
            "spec.valuesFrom[0].configMapKeyRef.namespace",
            "not a valid namespace",
        ),
        (
            with_spec(valuesFrom=[{"secretKeyRef": {"name": "a", "key": "x", "valuesKey": "y"}}]),
            "spec.valuesFrom[0].secretKeyRef.valuesKey",
            "another key",
        ),
        (
            with_spec(valuesFrom=[{"externalSourceRef": {"url": "file:///etc/passwd"}}]),
            "spec.valuesFrom[0].externalSourceRef.url",
            "http:// or https://",
        ),
        (
            with_spec(valuesFrom=[{"chartFileRef": {"path": "a", "optional": "yes"}}]),
            "spec.valuesFrom[0].chartFileRef.optional",
            "true or false",
        ),
        (with_spec(valueFileSecrets=[{}]), "spec.valueFileSecrets[0].name", "is required"),
        (with_spec(helmVersion="v4"), "spec.helmVersion", "must be v3"),
        (with_spec(rollback={"enable": "yes"}), "spec.rollback.enable", "true or false"),
        (with_spec(timeout="5m"), "spec.timeout", "must be a number of seconds, not a string"),
        (with_spec(timeout=True), "spec.timeout", "not a boolean"),
        (with_spec(timeout=0), "spec.timeout", "positive"),
        (with_spec(timeout=-1.5), "spec.timeout", "positive"),
        (with_spec(timeout=86401), "spec.timeout", "at most 86400 seconds"),
        (with_spec(timeout=1e300), "spec.timeout", "at most 86400 seconds"),
        (with_spec(wait="yes"), "spec.wait", "must be true or false, not a string"),
        (with_spec(resetValues=1), "spec.resetValues", "must be true or false, not a number"),
        (with_spec(forceUpgrade={}), "spec.forceUpgrade", "not a map"),
        (with_spec(skipCRDs="false"), "spec.skipCRDs", "must be true or false"),
        (with_spec(maxHistory=2.5), "spec.maxHistory", "must be an integer, not a number"),
        (with_spec(maxHistory=True), "spec.maxHistory", "not a boolean"),
        (with_spec(maxHistory=-1), "spec.maxHistory", "0 (unlimited) or more"),
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_malformed_specs_are_errors_naming_the_field(
    body: dict[str, Any], field: str, message: str, served: ServedApi
) -> None:
    error = parse(as_version(body, served))
    assert isinstance(error, SpecError)
    assert (error.field, error.reason) == (field, INVALID)
    assert message in error.message
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (with_chart(repository="s3://bucket/charts"), "spec.chart.repository", "s3://"),
        (with_spec(helmVersion="v2"), "spec.helmVersion", "helm 2 is not supported"),
    ],
)
@pytest.mark.parametrize("served", SERVED, ids=str)
def test_fields_of_features_not_built_are_refused_by_name(
    body: dict[str, Any], field: str, message: str, served: ServedApi
) -> None:
    error = parse(as_version(body, served))
    assert isinstance(error, SpecError)
    assert (error.field, error.reason) == (field, NOT_SUPPORTED)
    assert message in error.message


@pytest.mark.parametrize(
    "spec",
    [
        {"helmVersion": "v3"},
        {"helmVersion": ""},
        {"rollback": {"enable": False, "retry": True}},
        {"test": {"enable": False}},
        {"valuesFrom": [], "valueFileSecrets": []},
    ],
)
def test_fields_of_features_not_built_are_fine_while_unused(spec: dict[str, Any]) -> None:
    assert isinstance(parse(with_spec(**spec)), ReleaseSpec)


def test_errors_never_show_values() -> None:
    error = parse(with_spec(values="password=hunter2-secret"))
    assert isinstance(error, SpecError)
    assert "hunter2-secret" not in str(error)


def test_longest_timeout_is_a_day_as_in_the_crd() -> None:
    spec = parse(with_spec(timeout=MAX_TIMEOUT))
    assert isinstance(spec, ReleaseSpec)
    assert spec.options.timeout == 86400.0
    crd = yaml.safe_load(CRD.read_text())
    [served] = [v for v in crd["spec"]["versions"] if v["name"] == V1BETA1.version]
    timeout = served["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["timeout"]
    assert (timeout["minimum"], timeout["maximum"]) == (1, MAX_TIMEOUT)


def test_null_optional_fields_take_defaults() -> None:
    spec = parse(with_spec(timeout=None, values=None, releaseName=None, maxHistory=None))
    assert isinstance(spec, ReleaseSpec)
    assert (spec.options.timeout, spec.options.max_history) == (300.0, 10)
    assert spec.release_name == "default-rabbit"


def test_unknown_fields_are_left_to_the_crd_schema() -> None:
    assert isinstance(parse(with_spec(someFutureField={"x": 1})), ReleaseSpec)


def sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    ("namespace", "name", "expected"),
    [
        ("default", "rabbit", "default-rabbit"),
        ("a" * 20, "b" * 32, "a" * 20 + "-" + "b" * 32),  # exactly 53: kept
        # 54 characters: the first 40, "-", 12 hex of the full name's sha256
        ("a" * 20, "b" * 33, "a" * 20 + "-" + "b" * 19 + "-" + sha12("a" * 20 + "-" + "b" * 33)),
        # the 40th character is a "-": dropped, so no "--" before the suffix
        (
            "team",
            "x" * 34 + "-" + "y" * 20,
            "team-" + "x" * 34 + "-" + sha12("team-" + "x" * 34 + "-" + "y" * 20),
        ),
    ],
)
def test_default_release_name_is_shortened_deterministically(
    namespace: str, name: str, expected: str
) -> None:
    assert default_release_name(namespace, name) == expected
    assert len(expected) <= 53


def test_shortened_default_names_differ_for_different_long_names() -> None:
    assert default_release_name("ns", "x" * 60 + "a") != default_release_name("ns", "x" * 60 + "b")


def test_shortened_default_release_name_parses() -> None:
    body = with_spec(releaseName=None)
    body["metadata"]["name"] = "very-long-helmrelease-name-" + "x" * 40
    spec = parse(body)
    assert isinstance(spec, ReleaseSpec)
    assert len(spec.release_name) == 53


@pytest.mark.parametrize(
    ("value", "expected_length"),
    [("short", 5), ("n" * 63, 63), ("n" * 64, 63), ("n" * 253, 63)],
)
def test_label_values_fit_in_63_characters(value: str, expected_length: int) -> None:
    assert len(label_value(value)) == expected_length
    assert label_value(value) == label_value(value)


def test_owner_labels_name_the_helmrelease_and_its_group_unless_legacy() -> None:
    legacy = {
        "helmreleases.flux.weave.works/owner-namespace": "default",
        "helmreleases.flux.weave.works/owner-name": "rabbit",
    }
    assert owner_labels("flux.weave.works", "default", "rabbit") == legacy
    assert owner_labels("helm.fluxcd.io", "default", "rabbit") == {
        **legacy,
        "helmreleases.flux.weave.works/owner-group": "helm.fluxcd.io",
    }
    assert FINALIZER == "helmreleases.flux.weave.works/finalizer"


def test_a_release_is_owned_by_one_helmrelease_of_one_group() -> None:
    v1_labels = owner_labels("helm.fluxcd.io", "default", "rabbit")
    assert owned_by(v1_labels, "helm.fluxcd.io", "default", "rabbit")
    assert not owned_by(v1_labels, "flux.weave.works", "default", "rabbit")
    legacy_labels = owner_labels("flux.weave.works", "default", "rabbit")
    assert owned_by(legacy_labels, "flux.weave.works", "default", "rabbit")
    assert not owned_by(legacy_labels, "helm.fluxcd.io", "default", "rabbit")
    assert not owned_by(legacy_labels, "flux.weave.works", "default", "hare")


GIT = {"git": "https://git.example.com/org/charts.git", "path": "charts/podinfo"}


@pytest.mark.parametrize("served", SERVED, ids=str)
def test_a_git_chart_is_read_with_its_defaults(served: ServedApi) -> None:
    spec = parse(as_version(with_spec(chart=dict(GIT)), served))
    assert isinstance(spec, ReleaseSpec)
    assert spec.chart == GitChartSpec(url=GIT["git"], path="charts/podinfo")


def test_a_git_chart_with_every_field() -> None:
    chart = {
        **GIT,
        "git": "git@github.com:org/charts",
        "ref": "v1.2.0",
        "path": "/charts/podinfo/",
        "secretRef": {"name": "git-creds", "namespace": "flux"},
        "skipDepUpdate": True,
    }
    spec = parse(with_spec(chart=chart))
    assert isinstance(spec, ReleaseSpec)
    assert spec.chart == GitChartSpec(
        url="git@github.com:org/charts",
        path="charts/podinfo",
        ref="v1.2.0",
        secret="git-creds",
        secret_namespace="flux",
        skip_dep_update=True,
    )


@pytest.mark.parametrize(
    ("chart", "field", "message"),
    [
        ({**GIT, "git": "file:///etc"}, "spec.chart.git", "https://, http:// or ssh://"),
        ({**GIT, "git": "ext::sh -c touch% /tmp/x"}, "spec.chart.git", "must be a git URL"),
        ({**GIT, "git": "https://user:pw@git.example.com/x"}, "spec.chart.git", "credentials"),
        ({**GIT, "git": "-uhelp"}, "spec.chart.git", "must be a git URL"),
        ({**GIT, "path": "../outside"}, "spec.chart.path", "inside the repository"),
        ({**GIT, "path": "/"}, "spec.chart.path", "inside the repository"),
        ({**GIT, "ref": "--upload-pack=touch"}, "spec.chart.ref", "branch, a tag or a commit"),
        ({**GIT, "ref": "main branch"}, "spec.chart.ref", "branch, a tag or a commit"),
        ({"git": GIT["git"]}, "spec.chart.path", "is required"),
    ],
)
def test_a_git_chart_that_cannot_be_used_is_invalid(
    chart: dict[str, Any], field: str, message: str
) -> None:
    error = parse(with_spec(chart=chart))
    assert isinstance(error, SpecError)
    assert (error.field, message in error.message) == (field, True)


@pytest.mark.parametrize("served", SERVED, ids=str)
def test_an_oci_repository_is_a_chart_repository(served: ServedApi) -> None:
    spec = parse(as_version(with_chart(repository="oci://registry.example.com/charts"), served))
    assert isinstance(spec, ReleaseSpec)
    assert isinstance(spec.chart, ChartSpec)
    assert spec.chart.repository == "oci://registry.example.com/charts"


def test_helm_controller_extensions_are_read() -> None:
    spec = parse(with_spec(suspend=True, interval="1h30m", install={"createNamespace": True}))
    assert isinstance(spec, ReleaseSpec)
    assert (spec.suspend, spec.interval, spec.options.create_namespace) == (True, 5400.0, True)
    plain = parse(with_spec())
    assert isinstance(plain, ReleaseSpec)
    assert (plain.suspend, plain.interval, plain.options.create_namespace) == (False, None, False)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"interval": "5 minutes"}, "spec.interval"),
        ({"interval": "500ms"}, "spec.interval"),
        ({"interval": 300}, "spec.interval"),
        ({"suspend": "yes"}, "spec.suspend"),
        ({"install": {"createNamespace": "yes"}}, "spec.install.createNamespace"),
    ],
)
def test_helm_controller_extensions_that_cannot_be_used(
    changes: dict[str, Any], field: str
) -> None:
    error = parse(with_spec(**changes))
    assert isinstance(error, SpecError)
    assert error.field == field


def test_depends_on_names_helmreleases_in_this_namespace_by_default() -> None:
    body = with_spec(
        dependsOn=[{"name": "db"}, {"name": "cache", "namespace": "infra"}, {"name": "db"}]
    )
    spec = parse(body)
    assert isinstance(spec, ReleaseSpec)
    assert spec.depends_on == (("default", "db"), ("infra", "cache"))
    error = parse(with_spec(dependsOn=[{"namespace": "infra"}]))
    assert isinstance(error, SpecError)
    assert error.field == "spec.dependsOn[0].name"
