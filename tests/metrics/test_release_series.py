"""The per-release series read as prometheus_client's own children would have written them.

Any sequence of what the operator reports (reconciles ending Ready or not, release actions
with their durations, conditions set and forgotten, HelmReleases forgotten, a former
leader's series dropped) gives the same families, types, HELP text and samples as the
same reports made to prometheus_client's Gauge and Histogram with the families' names,
labels and buckets, whatever the part size the exposition is cut into. ``name[]`` keeps
only the families it names, by family or sample name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from controller import releaseseries
from controller.releaseseries import (
    ACTION_BUCKETS,
    ACTION_DURATION,
    CONDITION,
    CONDITION_TYPES,
    CONDITION_VALUES,
    LAST_RECONCILE,
    READY,
    ReleaseSeries,
)
from testkit import Scrape

NAMES = st.sampled_from(["a", "b", "web-1", 'quo"te', "back\\slash", "new\nline"])
STATUSES = st.sampled_from(["True", "False", "Unknown", "Weird"])
OPS = st.one_of(
    st.tuples(st.just("reconciled"), NAMES, NAMES, st.sampled_from([1, 0, -1]), st.floats(0, 2e9)),
    st.tuples(
        st.just("action"),
        st.sampled_from(["sync", "install", "upgrade", "rollback", "uninstall"]),
        st.booleans(),
        NAMES,
        NAMES,
        st.floats(0, 4000),
    ),
    st.tuples(
        st.just("conditions"),
        NAMES,
        NAMES,
        st.dictionaries(st.sampled_from(CONDITION_TYPES), STATUSES),
    ),
    st.tuples(st.just("forget_conditions"), NAMES, NAMES),
    st.tuples(st.just("forget_helmrelease"), NAMES, NAMES),
    st.tuples(st.just("forget_helmreleases")),
)


class Reference:
    """The same reports, made to prometheus_client's children in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ready = Gauge(
            READY, releaseseries._HELP[READY], ["namespace", "name"], registry=self.registry
        )
        self.last = Gauge(
            LAST_RECONCILE,
            releaseseries._HELP[LAST_RECONCILE],
            ["namespace", "name"],
            registry=self.registry,
        )
        self.condition = Gauge(
            CONDITION,
            releaseseries._HELP[CONDITION],
            ["target_namespace", "release_name", "condition"],
            registry=self.registry,
        )
        self.duration = Histogram(
            ACTION_DURATION,
            releaseseries._HELP[ACTION_DURATION],
            ["action", "success", "target_namespace", "release_name"],
            buckets=ACTION_BUCKETS,
            registry=self.registry,
        )

    def apply(self, op: tuple[Any, ...]) -> None:
        match op:
            case ("reconciled", namespace, name, ready, at):
                self.ready.labels(namespace, name).set(ready)
                self.last.labels(namespace, name).set(at)
            case ("action", action, ok, namespace, name, seconds):
                success = "true" if ok else "false"
                self.duration.labels(action, success, namespace, name).observe(seconds)
            case ("conditions", namespace, name, statuses):
                for kind in CONDITION_TYPES:
                    if statuses.get(kind) in CONDITION_VALUES:
                        value = CONDITION_VALUES[statuses[kind]]
                        self.condition.labels(namespace, name, kind).set(value)
                    else:
                        self._remove(self.condition, namespace, name, kind)
            case ("forget_conditions", namespace, name):
                for kind in CONDITION_TYPES:
                    self._remove(self.condition, namespace, name, kind)
            case ("forget_helmrelease", namespace, name):
                self._remove(self.ready, namespace, name)
                self._remove(self.last, namespace, name)
            case ("forget_helmreleases",):
                self.ready.clear()
                self.last.clear()

    @staticmethod
    def _remove(metric: Gauge, *labels: str) -> None:
        try:
            metric.remove(*labels)
        except KeyError:
            pass

    def text(self) -> str:
        return generate_latest(self.registry).decode()


def apply(series: ReleaseSeries, op: tuple[Any, ...]) -> None:
    match op:
        case ("reconciled", namespace, name, ready, at):
            series.reconciled(namespace, name, ready, at)
        case ("action", action, ok, namespace, name, seconds):
            series.action(action, ok, namespace, name, seconds)
        case ("conditions", namespace, name, statuses):
            series.conditions(namespace, name, statuses)
        case ("forget_conditions", namespace, name):
            series.forget_conditions(namespace, name)
        case ("forget_helmrelease", namespace, name):
            series.forget_helmrelease(namespace, name)
        case ("forget_helmreleases",):
            series.forget_helmreleases()


@contextmanager
def parts_of(size: int) -> Iterator[None]:
    kept = releaseseries.CHUNK
    releaseseries.CHUNK = size
    try:
        yield
    finally:
        releaseseries.CHUNK = kept


def rendered(series: ReleaseSeries, names: list[str] | None = None) -> str:
    return "".join(part() for part in releaseseries.render(series.snapshot(), names))


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def samples(text: str) -> Counter[tuple[str, tuple[tuple[str, str], ...], float]]:
    return Counter(
        (s.name, tuple(sorted(s.labels.items())), s.value) for s in Scrape.parse(text).samples
    )


@given(st.lists(OPS, max_size=40), st.integers(1, 5))
def test_the_series_read_as_prometheus_clients_children(
    ops: list[tuple[Any, ...]], size: int
) -> None:
    series, reference = ReleaseSeries(), Reference()
    for op in ops:
        apply(series, op)
        reference.apply(op)
    with parts_of(size):
        text = rendered(series)
    assert comments(text) == comments(reference.text())
    assert samples(text) == samples(reference.text())


def test_name_filter_keeps_the_families_it_names() -> None:
    series = ReleaseSeries()
    series.reconciled("apps", "web", 1, 1.5e9)
    series.action("sync", True, "apps", "apps-web", 0.5)
    series.conditions("apps", "apps-web", {"Released": "True"})
    by_sample = Scrape.parse(rendered(series, [f"{ACTION_DURATION}_count"]))
    assert set(by_sample.types) == {ACTION_DURATION}
    by_family = Scrape.parse(rendered(series, [READY, CONDITION]))
    assert set(by_family.types) == {READY, CONDITION}
    assert by_family.value(CONDITION, condition="Released") == 1.0
    assert rendered(series, ["something_else"]) == ""
