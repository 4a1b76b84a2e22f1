"""The helm flags of the release options: every option has one, spelled for helm 3 and 4.

Each field of ``ReleaseOptions`` changed from its default changes the arguments of
``helm upgrade`` (an option added to the API but forgotten in the flags fails here),
and the defaults give the flags helm-operator users expect. Post-renderers are our own
program, which helm 3 runs itself and helm 4 through its plugin (flags, not renderers,
on the command line: those are in a file). The same for the rollback options and
``helm rollback``, where helm 4 lacks ``--recreate-pods`` (said, not hidden).
"""

from __future__ import annotations

from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any

import pytest

from controller.api import ReleaseOptions, RollbackPolicy
from controller.helm import (
    PLUGIN_NAME,
    PostRender,
    rollback_flags,
    rollback_unsupported,
    upgrade_flags,
)

DEFAULTS = ReleaseOptions()
RENDERER = {"kustomize": {"patches": [], "images": [{"name": "nginx", "newTag": "1.27"}]}}
POST_RENDER = PostRender(
    program=("/venv/bin/python", "-m", "controller"),
    kubectl_bin="/bin/kubectl",
    renderers=Path("/work/values-1/post-renderers.json"),
    error=Path("/work/values-1/post-render-error"),
)
PROGRAM_ARGS = ["-m", "controller", "post-render"]
RUN_ARGS = [
    "--post-renderer-args=--kubectl-bin=/bin/kubectl",
    "--post-renderer-args=--error-file=/work/values-1/post-render-error",
    "--post-renderer-args=/work/values-1/post-renderers.json",
]


def other_than_default(option: Field[Any]) -> Any:
    default = option.default
    if isinstance(default, tuple):
        return (RENDERER,)
    return not default if isinstance(default, bool) else default + 1


@pytest.mark.parametrize("major", [3, 4])
@pytest.mark.parametrize("option", fields(ReleaseOptions), ids=lambda option: option.name)
def test_every_option_becomes_a_flag(option: Field[Any], major: int) -> None:
    changed = replace(DEFAULTS, **{option.name: other_than_default(option)})
    assert upgrade_flags(changed, major, POST_RENDER) != upgrade_flags(DEFAULTS, major)


@pytest.mark.parametrize("major", [3, 4])
def test_defaults(major: int) -> None:
    assert upgrade_flags(DEFAULTS, major) == [
        *["--timeout", "300000ms", "--reset-values", "--history-max", "10"]
    ]


@pytest.mark.parametrize(
    ("major", "force"),
    [(3, ["--force"]), (4, ["--force-replace", "--server-side=false"])],
)
def test_force_is_spelled_for_each_helm(major: int, force: list[str]) -> None:
    flags = upgrade_flags(replace(DEFAULTS, force=True), major)
    assert flags[-len(force) - 2 : -2] == force


@pytest.mark.parametrize(
    ("major", "post_renderer"),
    [
        # helm 3 runs the program itself: the interpreter, its arguments, our command
        (3, ["/venv/bin/python", *[f"--post-renderer-args={arg}" for arg in PROGRAM_ARGS]]),
        (4, [PLUGIN_NAME]),  # helm 4 runs its plugin, which holds the program and command
    ],
)
def test_post_renderers_are_our_program_run_by_each_helm(
    major: int, post_renderer: list[str]
) -> None:
    options = replace(DEFAULTS, post_renderers=(RENDERER, RENDERER))
    assert upgrade_flags(options, major, POST_RENDER) == [
        *upgrade_flags(DEFAULTS, major),
        *["--post-renderer", *post_renderer, *RUN_ARGS],
    ]


def test_post_renderers_need_the_program() -> None:
    with pytest.raises(ValueError, match="post-render"):
        upgrade_flags(replace(DEFAULTS, post_renderers=(RENDERER,)), 4)


def test_switches() -> None:
    options = ReleaseOptions(timeout=90.5, wait=True, reset_values=False, skip_crds=True)
    assert upgrade_flags(replace(options, max_history=0, disable_openapi_validation=True), 4) == [
        *["--timeout", "90500ms", "--wait", "--reuse-values", "--skip-crds"],
        *["--history-max", "0", "--disable-openapi-validation"],
    ]


ROLLBACK_DEFAULTS = RollbackPolicy()


@pytest.mark.parametrize("major", [3, 4])
def test_rollback_defaults(major: int) -> None:
    assert rollback_flags(ROLLBACK_DEFAULTS, major) == ["--timeout", "300000ms"]
    assert rollback_unsupported(ROLLBACK_DEFAULTS, major) == ()


@pytest.mark.parametrize(
    ("major", "switch", "flags"),
    [
        (3, "wait", ["--wait"]),
        (4, "wait", ["--wait"]),
        (3, "force", ["--force"]),
        (4, "force", ["--force-replace", "--server-side=false"]),
        (3, "recreate", ["--recreate-pods"]),
        (4, "recreate", []),  # helm 4 has no such flag: said, never silently different
        (3, "disable_hooks", ["--no-hooks"]),
        (4, "disable_hooks", ["--no-hooks"]),
    ],
)
def test_rollback_switches_are_spelled_for_each_helm(
    major: int, switch: str, flags: list[str]
) -> None:
    changed = replace(ROLLBACK_DEFAULTS, **{switch: True})
    assert rollback_flags(changed, major) == [*rollback_flags(ROLLBACK_DEFAULTS, major), *flags]
    unsupported = rollback_unsupported(changed, major)
    assert bool(unsupported) == (not flags)
    assert all(note.startswith(f"rollback.{switch}") for note in unsupported)
