"""``helmrelease-operator post-render SPEC_FILE``: helm's post-renderer for a HelmRelease's
``spec.postRenderers`` (helm-controller's kustomize post-renderers).

helm writes the manifest it rendered to our stdin and takes the manifest we write to
stdout. ``SPEC_FILE`` is the JSON list of the renderers, each ``{"kustomize": {"patches":
[...], "images": [...]}}``. They apply in order: each writes the manifest so far and a
``kustomization.yaml`` (``resources``, ``patches``, ``images``) into a fresh private
directory next to ``SPEC_FILE`` and runs the kustomize built into kubectl
(``kubectl kustomize DIR``), so that patches have kustomize's own semantics (strategic
merge, JSON 6902, targets), as helm-controller has. A failure is one line on stderr
(also written to ``--error-file``: helm 4 does not pass a plugin's stderr on) and exit
code 1.

This is a process of its own, started by helm: it blocks, and keeps nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RESOURCES = "resources.yaml"
KUSTOMIZATION = "kustomization.yaml"
MESSAGE_LIMIT = 2000
"""Characters of kubectl's error kept in the error line."""
LOGGED_ERROR = re.compile(r'"command failed" err="(?P<error>.*)"$')
"""kubectl's error when it logs it (``E1205 09:41:47.953428 22740 run.go:72] "command
failed" err="..."``) rather than printing ``error: ...``."""


class PostRenderError(Exception):
    """A post-renderer cannot be applied; the message is one line for helm to report."""


def main(spec_file: Path, kubectl_bin: str, *, error_file: Path | None = None) -> int:
    """Apply the renderers of ``spec_file`` to stdin, the result to stdout; 0, or 1 with one
    line on stderr (and in ``error_file``)."""
    try:
        renderers = read_renderers(spec_file)
        manifest = sys.stdin.buffer.read()
        for index, renderer in enumerate(renderers):
            where = f"spec.postRenderers[{index}]"
            manifest = kustomize(manifest, renderer, kubectl_bin, spec_file.parent, where)
    except PostRenderError as error:
        line = f"post-render: {error}"
        print(line, file=sys.stderr)
        if error_file is not None:
            _write_private(error_file, line + "\n")
        return 1
    sys.stdout.buffer.write(manifest)
    return 0


def read_renderers(spec_file: Path) -> list[Mapping[str, Any]]:
    """The ``kustomize`` body of each renderer in ``spec_file``."""
    try:
        renderers = json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PostRenderError(f"cannot read {spec_file}: {error}") from None
    if not isinstance(renderers, list) or not all(_is_kustomize(item) for item in renderers):
        raise PostRenderError(f"{spec_file} is not a list of kustomize post-renderers")
    return [item["kustomize"] for item in renderers]


def kustomization(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``kustomization.yaml`` of one renderer, over the manifest in ``RESOURCES``."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [RESOURCES],
        "patches": list(body.get("patches", [])),
        "images": list(body.get("images", [])),
    }


def kustomize(
    manifest: bytes, body: Mapping[str, Any], kubectl_bin: str, parent: Path, where: str
) -> bytes:
    """``manifest`` with one renderer applied by ``kubectl kustomize``."""
    try:
        with tempfile.TemporaryDirectory(prefix="post-render-", dir=parent.absolute()) as directory:
            root = Path(directory)
            (root / RESOURCES).write_bytes(manifest)
            (root / KUSTOMIZATION).write_text(json.dumps(kustomization(body)), encoding="utf-8")
            done = _run([kubectl_bin, "kustomize", directory])
    except OSError as error:
        raise PostRenderError(f"{where}: {error}") from None
    if done.returncode != 0:
        raise PostRenderError(f"{where}: kustomize: {_one_line(done.stderr, directory)}")
    return done.stdout


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    except OSError as error:
        raise PostRenderError(f"cannot start {argv[0]}: {error.strerror or error}") from None


def _one_line(stderr: bytes, directory: str) -> str:
    """kubectl's error as one line, without its ``error:`` or log prefix, nor the path of
    our directory."""
    text = " ".join(stderr.decode(errors="replace").split())
    if logged := LOGGED_ERROR.search(text):
        text = logged["error"].replace('\\"', '"')
    text = text.removeprefix("error: ").replace(f"{directory}/", "")
    return (text or "failed without a message")[:MESSAGE_LIMIT]


def _is_kustomize(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("kustomize"), dict)


def _write_private(path: Path, text: str) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError:
        pass  # the line is on stderr anyway
