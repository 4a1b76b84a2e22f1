"""Reading the operator's /metrics: the Prometheus text format, parsed by prometheus_client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from controller import metrics


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Scrape:
    """One or more /metrics pages (of several replicas, say): family types and samples."""

    types: Mapping[str, str]
    """Family name -> ``counter``, ``gauge``, ``histogram``..., as each page declares it."""
    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, *pages: str) -> Scrape:
        types = {}
        samples = []
        for page in pages:
            for line in page.splitlines():
                if line.startswith("# TYPE "):
                    _, _, name, kind = line.split(" ", 3)
                    types[name] = kind
            for family in text_string_to_metric_families(page):
                samples += [Sample(s.name, s.labels, float(s.value)) for s in family.samples]
        return cls(types, tuple(samples))

    def value(self, metric: str, /, **labels: str) -> float | None:
        """Sum of the samples ``metric`` whose labels include ``labels``; None if none has."""
        found = [s.value for s in self.samples if s.name == metric and _within(labels, s)]
        return sum(found) if found else None

    def total(self, metric: str, /, **labels: str) -> float:
        """``value``, with 0 when no sample matches (a counter never incremented)."""
        return self.value(metric, **labels) or 0.0

    def series(self, metric: str) -> int:
        """How many label sets ``metric`` has (a per-release gauge: releases seen)."""
        return sum(1 for sample in self.samples if sample.name == metric)


def exposed(*names: str) -> Scrape:
    """This process's own metrics (of the operator's code a test runs in it), as /metrics
    serves them; only the families ``names`` names when given."""
    return Scrape.parse("".join(part() for part in metrics.exposition(names or None)))


def _within(labels: Mapping[str, str], sample: Sample) -> bool:
    return labels.items() <= sample.labels.items()
