"""Built-in objects decoded as a real API server decodes them, against Kubernetes' own schemas.

A real server decodes a built-in object into its Go struct: a value of the wrong type fails the
request, in the words of the decoder the request reaches (encoding/json for a body, a JSON or a
merge patch; the unstructured converter for a strategic merge patch; structured-merge-diff for
server-side apply), unknown fields are dropped (rejected under ``fieldValidation=Strict``, one
``Warning`` header each under ``Warn``, the default, silently under ``Ignore``; server-side
apply rejects them whatever the directive), and validation rejects an absent object or list
the kind requires (never an absence the real server accepts, nor anything in ``status``).

Covered through raw HTTP (every request kind, the real server's code and text), the real
kubectl (client-side and server-side apply), the real helm 4 and helm 3 (a chart whose
Deployment gets ``replicas: "two"`` from values fails to install and to upgrade), status
subresource writes, and the project's own manifests and the test charts, every object of
which must be admitted as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from apitesting import Client, Reply, Run

from apiserver import ApiServer
from apiserver.discovery import KUBERNETES_VERSION
from apiserver.requestinfo import RequestInfo
from apiserver.resources import GroupResource, Registry, ResourceType
from apiserver.routes.admission import STRICT, Admission, Decoding, Source, check_apply
from apiserver.schema import KUBERNETES_SCHEMAS
from testkit import CHARTS_DIR, ROOT

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
DEPLOYMENT_STORE = GroupResource("apps", "deployments")
JSON = "application/json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
HELMS = pytest.mark.parametrize("helm", ["helm", "helm3"])
REPLICAS_TWO = (
    "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
)
CANNOT_HANDLE = 'Deployment in version "v1" cannot be handled as a Deployment: '
TYPED_PATCH = "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "


def deployment(**spec: Any) -> dict[str, Any]:
    """A valid Deployment "web"; `spec` replaces fields of its spec."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
            },
            **spec,
        },
    }


def with_container(**fields: Any) -> dict[str, Any]:
    """A Deployment whose one container has `fields` too."""
    return deployment(
        template={
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx", **fields}]},
        }
    )


async def send(
    client: Client,
    method: str,
    path: str,
    body: Any,
    content_type: str = JSON,
    **params: str,
) -> tuple[Reply, list[str]]:
    """A request and its reply, with every ``Warning`` header of it."""
    async with client.session.request(
        method,
        client.base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": content_type},
        params=params,
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        text = await response.text()
        reply = Reply(response.status, json.loads(text), dict(response.headers))
        return reply, response.headers.getall("Warning", [])


async def created(client: Client) -> dict[str, Any]:
    """Deployment "web", created."""
    reply, _ = await send(client, "POST", DEPLOYMENTS, deployment())
    assert reply.status == 201, reply.body
    result: dict[str, Any] = reply.body
    return result


def stored(apiserver: ApiServer) -> dict[str, Any]:
    """Deployment "web" as the server stores it."""
    return apiserver.store.get_object(DEPLOYMENT_STORE, "default", "web")


# -- a value of the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_of_the_wrong_type_is_a_bad_request(
    apiserver: ApiServer, client: Client, method: str
) -> None:
    path = DEPLOYMENTS
    if method == "PUT":
        await created(client)
        path += "/web"
    reply, _ = await send(client, method, path, deployment(replicas="two"))
    assert reply.status == 400
    assert reply.body["reason"] == "BadRequest"
    assert reply.body["message"] == CANNOT_HANDLE + REPLICAS_TWO
    if method == "PUT":
        assert stored(apiserver)["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        (MERGE, {"spec": {"replicas": "two"}}),
        (JSON_PATCH, [{"op": "replace", "path": "/spec/replicas", "value": "two"}]),
    ],
    ids=["merge", "json"],
)
async def test_a_json_or_merge_patch_of_the_wrong_type_is_an_invalid_patch(
    apiserver: ApiServer, client: Client, content_type: str, patch: Any
) -> None:
    await created(client)
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", patch, content_type)
    assert reply.status == 422
    message = reply.body["message"]
    assert message.startswith(' "" is invalid: patch: Invalid value: "{\\"apiVersion\\":')
    assert '\\"replicas\\":\\"two\\"' in message  # the patched object, as JSON
    assert message.endswith(f": {REPLICAS_TWO}")
    [cause] = reply.body["details"]["causes"]
    assert (cause["reason"], cause["field"]) == ("FieldValueInvalid", "patch")
    assert stored(apiserver)["spec"]["replicas"] == 1


async def test_a_strategic_merge_patch_of_the_wrong_type_shows_the_patch(
    apiserver: ApiServer, client: Client
) -> None:
    await created(client)
    patch = {"spec": {"replicas": "two"}}
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", patch, STRATEGIC)
    assert reply.status == 422
    assert reply.body["message"] == (
        ' "" is invalid: patch: Invalid value: "map[spec:map[replicas:two]]": '
        "unrecognized type: int32"
    )
    assert stored(apiserver)["spec"]["replicas"] == 1


@pytest.mark.parametrize("exists", [False, True], ids=["create", "update"])
async def test_a_server_side_apply_of_the_wrong_type_is_refused_before_any_merge(
    apiserver: ApiServer, client: Client, exists: bool
) -> None:
    if exists:
        await created(client)
    path = f"{DEPLOYMENTS}/web"
    reply, _ = await send(
        client, "PATCH", path, deployment(replicas="two"), APPLY, fieldManager="me", force="true"
    )
    assert reply.status == 500
    assert reply.body["message"] == (
        TYPED_PATCH + ".spec.replicas: expected numeric (int or float), got string"
    )
    assert (apiserver.store.get(DEPLOYMENT_STORE, "default", "web") is not None) is exists


@pytest.mark.parametrize(
    ("obj", "error"),
    [
        (
            with_container(image={"name": "nginx"}),
            "json: cannot unmarshal object into Go struct field "
            "Container.spec.template.spec.containers.image of type string",
        ),
        (
            with_container(env=[{"name": "PORT", "value": 8080}]),
            "json: cannot unmarshal number into Go struct field "
            "EnvVar.spec.template.spec.containers.env.value of type string",
        ),
        (
            deployment(paused="yes"),
            "json: cannot unmarshal string into Go struct field "
            "DeploymentSpec.spec.paused of type bool",
        ),
        (
            deployment(replicas=1.5),
            "json: cannot unmarshal number 1.5 into Go struct field "
            "DeploymentSpec.spec.replicas of type int32",
        ),
        (
            deployment(replicas=3_000_000_000),
            "json: cannot unmarshal number 3000000000 into Go struct field "
            "DeploymentSpec.spec.replicas of type int32",
        ),
        (
            deployment(template=[]),
            "json: cannot unmarshal array into Go struct field "
            "DeploymentSpec.spec.template of type v1.PodTemplateSpec",
        ),
        (
            deployment(selector={"matchLabels": ["app"]}),
            "json: cannot unmarshal array into Go struct field "
            "LabelSelector.spec.selector.matchLabels of type map[string]string",
        ),
        (
            with_container(resources={"limits": {"memory": "192i"}}),
            "unable to parse quantity's suffix",
        ),
        (
            with_container(resources={"requests": {"memory": "1Gb"}}),
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
        ),
        (
            with_container(livenessProbe={"tcpSocket": {"port": True}}),
            "json: cannot unmarshal bool into Go struct field "
            "TCPSocketAction.spec.template.spec.containers.livenessProbe.tcpSocket.port "
            "of type int32",
        ),
    ],
    ids=[
        "object-for-string",
        "number-for-string",
        "string-for-bool",
        "fraction-for-int32",
        "int32-overflow",
        "array-for-struct",
        "array-for-map",
        "quantity-suffix",
        "quantity-format",
        "bool-for-int-or-string",
    ],
)
async def test_wrong_types_in_the_words_of_go_decoding(
    client: Client, obj: dict[str, Any], error: str
) -> None:
    reply, _ = await send(client, "POST", DEPLOYMENTS, obj)
    assert (reply.status, reply.body["message"]) == (400, CANNOT_HANDLE + error)


async def test_secret_data_must_be_base64_as_go_decodes_it(client: Client) -> None:
    path = "/api/v1/namespaces/default/secrets"
    secret = {"metadata": {"name": "creds"}, "data": {"password": "plain"}}
    reply, _ = await send(client, "POST", path, secret)
    assert reply.status == 400
    assert reply.body["message"] == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    )
    wrapped = {"metadata": {"name": "wrapped"}, "data": {"password": "cGxh\naW4="}}
    reply, _ = await send(client, "POST", path, wrapped)  # Go skips newlines in base64
    assert reply.status == 201


@pytest.mark.parametrize(
    ("patch", "error"),
    [
        (
            {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": 5}]}}}},
            "cannot convert int64 to string",
        ),
        ({"spec": {"paused": {"yes": True}}}, "unrecognized type: bool"),
        ({"spec": {"template": "none"}}, "cannot restore struct from: string"),
        ({"spec": {"replicas": 1.5}}, "cannot convert float64 to int32"),
    ],
    ids=["number-for-string", "object-for-bool", "string-for-struct", "fraction-for-int32"],
)
async def test_wrong_types_in_the_words_of_the_unstructured_converter(
    client: Client, patch: dict[str, Any], error: str
) -> None:
    await created(client)
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", patch, STRATEGIC)
    assert reply.status == 422
    assert reply.body["message"].endswith(f'": {error}')


async def test_a_strategic_merge_patch_takes_an_integral_float_for_an_integer(
    apiserver: ApiServer, client: Client
) -> None:
    await created(client)
    patch = {"spec": {"replicas": 2.0}}
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", patch, STRATEGIC)
    assert reply.status == 200, reply.body
    assert stored(apiserver)["spec"]["replicas"] == 2


async def test_server_side_apply_lists_every_problem_with_its_path(client: Client) -> None:
    obj = with_container(image=5, ports=[{"containerPort": "http", "protocol": "TCP"}])
    obj["spec"]["paused"] = "no"
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", obj, APPLY, fieldManager="me")
    assert reply.status == 500
    assert reply.body["message"] == TYPED_PATCH + "\n  ".join(
        [
            "errors:",
            '.spec.template.spec.containers[name="app"].image: '
            "expected string, got &value.valueUnstructured{Value:5}",
            '.spec.template.spec.containers[name="app"]'
            '.ports[containerPort="http",protocol="TCP"].containerPort: '
            "expected numeric (int or float), got string",
            ".spec.paused: expected boolean, got &{no}",
        ]
    )


async def test_null_is_every_field_s_zero_value(client: Client) -> None:
    obj = deployment(replicas=None, strategy=None)
    obj["metadata"]["creationTimestamp"] = None
    reply, _ = await send(client, "POST", DEPLOYMENTS, obj)
    assert reply.status == 201, reply.body


# -- unknown fields -----------------------------------------------------------------------------


def with_unknown_fields() -> dict[str, Any]:
    obj = deployment()
    obj["metadata"]["team"] = "a"
    obj["spec"]["replica"] = 2
    return obj


async def test_unknown_fields_of_a_body_are_rejected_when_strict(
    apiserver: ApiServer, client: Client
) -> None:
    reply, _ = await send(
        client, "POST", DEPLOYMENTS, with_unknown_fields(), fieldValidation=STRICT
    )
    assert reply.status == 400
    assert reply.body["message"] == (
        CANNOT_HANDLE
        + 'strict decoding error: unknown field "metadata.team", unknown field "spec.replica"'
    )
    assert apiserver.store.get(DEPLOYMENT_STORE, "default", "web") is None


@pytest.mark.parametrize("content_type", [MERGE, STRATEGIC])
async def test_unknown_fields_of_a_patch_are_rejected_when_strict(
    client: Client, content_type: str
) -> None:
    await created(client)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "imag": "x"}]}}}}
    reply, _ = await send(
        client, "PATCH", f"{DEPLOYMENTS}/web", patch, content_type, fieldValidation=STRICT
    )
    assert reply.status == 400
    assert reply.body["message"] == (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imag"'
    )


@pytest.mark.parametrize("params", [{}, {"fieldValidation": "Warn"}], ids=["default", "warn"])
async def test_unknown_fields_are_dropped_with_a_warning_each(
    apiserver: ApiServer, client: Client, params: dict[str, str]
) -> None:
    reply, warnings = await send(client, "POST", DEPLOYMENTS, with_unknown_fields(), **params)
    assert reply.status == 201
    assert warnings == [
        '299 - "unknown field \\"metadata.team\\""',
        '299 - "unknown field \\"spec.replica\\""',
    ]
    assert "team" not in stored(apiserver)["metadata"]
    assert "replica" not in stored(apiserver)["spec"]
    assert "replica" not in reply.body["spec"]


async def test_unknown_fields_are_dropped_silently_when_ignored(
    apiserver: ApiServer, client: Client
) -> None:
    obj = with_unknown_fields()
    reply, warnings = await send(client, "POST", DEPLOYMENTS, obj, fieldValidation="Ignore")
    assert (reply.status, warnings) == (201, [])
    assert "replica" not in stored(apiserver)["spec"]


@pytest.mark.parametrize("directive", ["Strict", "Warn", "Ignore"])
async def test_server_side_apply_refuses_unknown_fields_whatever_the_directive(
    client: Client, directive: str
) -> None:
    reply, _ = await send(
        client,
        "PATCH",
        f"{DEPLOYMENTS}/web",
        with_unknown_fields(),
        APPLY,
        fieldManager="me",
        fieldValidation=directive,
    )
    assert reply.status == 500
    assert reply.body["message"] == TYPED_PATCH + "\n  ".join(
        [
            "errors:",
            ".metadata.team: field not declared in schema",
            ".spec.replica: field not declared in schema",
        ]
    )


@pytest.mark.usefixtures("crds")
async def test_unknown_fields_of_a_custom_resource_are_warned_about_too(client: Client) -> None:
    release = {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "demo", "namespace": "default"},
        "spec": {"chart": {"repository": "http://127.0.0.1:1/", "name": "x", "version": "1"}},
        "spce": {},
    }
    path = "/apis/helm.fluxcd.io/v1/namespaces/default/helmreleases"
    reply, warnings = await send(client, "POST", path, release)
    assert reply.status == 201, reply.body
    assert warnings == ['299 - "unknown field \\"spce\\""']


# -- required fields ----------------------------------------------------------------------------


async def test_an_absent_required_object_is_invalid(client: Client) -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    reply, _ = await send(client, "POST", DEPLOYMENTS, obj)
    assert reply.status == 422
    assert (
        reply.body["message"] == 'Deployment.apps "web" is invalid: spec.selector: Required value'
    )
    assert reply.body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"}
    ]


async def test_a_patch_that_removes_a_required_list_is_invalid(client: Client) -> None:
    await created(client)
    patch = [{"op": "remove", "path": "/spec/template/spec/containers"}]
    reply, _ = await send(client, "PATCH", f"{DEPLOYMENTS}/web", patch, JSON_PATCH)
    assert reply.status == 422
    assert reply.body["message"] == (
        'Deployment.apps "web" is invalid: spec.template.spec.containers: Required value'
    )


@pytest.mark.parametrize(
    ("path", "obj"),
    [
        (
            DEPLOYMENTS,
            with_container(
                readinessProbe={"httpGet": {"port": 80, "httpHeaders": [{"name": "X-Probe"}]}}
            ),
        ),
        (
            "/api/v1/namespaces/default/events",
            {"metadata": {"name": "loose"}, "reason": "Started", "message": "no object"},
        ),
        (
            "/apis/batch/v1/namespaces/default/jobs",
            {
                "metadata": {"name": "once"},
                "spec": {
                    "podFailurePolicy": {},
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "app", "image": "busybox"}],
                        }
                    },
                },
            },
        ),
    ],
    ids=["header-without-value", "event-without-object", "policy-without-rules"],
)
async def test_absences_a_real_server_accepts_are_accepted(
    client: Client, path: str, obj: dict[str, Any]
) -> None:
    reply, _ = await send(client, "POST", path, obj)
    assert reply.status == 201, reply.body


# -- status subresource -------------------------------------------------------------------------


async def test_status_writes_are_decoded_but_not_held_to_required_fields(
    apiserver: ApiServer, client: Client
) -> None:
    live = await created(client)
    status = {"replicas": 1, "conditions": [{"message": "no type, no status"}]}
    path = f"{DEPLOYMENTS}/web/status"
    reply, _ = await send(client, "PUT", path, {**live, "status": status})
    assert reply.status == 200, reply.body
    reply, _ = await send(client, "PATCH", path, {"status": {"readyReplicas": 1}}, MERGE)
    assert reply.status == 200, reply.body
    assert stored(apiserver)["status"]["readyReplicas"] == 1
    reply, _ = await send(client, "PATCH", path, {"status": {"readyReplicas": "one"}}, MERGE)
    assert reply.status == 422
    assert reply.body["message"].endswith(
        "json: cannot unmarshal string into Go struct field "
        "DeploymentStatus.status.readyReplicas of type int32"
    )


# -- the real kubectl ---------------------------------------------------------------------------

MANIFEST = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: app, image: nginx{extra}}}]}}
"""


def manifest(replicas: str = "1", extra: str = "") -> str:
    return MANIFEST.format(replicas=replicas, extra=extra)


async def test_kubectl_apply_fails_on_a_wrong_type(run: Run) -> None:
    created_ = await run("kubectl", "apply", "-f", "-", stdin=manifest('"two"'))
    assert created_.code != 0
    assert f'Error from server (BadRequest): error when creating "STDIN": {CANNOT_HANDLE}' in (
        created_.stderr
    )
    assert REPLICAS_TWO in created_.stderr
    (await run("kubectl", "apply", "-f", "-", stdin=manifest())).check()
    patched = await run("kubectl", "apply", "-f", "-", stdin=manifest('"two"'))
    assert patched.code != 0
    assert "The request is invalid: patch: Invalid value:" in patched.stderr
    assert patched.stderr.rstrip().endswith(": unrecognized type: int32")


async def test_kubectl_apply_validates_unknown_fields_as_asked(
    apiserver: ApiServer, run: Run
) -> None:
    unknown = manifest(extra=", imagePullPolice: Always")
    strict = await run("kubectl", "apply", "-f", "-", stdin=unknown)
    assert strict.code != 0
    assert (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolice"'
        in strict.stderr
    )
    warned = (await run("kubectl", "apply", "--validate=warn", "-f", "-", stdin=unknown)).check()
    assert 'Warning: unknown field "spec.template.spec.containers[0].imagePullPolice"' in (
        warned.stderr
    )
    ignored = (await run("kubectl", "apply", "--validate=false", "-f", "-", stdin=unknown)).check()
    assert "Warning" not in ignored.stderr
    assert stored(apiserver)["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "nginx"}
    ]


async def test_kubectl_server_side_apply_fails_on_wrong_types_and_unknown_fields(
    apiserver: ApiServer, run: Run
) -> None:
    wrong = await run("kubectl", "apply", "--server-side", "-f", "-", stdin=manifest('"two"'))
    assert wrong.code != 0
    assert wrong.stderr.strip() == (
        "Error from server: "
        + TYPED_PATCH
        + ".spec.replicas: expected numeric (int or float), got string"
    )
    unknown = manifest(extra=", imagePullPolice: Always")
    for validate in ("--validate=strict", "--validate=false"):
        refused = await run("kubectl", "apply", "--server-side", validate, "-f", "-", stdin=unknown)
        assert refused.code != 0
        assert (
            '.spec.template.spec.containers[name="app"].imagePullPolice: '
            "field not declared in schema"
        ) in refused.stderr
    assert apiserver.store.get(DEPLOYMENT_STORE, "default", "web") is None
    applied = (await run("kubectl", "apply", "--server-side", "-f", "-", stdin=manifest())).check()
    assert "serverside-applied" in applied.stdout


# -- the real helm 4 and helm 3 -----------------------------------------------------------------

CHART_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: app
          image: nginx
          {{- with .Values.container }}
          {{- toYaml . | nindent 10 }}
          {{- end }}
"""
# What each helm meets: helm 4 applies server-side; helm 3 creates, then patches (a merge
# patch: the Deployment it cannot convert to its Go type leaves it no strategic one).
HELM_WRONG_TYPE = {
    "helm": ".spec.replicas: expected numeric (int or float), got string",
    "helm3": REPLICAS_TWO,
}


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    """A chart of one Deployment, its replicas and extra container fields from values."""
    root = tmp_path / "typed"
    (root / "templates").mkdir(parents=True)
    (root / "Chart.yaml").write_text("apiVersion: v2\nname: typed\nversion: 0.1.0\n")
    (root / "values.yaml").write_text("replicas: 1\ncontainer: {}\n")
    (root / "templates" / "deployment.yaml").write_text(CHART_TEMPLATE)
    return root


@HELMS
async def test_helm_install_fails_on_a_wrong_type(
    apiserver: ApiServer, run: Run, chart: Path, helm: str
) -> None:
    failed = await run(
        helm, "upgrade", "--install", "web", str(chart), "--set-string", "replicas=two"
    )
    assert failed.code != 0
    assert HELM_WRONG_TYPE[helm] in failed.stderr
    assert apiserver.store.get(DEPLOYMENT_STORE, "default", "web") is None


@HELMS
async def test_helm_upgrade_fails_on_a_wrong_type_and_leaves_the_deployment(
    apiserver: ApiServer, run: Run, chart: Path, helm: str
) -> None:
    (await run(helm, "upgrade", "--install", "web", str(chart))).check()
    failed = await run(
        helm, "upgrade", "--install", "web", str(chart), "--set-string", "replicas=two"
    )
    assert failed.code != 0
    assert "UPGRADE FAILED" in failed.stderr
    assert HELM_WRONG_TYPE[helm] in failed.stderr
    assert stored(apiserver)["spec"]["replicas"] == 1
    history = (await run(helm, "history", "web", "-o", "json")).check().json()
    assert [h["status"] for h in history] == ["deployed", "failed"]


@HELMS
async def test_helm_with_an_unknown_field_fails_server_side_or_drops_it_with_a_warning(
    apiserver: ApiServer, run: Run, chart: Path, helm: str
) -> None:
    result = await run(
        helm, "upgrade", "--install", "web", str(chart), "--set", "container.imagePullPolice=Always"
    )
    path = '.spec.template.spec.containers[name="app"].imagePullPolice'
    if helm == "helm":  # server-side apply: structured-merge-diff refuses it
        assert result.code != 0
        assert f"{path}: field not declared in schema" in result.stderr
        return
    result.check()  # helm 3 sends no field validation: the server warns, and drops the field
    assert 'unknown field "spec.template.spec.containers[0].imagePullPolice"' in result.stderr
    assert "imagePullPolice" not in stored(apiserver)["spec"]["template"]["spec"]["containers"][0]


# -- the project's own objects ------------------------------------------------------------------


def test_the_schemas_are_those_of_the_release_the_server_claims() -> None:
    assert KUBERNETES_VERSION["gitVersion"] == KUBERNETES_SCHEMAS


def builtin_type(registry: Registry, obj: dict[str, Any]) -> ResourceType | None:
    api_version = str(obj.get("apiVersion", ""))
    return next(
        (t for t in registry.in_group_version(api_version) if t.kind == obj.get("kind")), None
    )


def assert_admitted_as_they_are(objects: list[dict[str, Any]]) -> None:
    """Every built-in object is admitted under strict field validation (so no field of it is
    dropped), and types cleanly as a server-side apply configuration."""
    registry, admission = Registry(), Admission()
    checked = 0
    for obj in objects:
        resource_type = builtin_type(registry, obj)
        if resource_type is None:
            continue  # a custom resource of the chart's own CRDs
        namespace = (
            obj["metadata"].get("namespace", "default") if resource_type.namespaced else None
        )
        info = RequestInfo("create", "/", namespace=namespace)
        admission.admit(resource_type, obj, info, None, Decoding(Source.BODY, STRICT))
        check_apply(resource_type, obj)
        checked += 1
    assert checked


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]


async def test_the_project_manifests_are_admitted_as_they_are(run: Run) -> None:
    rendered = (await run("kubectl", "kustomize", str(ROOT / "manifests"))).check()
    assert_admitted_as_they_are(documents(rendered.stdout))


@pytest.mark.parametrize("chart_file", sorted(p.name for p in CHARTS_DIR.glob("*.tgz")))
async def test_the_test_charts_are_admitted_as_they_are(run: Run, chart_file: str) -> None:
    rendered = await run(
        "helm", "template", "demo", str(CHARTS_DIR / chart_file), "--include-crds", "-n", "default"
    )
    assert_admitted_as_they_are(documents(rendered.check().stdout))
