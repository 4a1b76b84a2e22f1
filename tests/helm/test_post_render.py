"""``spec.postRenderers`` with real helm 4 and helm 3 on the in-memory API server: helm
runs our ``post-render`` program (helm 3 itself, helm 4 as a ``postrenderer/v1`` plugin
in the runner's private plugins directory) and stores what it made as the release's
manifest.

A strategic merge patch labels the Deployment (in the stored manifest and the live
object); a JSON 6902 patch changes only its target; ``images`` changes the image tag; two
renderers chain in order, on install and again on upgrade. A failing patch (not YAML, a
JSON op on a missing path) fails helm with the program's own error line, the same with
both helms, makes no release, and leaves no file behind. The program is the console
script beside the interpreter, else the interpreter with ``-m controller``; the kubectl
setting is ``--kubectl-bin``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller import helm
from controller.__main__ import build_settings, make_parser
from controller.api import ReleaseOptions
from controller.helm import PLUGIN_NAME, HelmResult, HelmRunner, post_render_program
from controller.keys import ReleaseKey
from controller.kube.client import KubeClient
from controller.settings import HelmSettings
from testkit import pinned

HelmCli = Callable[..., Awaitable[tuple[int, str, str]]]
PODINFO = Path(__file__).resolve().parents[2] / "tests/data/charts/podinfo-6.7.1.tgz"
RELEASE = ReleaseKey("default", "web")
DEPLOYMENT = "/apis/apps/v1/namespaces/default/deployments/web-podinfo"
IMAGE = "ghcr.io/stefanprodan/podinfo"


@pytest.fixture
async def runner(helm_bin: Path, kubeconfig: Path, tmp_path: Path) -> AsyncIterator[HelmRunner]:
    """A runner of each helm whose post-renderers use the pinned kubectl."""
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    settings = HelmSettings(
        helm_bin=str(helm_bin), kubectl_bin=str(pinned("kubectl")), work_dir=work_dir
    )
    runner = HelmRunner(settings, {"KUBECONFIG": str(kubeconfig)})
    yield runner
    await runner.close()


def kustomize(*patches: dict[str, Any], images: tuple[dict[str, str], ...] = ()) -> Any:
    return {"kustomize": {"patches": list(patches), "images": list(images)}}


def labels_patch(**labels: str) -> dict[str, Any]:
    """A strategic merge patch of the Deployment's labels (found by its kind and name)."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment"}
    return {
        "patch": yaml.safe_dump(
            {**deployment, "metadata": {"name": "web-podinfo", "labels": labels}}
        )
    }


def json_patch(*ops: dict[str, Any], **target: str) -> dict[str, Any]:
    return {"patch": yaml.safe_dump(list(ops)), "target": target}


async def upgrade(runner: HelmRunner, *renderers: Any) -> HelmResult:
    options = ReleaseOptions(timeout=60, max_history=5, post_renderers=renderers)
    return await runner.upgrade(
        release=RELEASE, chart_path=PODINFO, values={}, options=options, install=True, labels={}
    )


async def stored(helm_cli: HelmCli) -> dict[str, Any]:
    """The objects of the release's stored manifest, by kind."""
    code, stdout, stderr = await helm_cli("get", "manifest", "web", "--namespace", "default")
    assert code == 0, stderr
    return {item["kind"]: item for item in yaml.safe_load_all(stdout) if item}


def image_of(deployment: dict[str, Any]) -> str:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    image: str = container["image"]
    return image


def files(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def leftovers(work_dir: Path) -> list[Path]:
    """Values and post-render directories (the plugin, once written, stays)."""
    return [*work_dir.glob("helm-*/values-*"), *work_dir.glob("**/post-render-*")]


async def test_a_strategic_merge_patch_labels_the_deployment(
    runner: HelmRunner, helm_cli: HelmCli, client: KubeClient
) -> None:
    result = await upgrade(runner, kustomize(labels_patch(team="a")))
    assert (result.ok, result.error) == (True, "")
    manifest = await stored(helm_cli)
    assert manifest["Deployment"]["metadata"]["labels"]["team"] == "a"
    assert "team" not in manifest["Service"]["metadata"]["labels"]
    live = await client.get(DEPLOYMENT)
    assert live is not None
    assert live["metadata"]["labels"]["team"] == "a"


async def test_a_json_patch_changes_only_its_target(runner: HelmRunner, helm_cli: HelmCli) -> None:
    add = {"op": "add", "path": "/metadata/annotations", "value": {"owner": "team-a"}}
    result = await upgrade(runner, kustomize(json_patch(add, kind="Service", name="web-podinfo")))
    assert (result.ok, result.error) == (True, "")
    manifest = await stored(helm_cli)
    assert manifest["Service"]["metadata"]["annotations"] == {"owner": "team-a"}
    assert "annotations" not in manifest["Deployment"]["metadata"]


async def test_images_change_the_image_tag(runner: HelmRunner, helm_cli: HelmCli) -> None:
    result = await upgrade(runner, kustomize(images=({"name": IMAGE, "newTag": "6.7.0"},)))
    assert (result.ok, result.error) == (True, "")
    assert image_of((await stored(helm_cli))["Deployment"]) == f"{IMAGE}:6.7.0"


async def test_renderers_chain_in_order_on_install_and_upgrade(
    runner: HelmRunner, helm_cli: HelmCli
) -> None:
    replace = {"op": "replace", "path": "/metadata/labels/team", "value": "b"}
    team_b = kustomize(json_patch(replace, kind="Deployment"))
    tagged = kustomize(labels_patch(team="a"), images=({"name": IMAGE, "newTag": "6.7.0"},))
    assert (await upgrade(runner, tagged, team_b)).ok
    deployment = (await stored(helm_cli))["Deployment"]
    assert (deployment["metadata"]["labels"]["team"], image_of(deployment)) == (
        "b",
        f"{IMAGE}:6.7.0",
    )

    assert (await upgrade(runner, team_b, tagged)).ok  # the last one wins
    deployment = (await stored(helm_cli))["Deployment"]
    assert deployment["metadata"]["labels"]["team"] == "a"


@pytest.mark.parametrize(
    ("renderers", "error"),
    [
        pytest.param(
            [kustomize({"patch": "kind: [unclosed\n  x"})],
            "Error: post-render: spec.postRenderers[0]: kustomize: trouble configuring builtin "
            "PatchTransformer",
            id="patch-not-yaml",
        ),
        pytest.param(
            [
                kustomize(labels_patch(team="a")),
                kustomize(
                    json_patch(
                        {"op": "replace", "path": "/spec/nothing/here", "value": 1}, kind="Service"
                    )
                ),
            ],
            "Error: post-render: spec.postRenderers[1]: kustomize: replace operation does not "
            "apply: doc is missing path: /spec/nothing/here",
            id="json-op-on-missing-path",
        ),
    ],
)
async def test_a_failing_patch_fails_helm_with_its_error_and_leaves_nothing(
    runner: HelmRunner, helm_cli: HelmCli, tmp_path: Path, renderers: list[Any], error: str
) -> None:
    result = await upgrade(runner, *renderers)
    assert not result.ok
    assert result.error.startswith(error), result.error
    code, _, _ = await helm_cli("status", "web", "--namespace", "default")
    assert code != 0  # no release was made
    assert leftovers(tmp_path / "work") == []
    await runner.close()
    assert files(tmp_path / "work") == []


async def test_the_program_also_runs_as_the_package(
    runner: HelmRunner, helm_cli: HelmCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m controller``: what runs where the console script is not installed."""
    monkeypatch.setattr(helm, "post_render_program", lambda: (sys.executable, "-m", "controller"))
    assert (await upgrade(runner, kustomize(labels_patch(team="a")))).ok
    assert (await stored(helm_cli))["Deployment"]["metadata"]["labels"]["team"] == "a"


async def test_helm_4_gets_the_program_as_a_plugin_helm_3_none(
    runner: HelmRunner, tmp_path: Path
) -> None:
    major, _ = await runner.version()
    assert (await upgrade(runner, kustomize(labels_patch(team="a")))).ok
    plugins = list((tmp_path / "work").glob("helm-*/plugins/*/plugin.yaml"))
    if major == 3:  # helm 3 would refuse to start with a plugin.yaml of helm 4's
        assert plugins == []
        return
    (plugin,) = plugins
    assert plugin.parent.name == PLUGIN_NAME
    program = post_render_program()
    assert yaml.safe_load(plugin.read_text()) == {
        "apiVersion": "v1",
        "name": PLUGIN_NAME,
        "type": "postrenderer/v1",
        "runtime": "subprocess",
        "version": "1.0.0",
        "runtimeConfig": {
            "platformCommand": [{"command": program[0], "args": [*program[1:], "post-render"]}]
        },
    }


def test_the_program_is_the_console_script_else_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = Path(sys.executable).parent / "helmrelease-operator"
    if os.access(script, os.X_OK):
        assert post_render_program() == (str(script),)
    interpreter = tmp_path / "bin" / "python3"
    monkeypatch.setattr(helm.sys, "executable", str(interpreter))
    assert post_render_program() == (str(interpreter), "-m", "controller")
    script = interpreter.parent / "helmrelease-operator"
    script.parent.mkdir()
    script.touch(mode=0o755)
    assert post_render_program() == (str(script),)


def test_kubectl_is_a_setting() -> None:
    parse = make_parser().parse_args
    assert build_settings(parse(["run"]), {}).helm.kubectl_bin == "kubectl"
    environ = {"HELMRELEASE_KUBECTL_BIN": "/opt/kubectl"}
    assert build_settings(parse(["run"]), environ).helm.kubectl_bin == "/opt/kubectl"
    flagged = parse(["run", "--kubectl-bin", "/bin/kubectl"])
    assert build_settings(flagged, environ).helm.kubectl_bin == "/bin/kubectl"
