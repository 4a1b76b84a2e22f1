"""``helmrelease-operator post-render SPEC_FILE`` as helm runs it: a manifest on stdin, the
post-rendered manifest on stdout, with the real kustomize of the pinned kubectl.

A strategic merge patch finds its object by its own kind and name; a JSON 6902 patch
applies to its target only; ``images`` changes an image's tag; renderers apply in order,
each to what the one before made (the last one's change wins). A failure (a patch that
is not YAML, a JSON op on a missing path, a spec file that is not a list of renderers, a
kubectl that cannot start) exits 1 with one line on stderr naming the renderer, the same
line in ``--error-file``, no traceback, and no temporary directory left behind. kubectl
is the flag's, else ``HELMRELEASE_KUBECTL_BIN``'s.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testkit import Completed, pinned, run

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = str(pinned("kubectl"))
MANIFEST = """\
---
# Source: web/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/example/web:1.0.0
"""
LABEL_TEAM = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    team: a\n"
)


def kustomize(*patches: dict[str, Any], images: tuple[dict[str, str], ...] = ()) -> Any:
    return {"kustomize": {"patches": list(patches), "images": list(images)}}


def json_patch(*ops: dict[str, Any], **target: str) -> dict[str, Any]:
    return {"patch": yaml.safe_dump(list(ops)), "target": target}


async def post_render(
    tmp_path: Path,
    renderers: Any,
    *,
    manifest: str = MANIFEST,
    kubectl: str | None = KUBECTL,
    env: dict[str, str] | None = None,
) -> Completed:
    spec = tmp_path / "post-renderers.json"
    spec.write_text(json.dumps(renderers))
    flags = [f"--kubectl-bin={kubectl}"] if kubectl else []
    flags.append(f"--error-file={tmp_path / 'error'}")
    argv = (sys.executable, "-m", "controller", "post-render", *flags, str(spec))
    return await run(argv, {"PATH": os.environ["PATH"], **(env or {})}, manifest, cwd=ROOT)


def objects(done: Completed) -> dict[str, Any]:
    assert done.code == 0, done.stderr
    return {item["kind"]: item for item in yaml.safe_load_all(done.stdout) if item}


def files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def labels(done: Completed, kind: str) -> dict[str, str]:
    labelled: dict[str, str] = objects(done)[kind]["metadata"].get("labels", {})
    return labelled


async def test_a_strategic_merge_patch_adds_a_label(tmp_path: Path) -> None:
    done = await post_render(tmp_path, [kustomize({"patch": LABEL_TEAM})])
    assert labels(done, "Deployment") == {"app": "web", "team": "a"}
    assert labels(done, "Service") == {}


async def test_a_json_patch_applies_to_its_target_only(tmp_path: Path) -> None:
    add = {"op": "add", "path": "/metadata/labels", "value": {"tier": "front"}}
    done = await post_render(tmp_path, [kustomize(json_patch(add, kind="Service", name="web"))])
    assert labels(done, "Service") == {"tier": "front"}
    assert labels(done, "Deployment") == {"app": "web"}


async def test_images_change_an_image_tag(tmp_path: Path) -> None:
    image = {"name": "ghcr.io/example/web", "newTag": "2.0.0"}
    done = await post_render(tmp_path, [kustomize(images=(image,))])
    (container,) = objects(done)["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/example/web:2.0.0"


async def test_renderers_chain_in_order(tmp_path: Path) -> None:
    team_a = kustomize({"patch": LABEL_TEAM})
    replace = {"op": "replace", "path": "/metadata/labels/team", "value": "b"}
    team_b = kustomize(json_patch(replace, kind="Deployment"))
    image = kustomize(images=({"name": "ghcr.io/example/web", "newTag": "2.0.0"},))
    done = await post_render(tmp_path, [team_a, team_b, image])
    assert labels(done, "Deployment") == {"app": "web", "team": "b"}
    assert "web:2.0.0" in done.stdout
    again = await post_render(tmp_path, [team_b, team_a])  # the last one wins
    assert labels(again, "Deployment") == {"app": "web", "team": "a"}


async def test_kubectl_comes_from_the_flag_else_the_environment(tmp_path: Path) -> None:
    renderers = [kustomize({"patch": LABEL_TEAM})]
    from_env = await post_render(
        tmp_path, renderers, kubectl=None, env={"HELMRELEASE_KUBECTL_BIN": KUBECTL}
    )
    assert labels(from_env, "Deployment")["team"] == "a"
    missing = str(tmp_path / "no-kubectl")
    flag_wins = await post_render(
        tmp_path, renderers, kubectl=missing, env={"HELMRELEASE_KUBECTL_BIN": KUBECTL}
    )
    assert flag_wins.stderr == f"post-render: cannot start {missing}: No such file or directory\n"


MISSING_PATH = {"op": "replace", "path": "/spec/nothing/here", "value": 1}


@pytest.mark.parametrize(
    ("renderers", "says"),
    [
        pytest.param(
            [kustomize({"patch": "kind: [unclosed\n  x"})],
            "spec.postRenderers[0]: kustomize: trouble configuring builtin PatchTransformer",
            id="patch-not-yaml",
        ),
        pytest.param(
            [kustomize({"patch": LABEL_TEAM}), kustomize(json_patch(MISSING_PATH, kind="Service"))],
            "spec.postRenderers[1]: kustomize: replace operation does not apply: "
            "doc is missing path: /spec/nothing/here",
            id="json-op-on-missing-path",
        ),
        pytest.param({"kustomize": {}}, "is not a list of kustomize post-renderers", id="not-list"),
    ],
)
async def test_a_failure_is_one_line_and_leaves_nothing(
    tmp_path: Path, renderers: Any, says: str
) -> None:
    done = await post_render(tmp_path, renderers)
    assert (done.code, done.stdout) == (1, "")
    assert done.stderr.startswith("post-render: ")
    assert says in done.stderr
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert (tmp_path / "error").read_text() == done.stderr
    assert files(tmp_path) == ["error", "post-renderers.json"]
