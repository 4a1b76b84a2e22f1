"""Who helm (and the drift check) acts as: the HelmRelease's ServiceAccount, else the
operator's ``--default-service-account`` in the HelmRelease's namespace (helm-controller's
multi-tenancy lockdown), else the operator itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.api import ChartSpec, ReleaseSpec, SpecError
from controller.reconcile.actions.context import impersonated

SPEC = ReleaseSpec(
    group="helm.fluxcd.io",
    namespace="team",
    name="web",
    release_name="web",
    target_namespace="apps",
    chart=ChartSpec("https://charts.example.com/", "web", "1.0.0"),
    values={},
)


@pytest.mark.parametrize(
    ("account", "default", "user"),
    [
        (None, None, None),
        ("deployer", None, "system:serviceaccount:team:deployer"),
        (None, "tenant", "system:serviceaccount:team:tenant"),
        ("deployer", "tenant", "system:serviceaccount:team:deployer"),
    ],
)
def test_the_identity_of_a_release(
    account: str | None, default: str | None, user: str | None
) -> None:
    spec = replace(SPEC, service_account_name=account)
    assert impersonated("team", spec, default) == user


def test_an_invalid_spec_is_still_uninstalled_as_the_default_account() -> None:
    invalid = SpecError("spec.chart", "is required")
    assert impersonated("team", invalid, "tenant") == "system:serviceaccount:team:tenant"
    assert impersonated("team", invalid, None) is None
