"""Parsing index.yaml into what resolution needs: versions sorted highest first, invalid
entries skipped like Helm does, digests normalised, broken documents reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.charts.index import IndexEntry, RepoIndex, parse_index, resolve


def test_parses_the_test_repository(charts_dir: Path) -> None:
    index = parse_index((charts_dir / "index.yaml").read_bytes())

    assert isinstance(index, RepoIndex)
    assert set(index.charts) == {"podinfo", "prometheus", "sealed-secrets", "velero"}
    assert [e.version for e in index.charts["podinfo"]] == ["6.14.1", "6.11.2", "6.7.1"]
    first = index.charts["podinfo"][0]
    assert first.urls == ("podinfo-6.14.1.tgz",)
    assert first.digest is not None
    assert len(first.digest) == 64


def test_skips_unusable_entries_and_sorts() -> None:
    document = b"""
apiVersion: v1
entries:
  demo:
    - {version: 1.2.0, urls: [a.tgz], digest: "SHA256:ABCDEF"}
    - {version: not-a-version, urls: [b.tgz]}
    - {version: 1.10.0, urls: [c.tgz]}
    - {version: 2.0.0}
    - {version: 3.0.0, urls: []}
    - {urls: [d.tgz]}
    - just a string
    - {version: 1.0, urls: [e.tgz]}
  empty:
"""
    index = parse_index(document)

    assert isinstance(index, RepoIndex)
    assert index.charts["demo"] == (
        IndexEntry("1.10.0", ("c.tgz",), None),
        IndexEntry("1.2.0", ("a.tgz",), "abcdef"),
    )
    assert index.charts["empty"] == ()


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (b"entries: [unclosed\n", "not valid YAML at line 2"),
        (b"entries: {}\n", "no apiVersion"),
        (b"- a list\n", "no apiVersion"),
        (b"apiVersion: v1\nentries: [1, 2]\n", "entries is not a mapping"),
    ],
)
def test_reports_invalid_documents(document: bytes, problem: str) -> None:
    assert parse_index(document) == problem


def test_resolve_explains_what_is_available() -> None:
    entries = tuple(IndexEntry(f"1.{n}.0", ("x.tgz",), None) for n in range(7, 0, -1))
    index = RepoIndex({"demo": entries})

    error = resolve(index, "https://charts.example/stable", "demo", ">=2")

    assert not isinstance(error, IndexEntry)
    assert error.reason == "VersionNotFound"
    assert "1.7.0, 1.6.0, 1.5.0, 1.4.0, 1.3.0, ..." in error.message
    assert "https://charts.example/stable" in error.message


def test_quoted_and_plain_scalars_are_read_as_yaml_types_them() -> None:
    document = b"""
apiVersion: v1
entries:
  demo:
    - version: "2.0.0"
      urls: ["a.tgz", ~, 7]
      digest: ~
    - version: !!str 1.5.0
      urls: [b.tgz]
    - version: 3
      urls: [c.tgz]
  ? [not, a, name]
  : - {version: 9.9.9, urls: [z.tgz]}
generated: 2024-01-01T00:00:00Z
"""
    index = parse_index(document)

    assert isinstance(index, RepoIndex)
    assert index.charts == {
        "demo": (IndexEntry("2.0.0", ("a.tgz",), None), IndexEntry("1.5.0", ("b.tgz",), None))
    }


def test_a_large_index_keeps_only_what_resolution_needs() -> None:
    entry = """  - name: chart-{n}
    description: {filler}
    digest: {digest}
    urls: [chart-{n}-1.0.{v}.tgz]
    version: 1.0.{v}
    maintainers: [{{name: someone, email: someone@example.com}}]
"""
    filler = "words " * 40
    parts = ["apiVersion: v1\nentries:\n"]
    for n in range(200):
        parts.append(f"  chart-{n}:\n")
        parts.extend(
            entry.format(n=n, v=v, filler=filler, digest=f"{n * 100 + v:064x}") for v in range(50)
        )
    index = parse_index("".join(parts).encode())

    assert isinstance(index, RepoIndex)
    assert len(index.charts) == 200
    assert index.charts["chart-7"][0] == IndexEntry(
        "1.0.49", ("chart-7-1.0.49.tgz",), f"{7 * 100 + 49:064x}"
    )
