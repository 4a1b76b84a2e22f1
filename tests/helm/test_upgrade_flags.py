"""The helm flags of the release options: every option has one, spelled for helm 3 and 4.

Each field of ``ReleaseOptions`` changed from its default changes the arguments of
``helm upgrade`` (an option added to the API but forgotten in the flags fails here),
and the defaults give the flags helm-operator users expect.
"""

from __future__ import annotations

from dataclasses import Field, fields, replace
from typing import Any

import pytest

from controller.api import ReleaseOptions
from controller.helm import upgrade_flags

DEFAULTS = ReleaseOptions()


def other_than_default(option: Field[Any]) -> Any:
    default = option.default
    return not default if isinstance(default, bool) else default + 1


@pytest.mark.parametrize("major", [3, 4])
@pytest.mark.parametrize("option", fields(ReleaseOptions), ids=lambda option: option.name)
def test_every_option_becomes_a_flag(option: Field[Any], major: int) -> None:
    changed = replace(DEFAULTS, **{option.name: other_than_default(option)})
    assert upgrade_flags(changed, major) != upgrade_flags(DEFAULTS, major)


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


def test_switches() -> None:
    options = ReleaseOptions(timeout=90.5, wait=True, reset_values=False, skip_crds=True)
    assert upgrade_flags(replace(options, max_history=0, disable_openapi_validation=True), 4) == [
        *["--timeout", "90500ms", "--wait", "--reuse-values", "--skip-crds"],
        *["--history-max", "0", "--disable-openapi-validation"],
    ]
