"""The per-release series of /metrics: kept compactly, written out in one pass.

Four families carry series per HelmRelease: ``helmrelease_release_ready`` and
``helmrelease_release_last_reconcile_timestamp_seconds`` by HelmRelease (namespace, name),
helm-operator's ``flux_helm_operator_release_condition_info`` and
``flux_helm_operator_release_action_duration_seconds`` (a histogram) by helm release
(target namespace, release name). As prometheus_client children (an object and a lock
per value, a child per label set) they cost some 8 KB per release, and rendering 20,000
releases took 3 s of CPU. Here a release is one small object holding its label text and
its numbers, and a scrape writes each line with one format. The text is what
prometheus_client writes for the same series: HELP, TYPE, then the series in the order
they were first set, its number format, histogram buckets then ``_count`` and ``_sum``.

The event loop changes the series; a scrape takes a snapshot of them on the loop (a copy
of references, a millisecond per 100,000) and renders it in a thread.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from prometheus_client import utils

READY = "helmrelease_release_ready"
LAST_RECONCILE = "helmrelease_release_last_reconcile_timestamp_seconds"
CONDITION = "flux_helm_operator_release_condition_info"
ACTION_DURATION = "flux_helm_operator_release_action_duration_seconds"
ACTION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 1800.0)
"""helm-operator's buckets of the action duration histogram (+Inf follows)."""
CONDITION_TYPES = ("ChartFetched", "Deployed", "Released", "RolledBack", "Tested")
"""The condition types helm-operator reported (and ``release_condition_info`` carries)."""
CONDITION_VALUES = {"True": 1.0, "Unknown": 0.0, "False": -1.0}

CHUNK = 2000
"""Releases per part of a rendered exposition."""
_HELP = {
    READY: "Ready condition of each HelmRelease: 1 True, 0 Unknown, -1 False.",
    LAST_RECONCILE: "Unix time of the last finished reconcile of each HelmRelease.",
    CONDITION: "Release condition status: 1 True, 0 Unknown, -1 False.",
    ACTION_DURATION: (
        "Duration of release sync actions in seconds (sync, install, upgrade, rollback, uninstall)."
    ),
}
FAMILIES = tuple(_HELP)
_float = cast(Callable[[float], str], utils.floatToGoString)
"""A number as prometheus_client (and Go) writes it: 1.0, 1.5e+09, +Inf."""
_LE = [f'le="{_float(bound)}"' for bound in (*ACTION_BUCKETS, float("inf"))]


class _HelmRelease:
    """The series of one HelmRelease."""

    __slots__ = ("labels", "last_reconcile", "ready")

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.ready: float | None = None
        self.last_reconcile: float | None = None


class _Histogram:
    """One action's durations: the count per bucket (not cumulative; +Inf last), the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(ACTION_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(ACTION_BUCKETS, seconds)] += 1
        self.total += seconds


class _Release:
    """The series of one helm release: its conditions (by CONDITION_TYPES, None when
    absent) and its action durations by (action, success)."""

    __slots__ = ("actions", "conditions", "labels")

    def __init__(self, labels: str) -> None:
        self.labels = labels
        self.conditions: tuple[float | None, ...] = (None,) * len(CONDITION_TYPES)
        self.actions: dict[tuple[str, str], _Histogram] = {}


@dataclass(frozen=True)
class Snapshot:
    """The series at one moment, to render away from the loop."""

    helmreleases: list[_HelmRelease]
    releases: list[_Release]


class ReleaseSeries:
    """Every per-release series of this process."""

    def __init__(self) -> None:
        self._helmreleases: dict[tuple[str, str], _HelmRelease] = {}
        self._releases: dict[tuple[str, str], _Release] = {}

    # --- by HelmRelease ------------------------------------------------------------------

    def reconciled(self, namespace: str, name: str, ready: float, at: float) -> None:
        """A reconcile of the HelmRelease ended at ``at`` (Unix time), Ready as ``ready``."""
        series = self._helmreleases.get((namespace, name))
        if series is None:
            labels = _labels(("namespace", namespace), ("name", name))
            series = self._helmreleases[(namespace, name)] = _HelmRelease(labels)
        series.ready, series.last_reconcile = ready, at

    def forget_helmrelease(self, namespace: str, name: str) -> None:
        self._helmreleases.pop((namespace, name), None)

    def forget_helmreleases(self) -> None:
        """A former leader must not keep exporting stale per-release state."""
        self._helmreleases.clear()

    # --- by helm release -----------------------------------------------------------------

    def action(self, action: str, ok: bool, namespace: str, name: str, seconds: float) -> None:
        """One release action as helm-operator counted it (``success`` "true"/"false")."""
        actions = self._release(namespace, name).actions
        key = (action, "true" if ok else "false")
        histogram = actions.get(key)
        if histogram is None:
            histogram = actions[key] = _Histogram()
        histogram.observe(seconds)

    def conditions(self, namespace: str, name: str, statuses: Mapping[str, str]) -> None:
        """The release's conditions' statuses (by type); types it no longer has go."""
        self._release(namespace, name).conditions = tuple(
            CONDITION_VALUES.get(statuses.get(kind, "")) for kind in CONDITION_TYPES
        )

    def forget_conditions(self, namespace: str, name: str) -> None:
        series = self._releases.get((namespace, name))
        if series is not None:
            series.conditions = (None,) * len(CONDITION_TYPES)

    def _release(self, namespace: str, name: str) -> _Release:
        series = self._releases.get((namespace, name))
        if series is None:
            labels = _labels(("target_namespace", namespace), ("release_name", name))
            series = self._releases[(namespace, name)] = _Release(labels)
        return series

    # --- exposition ----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """On the event loop: the series to render."""
        return Snapshot(list(self._helmreleases.values()), list(self._releases.values()))


Part = Callable[[], str]
"""A piece of the exposition, rendered away from the loop."""


def render(snapshot: Snapshot, names: Collection[str] | None = None) -> list[Part]:
    """The text exposition (format 0.0.4) of the families ``names`` asks for (their names
    or any of their sample names; all when None), in parts of at most CHUNK releases, so
    that a scrape of 100,000 releases is written out as it is rendered, never held whole."""
    wanted: list[tuple[str, str, Callable[[list[str], Any], None], list[Any]]] = [
        (READY, "gauge", _ready, snapshot.helmreleases),
        (LAST_RECONCILE, "gauge", _last_reconcile, snapshot.helmreleases),
        (CONDITION, "gauge", _conditions, snapshot.releases),
        (ACTION_DURATION, "histogram", _durations, snapshot.releases),
    ]
    parts: list[Part] = []
    for family, kind, write, series in wanted:
        if not _wanted(family, kind, names):
            continue
        parts.append(functools.partial(_header, family, kind))
        for start in range(0, len(series), CHUNK):
            parts.append(functools.partial(_lines, write, series[start : start + CHUNK]))
    return parts


def _lines(write: Callable[[list[str], Any], None], series: list[Any]) -> str:
    out: list[str] = []
    for one in series:
        write(out, one)
    return "".join(out)


def _ready(out: list[str], series: _HelmRelease) -> None:
    if series.ready is not None:
        out.append(f"{READY}{{{series.labels}}} {_float(series.ready)}\n")


def _last_reconcile(out: list[str], series: _HelmRelease) -> None:
    if series.last_reconcile is not None:
        out.append(f"{LAST_RECONCILE}{{{series.labels}}} {_float(series.last_reconcile)}\n")


def _conditions(out: list[str], release: _Release) -> None:
    for kind, value in zip(CONDITION_TYPES, release.conditions, strict=True):
        if value is not None:
            out.append(f'{CONDITION}{{{release.labels},condition="{kind}"}} {_float(value)}\n')


def _durations(out: list[str], release: _Release) -> None:
    for (action, success), histogram in list(release.actions.items()):
        labels = f'action="{_escape(action)}",success="{success}",{release.labels}'
        cumulative = 0
        for le, count in zip(_LE, histogram.counts, strict=True):
            cumulative += count
            out.append(f"{ACTION_DURATION}_bucket{{{labels},{le}}} {_float(cumulative)}\n")
        out.append(f"{ACTION_DURATION}_count{{{labels}}} {_float(cumulative)}\n")
        out.append(f"{ACTION_DURATION}_sum{{{labels}}} {_float(histogram.total)}\n")


def _wanted(family: str, kind: str, names: Collection[str] | None) -> bool:
    if names is None:
        return True
    suffixes = ("_bucket", "_count", "_sum") if kind == "histogram" else ()
    return family in names or any(family + suffix in names for suffix in suffixes)


def _header(family: str, kind: str) -> str:
    text = _HELP[family].replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {family} {text}\n# TYPE {family} {kind}\n"


def _labels(*pairs: tuple[str, str]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value
