"""HelmReleases a hostile or careless author can write, read without a crash: each is a
SpecError naming its field, never an exception escaping the parser, never the value.

Values nested deeper than any values file needs (an API server accepts up to 10,000
levels), numbers that are not finite (which JSON cannot carry on), and repository URLs
that pass the CRD's pattern but whose host or port cannot be read.
"""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import MAX_VALUES_DEPTH, SpecError, parse, values_problem


def helmrelease(repository: str = "https://charts.example.com/", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "helm.fluxcd.io/v1",
        "kind": "HelmRelease",
        "metadata": {"name": "hostile", "namespace": "default"},
        "spec": {"chart": {"repository": repository, "name": "app", "version": "1.0.0"}, **spec},
    }


def nested(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [MAX_VALUES_DEPTH + 1, 480, 5_000, 10_000])
def test_values_nested_too_deep_are_refused_by_name(depth: int) -> None:
    found = parse(helmrelease(values=nested(depth, {"b": 1})))
    assert found == SpecError("spec.values", f"is nested deeper than {MAX_VALUES_DEPTH} levels")


def test_values_as_deep_as_allowed_are_kept() -> None:
    values = nested(MAX_VALUES_DEPTH)
    assert values_problem(values) is None
    assert not isinstance(parse(helmrelease(values=values)), SpecError)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_numbers_that_are_not_finite_are_refused(number: float) -> None:
    found = parse(helmrelease(values={"deep": [{"x": number}]}))
    assert isinstance(found, SpecError)
    assert (found.field, found.message) == (
        "spec.values",
        "holds a number that is not finite (NaN or infinity)",
    )


@pytest.mark.parametrize(
    "repository", ["http://[::1", "http://[::1/charts", "https://host:99999/", "https://:80/"]
)
def test_repository_urls_whose_host_or_port_cannot_be_read(repository: str) -> None:
    found = parse(helmrelease(repository))
    assert found == SpecError("spec.chart.repository", "is not a valid URL (host or port)")
